"""Both runtimes for real: a private registry, the sample image, pulls, runs and kills, each run
confined to a job uid of its own by the process manager as in production."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from prominence.contract.sandbox import Sandbox
from prominence.operators.handover import take_identity
from prominence.runtimes import ImagePullError, PreparedRun, RunSpec, Runtime, execution
from prominence.runtimes.apptainer import ApptainerRuntime
from prominence.runtimes.confine import SharedNetwork
from prominence.runtimes.identity import JobIdentity, UidPool
from prominence.runtimes.process import ProcessManager
from prominence.runtimes.registry import write_registry_config
from prominence.runtimes.udocker import UdockerRuntime

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = ["singularity", "udocker"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `docker-registry` of our own on a free loopback port, stopped with its process group."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (scripts/install-system.sh)")
    root = tmp_path_factory.mktemp("registry")
    addr = f"127.0.0.1:{_free_port()}"
    write_registry_config(root / "config.yml", root / "data", addr)
    with (root / "registry.log").open("w") as log:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(root / "config.yml")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://{addr}/v2/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((root / "registry.log").read_text()) from None
                time.sleep(0.05)
        yield addr
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def image(registry: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = subprocess.run(
        [str(REPO / "scripts" / "sample-image.sh"), registry, str(tmp_path_factory.mktemp("image"))],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def runtimes(registry: str, reachable_tmp: Path) -> Iterator[dict[str, Runtime]]:
    """Fresh runtime instances with the test registry as the only insecure one."""
    # Settings read after the fixture set this test's environment.
    from prominence.config import get_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("PROMINENCE_INSECURE_REGISTRIES", registry)
    get_settings.cache_clear()
    found: dict[str, Runtime] = {
        "singularity": ApptainerRuntime(),
        "udocker": UdockerRuntime(udocker_dir=reachable_tmp / "udocker"),
    }
    try:
        yield found
    finally:
        mp.undo()
        get_settings.cache_clear()


@pytest.fixture
def sandbox(reachable_tmp: Path, request: pytest.FixtureRequest) -> Path:
    """A job's sandbox that the job's uid can reach."""
    root = reachable_tmp / "sandboxes" / re.sub(r"\W", "_", request.node.name)
    root.parent.mkdir(mode=0o711, exist_ok=True)
    Sandbox(root).create({"tasks": []}, "job-token")
    return root


@pytest.fixture
def identity(sandbox: Path, reachable_tmp: Path) -> JobIdentity:
    pool = UidPool(reachable_tmp / "uids", range(265400, 265500), lambda owner: True)
    return take_identity(Sandbox(sandbox), pool)


def _runtime(runtimes: dict[str, Runtime], name: str) -> Runtime:
    runtime = runtimes[name]
    try:
        runtime.version()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"{name} is not usable here: {exc}")
    return runtime


def _spec(
    prepared: PreparedRun, sandbox: Path, identity: JobIdentity, cmd, env=None, workdir="/home/user", memory_mb=None
) -> RunSpec:
    return RunSpec(
        image=prepared,
        command=cmd,
        env=env or {},
        workdir=workdir,
        home=sandbox / "userhome",
        tmp=sandbox / "usertmp",
        stdout=sandbox / "stdout",
        stderr=sandbox / "stderr",
        usage=sandbox / "usage",
        walltime_seconds=60,
        identity=identity,
        scratch=Sandbox(sandbox).scratch,
        memory_mb=memory_mb,
    )


def _run(runtime: Runtime, prepared, sandbox: Path, identity, cmd, env=None, workdir="/home/user", memory_mb=None):
    """The run's exit code and what it wrote (each run's output alone)."""
    for stream in ("stdout", "stderr"):
        (sandbox / stream).write_bytes(b"")
    result = ProcessManager(runtime, _spec(prepared, sandbox, identity, cmd, env, workdir, memory_mb)).run()
    out, err = ((sandbox / stream).read_text() for stream in ("stdout", "stderr"))
    return subprocess.CompletedProcess(cmd, result.exit_code, out, err)


@pytest.mark.parametrize("name", RUNTIMES)
def test_pull_and_run(runtimes, name: str, image: str, sandbox: Path, identity: JobIdentity) -> None:
    runtime = _runtime(runtimes, name)
    pulled = runtime.pull(image, sandbox, identity)
    assert pulled.status == "completed" and pulled.seconds > 0
    assert pulled.sha256 and len(pulled.sha256) == 64
    try:
        assert runtime.pull(image, sandbox, identity).status == "cached"

        result = _run(runtime, pulled, sandbox, identity, ("echo", "hello"))
        assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr

        assert _run(runtime, pulled, sandbox, identity, ("sh", "-c", "exit 3")).returncode == 3

        # The job's uid, no other group; its own PID namespace: no process of the host, only its own.
        result = _run(runtime, pulled, sandbox, identity, ("sh", "-c", "id -u; id -G; ps -o user | sort -u"))
        uid, groups, *users = result.stdout.split()
        assert (uid, groups) == (str(identity.uid), str(identity.gid)), result.stderr
        assert users == ["USER", identity.name[:8]]

        (sandbox / "userhome" / "work").mkdir()
        script = 'echo "$FOO|$HOME|$TMPDIR|$PROMINENCE_CONTAINER_RUNTIME|$PROMINENCE_JOB_ID|$(pwd)"; touch /tmp/t'
        env = {"FOO": "bar baz", "HOME": "/nope", "PROMINENCE_JOB_ID": "7"}
        result = _run(runtime, pulled, sandbox, identity, ("sh", "-c", script), env, "/home/user/work")
        assert result.stdout == f"bar baz|/home/user|/tmp|{name}|7|/home/user/work\n", result.stderr
        assert (sandbox / "usertmp" / "t").exists()

        result = _run(runtime, pulled, sandbox, identity, None)
        assert result.returncode == 0, result.stderr
    finally:
        runtime.cleanup(pulled)


@pytest.mark.parametrize("name", RUNTIMES)
def test_a_run_over_its_memory_is_killed(runtimes, name: str, image: str, sandbox: Path, identity) -> None:
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("no memory cgroup here")
    runtime = _runtime(runtimes, name)
    pulled = runtime.pull(image, sandbox, identity)
    try:
        grow = "head -c 30m /dev/zero | tail > /dev/null; echo $?; head -c 300m /dev/zero | tail > /dev/null; echo $?"
        result = _run(runtime, pulled, sandbox, identity, ("sh", "-c", grow), memory_mb=100)
        assert result.stdout.split() == ["0", "137"], result.stderr
    finally:
        runtime.cleanup(pulled)


@pytest.mark.parametrize("name", RUNTIMES)
def test_missing_image_fails_fast(runtimes, name: str, registry: str, image: str, sandbox: Path, identity) -> None:
    runtime = _runtime(runtimes, name)
    started = time.monotonic()
    with pytest.raises(ImagePullError, match="(?i)manifest|no files"):
        runtime.pull(f"{registry}/prominence/missing:latest", sandbox, identity)
    # At the registry's first answer, not after a loop of retries with back-off (seconds each);
    # the bound is loose because this machine's speed varies (0.21 s seen on a slow afternoon).
    assert time.monotonic() - started < 5
    assert not any((sandbox / "images").glob("*/*"))


@pytest.mark.parametrize("name", RUNTIMES)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_process_group_stops_the_container(
    runtimes, name: str, sig: signal.Signals, image: str, sandbox: Path, identity: JobIdentity
) -> None:
    runtime = _runtime(runtimes, name)
    pulled = runtime.pull(image, sandbox, identity)
    marker = f"sleep {600 + sig}"
    manager = ProcessManager(runtime, _spec(pulled, sandbox, identity, ("sh", "-c", marker)))
    manager.start()
    try:
        deadline = time.monotonic() + 10
        while not _processes(marker):
            assert time.monotonic() < deadline, "the container's command never started"
            time.sleep(0.05)
        os.killpg(manager.pid, sig)
        manager.wait()
        deadline = time.monotonic() + 5
        while _processes(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes(marker) == []
    finally:
        if _processes(marker):
            os.killpg(manager.pid, signal.SIGKILL)
        runtime.cleanup(pulled)


def test_apptainer_mounts_the_sif_rather_than_unpacking_it(runtimes, image: str, sandbox: Path, identity) -> None:
    """As the job's uid apptainer mounts the image with squashfuse: unpacking it (unsquashfs)
    into the sandbox at every start cost 0.2 s of CPU per task."""
    if shutil.which("squashfuse_ll") is None:
        pytest.skip("squashfuse is not installed (scripts/install-system.sh)")
    runtime = _runtime(runtimes, "singularity")
    pulled = runtime.pull(image, sandbox, identity)
    manager = ProcessManager(runtime, _spec(pulled, sandbox, identity, ("sleep", "60")))
    manager.start()
    try:
        deadline = time.monotonic() + 10
        while "sleep" not in _descendants(manager.pid):
            assert time.monotonic() < deadline, (sandbox / "stderr").read_text()
            time.sleep(0.05)
        # The image's file system is served by squashfuse, a process of the run's own.
        assert "squashfuse_ll" in _descendants(manager.pid), _descendants(manager.pid)
    finally:
        os.killpg(manager.pid, signal.SIGKILL)
        manager.wait()
        runtime.cleanup(pulled)


@pytest.mark.parametrize("name", RUNTIMES)
def test_a_run_beside_another_serves_it_on_localhost_in_namespaces_of_its_own(
    runtimes, name: str, image: str, sandbox: Path, identity: JobIdentity
) -> None:
    """A job's sidecar joins its task's network namespace (nothing else): what it serves on
    127.0.0.1 the task reaches, while its processes stay out of the task's sight."""
    runtime = _runtime(runtimes, name)
    pulled = runtime.pull(image, sandbox, identity)
    serve = "mkdir -p www; echo side-ok > www/index.html; exec httpd -f -p 127.0.0.1:8099 -h www"
    fetch = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8099/ && break; sleep 1; done"
    sidecars: list[ProcessManager] = []

    def beside(network) -> None:
        assert network is not None, "a confined run has a network namespace to share"
        spec = replace(_spec(pulled, sandbox, identity, ("sh", "-c", serve)), usage=sandbox / "usage-side", network=network)
        sidecars.append(ProcessManager(runtime, spec))
        sidecars[0].start_afresh()

    for stream in ("stdout", "stderr"):
        (sandbox / stream).write_bytes(b"")
    try:
        task = ProcessManager(
            runtime, _spec(pulled, sandbox, identity, ("sh", "-c", f"{fetch}; ps -o comm | grep -c httpd || true"))
        )
        result = task.run(beside)
        assert (result.exit_code, (sandbox / "stdout").read_text()) == (0, "side-ok\n0\n"), (sandbox / "stderr").read_text()
    finally:
        for sidecar in sidecars:
            sidecar.kill()
            sidecar.wait()
        runtime.cleanup(pulled)


def test_a_run_not_in_the_network_namespace_it_was_to_join_is_refused(
    runtimes, image: str, sandbox: Path, identity: JobIdentity
) -> None:
    """The namespace's process ended and its pid went to another (here: this one, on the host's
    network) before nsenter ran: the run is killed before its command starts."""
    runtime = _runtime(runtimes, "singularity")
    pulled = runtime.pull(image, sandbox, identity)
    gone = SharedNetwork(os.getpid(), "net:[1]")
    manager = ProcessManager(runtime, replace(_spec(pulled, sandbox, identity, ("echo", "ran")), network=gone))
    try:
        with pytest.raises(RuntimeError, match="not in the network namespace"):
            manager.start()
        assert not execution.running(manager.execution.record())
        assert "ran" not in (sandbox / "stdout").read_text()
    finally:
        runtime.cleanup(pulled)


def _descendants(pid: int) -> list[str]:
    """The names of the processes below `pid`."""
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in table.splitlines()]
    found, below = [], {pid}
    for _ in range(len(rows)):
        for child, parent, name in rows:
            if int(parent) in below and int(child) not in below:
                below.add(int(child))
                found.append(name)
    return found


def _processes(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return out.stdout.split()
