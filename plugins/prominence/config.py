"""Settings read from the environment, so every component (api-server, scheduler, tasks) agrees."""

from __future__ import annotations

import ipaddress
import os
import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """PROMINENCE settings; each field is the env var `PROMINENCE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="PROMINENCE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.cwd() / ".prominence")
    url_prefix: str = "/prominence/v1"
    # Base URL of the API as seen by clients and by jobs (PROMINENCE_URL inside containers).
    public_url: str = "http://127.0.0.1:8080/prominence/v1"
    # Database of our tables: by default Airflow's, or a file beside it when that is SQLite.
    store_url: str | None = None
    # The key our tokens are signed with: no default, `stack.py up` generates one (secrets.env).
    job_token_secret: SecretStr | None = None
    job_dag_id: str = "prominence_job"
    default_disk_gb: int = 10
    default_walltime_minutes: int = 720
    max_body_bytes: int = 1024 * 1024
    # A job's stdout and stderr: stored up to this many bytes each, then cut with a marker line.
    max_log_bytes: int = 100 * 1024 * 1024
    # Bytes of a task's container output also copied into its Airflow task log (runtimes/follow.py).
    task_log_bytes: int = 1024 * 1024
    # The most one stdout/stderr request answers (clients read on from `offset`); streamed.
    max_log_read_bytes: int = 16 * 1024 * 1024
    # Sandboxes of ended jobs and workflows are deleted this long after they ended.
    sandbox_retention_hours: float = 168
    # Caps on one request's size, checked at validation (a workflow's members from factory sizes).
    max_tasks_per_job: int = 100
    max_workflow_jobs: int = 1000
    max_workflow_members: int = 1_000_000
    # Networks stage-in may download from although they are not public (CIDRs, comma-separated):
    # by default only public addresses are fetched (docs/security.md).
    stagein_allowed_networks: str = ""
    worker_cpus: int = Field(default_factory=lambda: os.cpu_count() or 1)
    # GB of memory jobs may hold at once on the pool (docs/scheduling.md): the machine's by default.
    worker_memory_gb: float = Field(default_factory=lambda: _machine_memory_gb())
    # Fair share (docs/scheduling.md): a user's past cpu-seconds count half as much after this long.
    fairshare_half_life: float = 86400.0
    # Per-user quotas, 0 meaning none: jobs in the queue, cpus of running jobs, bytes of stored data.
    quota_jobs_queued: int = 0
    quota_cpus_running: int = 0
    quota_data_bytes: int = 0
    pool: str = "prominence"
    # Seconds the LocalExecutor has nothing to run before its workers go, one fresh fork staying.
    idle_worker_seconds: float = 30.0
    # Reported as execution.site.
    site: str = Field(default_factory=socket.gethostname)
    use_pending_state: bool = False
    # Spec §6.8-6.9: commands and snapshots in a running job's namespaces, as the job's uid.
    enable_exec: bool = True
    enable_snapshots: bool = True
    # How long an `exec` command or a snapshot's tar may run (seconds, spec EXEC_TIMEOUT).
    exec_timeout: float = 10.0
    # What the api-server keeps of a command's output (longer output is cut, marked) and the
    # largest snapshot it uploads (larger: 400): both pass through its machine.
    exec_output_bytes: int = 1024 * 1024
    snapshot_bytes: int = 1024**3
    enable_kv: bool = True
    # Largest value the key-value store keeps (spec §11 KV_MAX_BYTES).
    kv_max_bytes: int = 16000
    # Registries the runtimes reach over plain HTTP (host:port, comma-separated); never global.
    insecure_registries: str = "127.0.0.1:5000"
    # The runtime of every task when set (e.g. `kubernetes` on a cluster without apptainer).
    runtime: str | None = None
    # The kubernetes runtime: where pods run, the ReadWriteMany claim holding the sandboxes (mounted
    # by the workers at <home>/sandboxes), and the uid containers run as (never root).
    kubernetes_namespace: str = "prominence"
    kubernetes_claim: str = "prominence-sandboxes"
    kubernetes_uid: int = 1000
    # udocker's repository of images and containers; default <home>/udocker.
    udocker_dir: Path | None = None
    # What a worker's cache of images fetched by URL or upload may hold (bytes); least recently
    # used images leave first (runtimes/images.py).
    image_cache_bytes: int = 20 * 1024**3
    # Host uids (and gids) that jobs run as, one per running job: `first-last`, never the stack's.
    job_uid_range: str = "200000-265535"
    # Spec §7.3: at most this many jobs of a workflow queued but not yet running.
    workflow_max_idle: int = 20
    # How often a waiting workflow node asks the API for its jobs' progress (seconds).
    workflow_poll_seconds: float = 1.0
    workflow_dag_prefix: str = "prominence_workflow_"
    enable_data: bool = True
    # OIDC access tokens (spec §2 step 4): the issuer's base URL; its userinfo endpoint, by default
    # the one its discovery document names, else <issuer>/userinfo.
    oidc_url: str | None = None
    oidc_userinfo_url: str | None = None
    # The userinfo claims naming the user and their groups.
    username_from: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    # VO -> entitlements: a user must hold all entitlements of at least one VO (JSON).
    required_entitlements: dict[str, list[str]] = Field(default_factory=dict)
    oidc_timeout: float = 30.0
    # How long a token's userinfo answer is reused, and for how many tokens at most.
    oidc_cache_seconds: float = 60.0
    oidc_cache_size: int = 1024
    # The Airflow UI's OAuth client at the same provider: with both, the UI logs in through it.
    oidc_ui_client_id: str | None = None
    oidc_ui_client_secret: SecretStr | None = None
    # Members of this OIDC group get Airflow's Admin role (they see every user's runs).
    ui_admin_group: str | None = None
    # Object storage (spec §9): any S3. `scripts/stack.py` points these at its embedded server.
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "prominence"
    # "path" for servers without per-bucket DNS names (the embedded one), "virtual" or "auto" for AWS.
    s3_addressing_style: str = "path"
    # How long a transfer keeps retrying an object store it cannot reach (with back-off) before
    # the job fails with the spec's reason (docs/reliability.md).
    s3_retry_seconds: float = 120.0
    # Email notifications (spec §3.1, §7.1), sent by the reconciler; none when smtp_host is unset.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = Field(default_factory=lambda: f"prominence@{socket.gethostname()}")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 30.0

    @property
    def stagein_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(part.strip(), strict=False) for part in self.stagein_allowed_networks.split(",") if part.strip()
        ]

    @property
    def sandboxes(self) -> Path:
        return self.home / "sandboxes"

    @property
    def workflow_dags(self) -> Path:
        """The DAG bundle folder holding one generated file per live workflow."""
        return self.home / "workflows"


def _machine_memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


@lru_cache
def get_settings() -> Settings:
    return Settings()
