"""The `kubernetes` runtime: each task's container is a pod of its own, created, followed and
deleted through the cncf-kubernetes provider's `PodManager` (the Kubernetes client's models
describe the pod).

The job's working area is the same shared filesystem the other runtimes use, here a
ReadWriteMany PersistentVolumeClaim (`PROMINENCE_KUBERNETES_CLAIM`) holding the sandboxes: the
pod mounts the job's home and tmp from it by sub-path. The job's token travels as a Secret of
the pod's own, mounted as a file and exposed as PROMINENCE_TOKEN, never as a literal in the pod
spec. The kubelet pulls the image, so there is no pull step here. Kubernetes serves a container's
stdout and stderr as one stream: both land in the job's stdout.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import jwt
from airflow.providers.cncf.kubernetes.kube_client import get_kube_client
from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager
from kubernetes import client as kube
from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException

from prominence.config import get_settings
from prominence.runtimes.base import CONTAINER_HOME, CONTAINER_TMP, PullResult, Runtime, container_env
from prominence.runtimes.process import Beside, RunResult
from prominence.runtimes.spec import PreparedRun, RunSpec

log = logging.getLogger(__name__)

CONTAINER = "task"
TOKEN_DIR = "/var/run/secrets/prominence"
TOKEN_KEY = "token"
LABEL = "prominence.io/"
WORKAREA = "workarea"
# Exit code of a container the kubelet killed (SIGKILL) without recording one.
KILLED = -9


class KubernetesRuntime(Runtime):
    """Runs tasks as pods in PROMINENCE_KUBERNETES_NAMESPACE."""

    name = "kubernetes"

    def __init__(self, api: kube.CoreV1Api | None = None) -> None:
        self._api = api
        self._version: str | None = None

    @property
    def api(self) -> kube.CoreV1Api:
        """The client for the cluster, from Airflow's [kubernetes_executor] settings (in-cluster or a
        kubeconfig) unless one was given."""
        if self._api is None:
            self._api = get_kube_client()
        return self._api

    def pull(self, image: str, sandbox: Path, identity=None, source=None) -> PullResult:
        """Nothing to pull on the worker: the kubelet pulls the image (registry names only) when
        the pod starts."""
        return PullResult(runtime=self.name, image=image, target=image, status="completed", seconds=0.0, sha256=None)

    def command_line(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError("a pod has no command line on the worker: see manager()")

    def manager(self, spec: RunSpec, logger: logging.Logger | None = None) -> PodRun:
        return PodRun(self, spec, logger)

    def version(self) -> str:
        if self._version is None:
            info = kube.VersionApi(self.api.api_client).get_code()
            self._version = f"kubernetes {info.git_version}"
        return self._version

    def cleanup(self, prepared: PreparedRun) -> None:
        """A pod leaves nothing on the worker; PodRun deletes the pod and its Secret."""


def label_value(value: str) -> str:
    """A label value (63 characters of [A-Za-z0-9._-], alphanumeric at both ends) naming `value`."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value)[:63]
    return cleaned.strip("._-") or "none"


def job_identity(spec: RunSpec) -> dict[str, str]:
    """Who and what the pod runs for: the job's owner (from its token's claims, which this worker
    issued; used for labels only), id, uuid (the sandbox's name) and task number."""
    token = spec.env.get("PROMINENCE_TOKEN", "")
    claims = jwt.decode(token, options={"verify_signature": False}) if token else {}
    return {
        "user": str(claims.get("username", "")),
        "job-id": spec.env.get("PROMINENCE_JOB_ID", ""),
        "job-uuid": spec.home.parent.name,
        "task": spec.env.get("PROMINENCE_TASK_NUM", "0"),
    }


def pod_name(identity: Mapping[str, str]) -> str:
    return f"prominence-{identity['job-id']}-{identity['task']}-{int(time.time() * 1000) % 10**8}"


def resources(spec: RunSpec) -> k8s.V1ResourceRequirements:
    """The job's cpus, memory (1000 MB per GB, as the other runtimes) and disk (ephemeral storage),
    requested and limited alike so that the scheduler places the pod where it fits."""
    amounts = {"cpu": str(spec.cpus)}
    if spec.memory_mb:
        amounts["memory"] = f"{spec.memory_mb}M"
    if spec.disk_gb:
        amounts["ephemeral-storage"] = f"{spec.disk_gb}G"
    return k8s.V1ResourceRequirements(requests=dict(amounts), limits=dict(amounts))


def token_secret(name: str, namespace: str, labels: Mapping[str, str], token: str) -> k8s.V1Secret:
    return k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, labels=dict(labels)),
        type="Opaque",
        string_data={TOKEN_KEY: token},
    )


def build_pod(spec: RunSpec, name: str, secret: str) -> k8s.V1Pod:
    """The pod of one task run: everything it needs comes from `spec` and the settings."""
    settings = get_settings()
    identity = job_identity(spec)
    labels = {LABEL + key: label_value(value) for key, value in identity.items()}
    root = settings.sandboxes
    env = [k8s.V1EnvVar(name=k, value=v) for k, v in container_env(spec, "kubernetes").items() if k != "PROMINENCE_TOKEN"]
    env.append(
        k8s.V1EnvVar(
            name="PROMINENCE_TOKEN",
            value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=TOKEN_KEY)),
        )
    )
    mounts = [
        k8s.V1VolumeMount(name=WORKAREA, mount_path=CONTAINER_HOME, sub_path=str(spec.home.relative_to(root))),
        k8s.V1VolumeMount(name=WORKAREA, mount_path=CONTAINER_TMP, sub_path=str(spec.tmp.relative_to(root))),
        k8s.V1VolumeMount(name="token", mount_path=TOKEN_DIR, read_only=True),
    ]
    mounts += [
        k8s.V1VolumeMount(name=WORKAREA, mount_path=target, sub_path=str(Path(source).relative_to(root)), read_only=True)
        for source, target in spec.binds
    ]
    container = k8s.V1Container(
        name=CONTAINER,
        image=spec.image.image,
        command=list(spec.command) if spec.command else None,
        env=env,
        working_dir=spec.workdir,
        resources=resources(spec),
        volume_mounts=mounts,
        security_context=k8s.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=settings.kubernetes_uid,
            allow_privilege_escalation=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
    )
    return k8s.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=k8s.V1ObjectMeta(
            name=name,
            namespace=settings.kubernetes_namespace,
            labels=labels,
            annotations={LABEL + "user": identity["user"]},
        ),
        spec=k8s.V1PodSpec(
            restart_policy="Never",
            active_deadline_seconds=max(math.ceil(spec.walltime_seconds), 1),
            automount_service_account_token=False,
            containers=[container],
            volumes=[
                k8s.V1Volume(
                    name=WORKAREA,
                    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=settings.kubernetes_claim),
                ),
                k8s.V1Volume(name="token", secret=k8s.V1SecretVolumeSource(secret_name=secret, default_mode=0o400)),
            ],
        ),
    )


class PodRun:
    """One `RunSpec` as a pod: the counterpart of `process.ProcessManager` (run, kill)."""

    def __init__(self, runtime: KubernetesRuntime, spec: RunSpec, logger: logging.Logger | None = None) -> None:
        self.runtime = runtime
        self.spec = spec
        self.log = logger or log
        self.manager = PodManager(kube_client=runtime.api)
        identity = job_identity(spec)
        self.name = pod_name(identity)
        self.pod = build_pod(spec, self.name, secret=f"{self.name}-token")
        self._started = 0.0

    def run(self, beside: Beside | None = None) -> RunResult:
        """`beside` (the job's sidecars, pods of their own: no namespace shared) starts first."""
        if beside is not None:
            beside(None)
        self.start()
        try:
            return self.wait()
        finally:
            self.delete()

    def start_afresh(self) -> None:
        """A pod is never re-attached to: a sidecar's pod is simply started."""
        self.start()

    def start(self) -> None:
        """The Secret first (the pod refers to it), then the pod."""
        namespace = self.pod.metadata.namespace
        secret = token_secret(
            f"{self.name}-token", namespace, self.pod.metadata.labels, self.spec.env.get("PROMINENCE_TOKEN", "")
        )
        self.runtime.api.create_namespaced_secret(namespace=namespace, body=secret)
        self.log.info("Creating pod %s/%s for %s", namespace, self.name, self.spec.image.image)
        self._started = time.monotonic()
        self.manager.create_pod(self.pod)

    def wait(self) -> RunResult:
        """Follow the container's output into the job's stdout until it ends, then read how it ended."""
        started = self._follow_logs()
        wall = time.monotonic() - self._started
        if not started:
            return RunResult(KILLED, round(wall, 3), 0.0, 0, timed_out=wall >= self.spec.walltime_seconds)
        try:
            remote = self.manager.await_pod_completion(self.pod, container_name=CONTAINER)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return RunResult(KILLED, round(time.monotonic() - self._started, 3), 0.0, 0, timed_out=False)
        wall = time.monotonic() - self._started
        timed_out = (remote.status.reason or "") == "DeadlineExceeded"
        return RunResult(exit_code_of(remote), round(wall, 3), 0.0, 0, timed_out)

    def _follow_logs(self) -> bool:
        """Once the pod has started, until its container ends; False if it never started: a pod that
        cannot start within the walltime left is deleted (its deadline runs only once started)."""
        deadline = self._started + self.spec.walltime_seconds
        while True:
            try:
                status = self.manager.read_pod(self.pod).status
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return False  # deleted meanwhile: the job was
            if status is not None and status.phase not in (None, "Pending"):
                break
            if time.monotonic() > deadline:
                self.delete()
                return False
            time.sleep(1)
        with self.spec.stdout.open("ab") as out:
            for chunk in self.manager.read_pod_logs(self.pod, CONTAINER, follow=True):
                out.write(chunk)
                out.flush()
        return True

    def kill(self) -> None:
        """Delete the pod (and its Secret) now, from another thread: this runs in a signal handler."""
        threading.Thread(target=self.delete, name=f"delete-{self.name}", daemon=True).start()

    def detach(self) -> None:
        """A pod is not re-attached to by a later try yet (issue 12 item 1 covers process runs):
        the task stopping stops its pod."""
        self.kill()

    def delete(self) -> None:
        self.manager.delete_pod(self.pod)
        try:
            self.runtime.api.delete_namespaced_secret(f"{self.name}-token", self.pod.metadata.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise


def exit_code_of(pod: k8s.V1Pod) -> int:
    """The task container's exit code; KILLED when it was stopped without one (deadline, deletion)."""
    for status in pod.status.container_statuses or []:
        if status.name == CONTAINER and status.state and status.state.terminated:
            return status.state.terminated.exit_code
    return KILLED
