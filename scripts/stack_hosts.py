"""Worker hosts on one machine (`PROMINENCE_CELERY_HOSTS=netns`): each Celery worker runs in a
network namespace of its own, joined to the machine by one veth link, with folders of its own.

It is how the tests show that a worker needs no more of the api-server's machine than a worker
host on another machine has (README, "Running on several machines"): the stack's services
(database, broker, API with its execution API, S3, registry) reach it only over its link, and
the stack's home it sees is a folder of its own (`hosts/worker-<i>/home`: its image caches,
udocker store, job uid pool and Airflow task logs), into which only the job area (`sandboxes/`)
and the workflow DAG folder (`workflows/`) are bound: the shared filesystem that a multi-host
deployment provides. The machine's secrets, database files, S3 and registry data, supervisord's
socket and the components' logs are not there.

Each service a worker uses listens on the machine's loopback; `socat` relays carry it across
the link both ways (a listener on the link's machine end, and one on the worker's own loopback,
where a job's container reaches the API through pasta). A worker's host name resolves to its
end of the link in its own /etc/hosts, so its task instances name that address and the Airflow
UI reads a running task's log from the worker's log server over the link, as from another host.
The namespace has a default route over the link only, so nothing else of the machine is on its
loopback.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("shared", "netns")
# Each stack's links take one /24 of this block, each worker a /30 of it (the first /30 unused).
BLOCK = ipaddress.ip_network("10.128.0.0/9")
MAX_WORKERS = 63
# In a worker's own home: its folders, and the machine's shared ones bound in (the only two).
PRIVATE = ("image-cache", "udocker", "run/uids", "airflow/logs")
SHARED = ("sandboxes", "workflows")
LOOPBACK = {"127.0.0.1", "localhost"}


@dataclass(frozen=True)
class WorkerHost:
    """One worker's namespace, link, and its own folder (`private`: its home and its /etc/hosts)."""

    index: int
    namespace: str
    machine_end: str
    worker_end: str
    machine_address: str
    worker_address: str
    private: Path


def hosts(home: Path, workers: int) -> list[WorkerHost]:
    """The worker hosts of the stack in `home`: names and addresses derived from its path, so
    stacks in other homes on the same machine get others (one /24 of BLOCK's 32,768 each)."""
    digest = int.from_bytes(hashlib.sha256(str(home).encode()).digest()[:4], "big")
    subnet = int(BLOCK.network_address) + (digest % 2**15) * 256
    tag = f"{digest % 16**6:06x}"
    result = []
    for i in range(1, workers + 1):
        machine, worker = (ipaddress.ip_address(subnet + 4 * i + k) for k in (1, 2))
        result.append(
            WorkerHost(
                index=i,
                namespace=f"prominence-{tag}-w{i}",
                machine_end=f"pm{tag}{i}",
                worker_end=f"pw{tag}{i}",
                machine_address=str(machine),
                worker_address=str(worker),
                private=home / "hosts" / f"worker-{i}",
            )
        )
    return result


def relayed_ports(urls: list[str]) -> list[int]:
    """The loopback ports of the services (their URLs) a worker uses; those elsewhere it reaches
    over its default route."""
    defaults = {"postgresql": 5432, "redis": 6379, "http": 80, "https": 443}
    ports = []
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname in LOOPBACK:
            scheme = parts.scheme.split("+")[0]
            ports.append(parts.port or defaults.get(scheme, 0))
    return sorted(set(p for p in ports if p))


def relay(listen: str, port: int, target: str) -> list[str]:
    return ["socat", f"TCP-LISTEN:{port},bind={listen},reuseaddr,fork", f"TCP:{target}:{port}"]


def in_network(host: WorkerHost) -> list[str]:
    """The prefix running a command in the worker's network namespace. Not `ip netns exec`: it
    mounts a sysfs of the namespace over /sys, which hides the cgroup hierarchies that hold each
    job's memory limit (runtimes/confine.py)."""
    return ["nsenter", f"--net=/run/netns/{host.namespace}"]


def link_commands(hosts_: list[WorkerHost], ports: list[int]) -> dict[str, list[str]]:
    """Supervised relays: per worker and service, one on the link's machine end to the machine's
    loopback and one on the worker's loopback to the machine end."""
    commands = {}
    for host in hosts_:
        for port in ports:
            commands[f"link-{host.index}-{port}"] = relay(host.machine_address, port, "127.0.0.1")
            commands[f"link-{host.index}-{port}-in"] = [*in_network(host), *relay("127.0.0.1", port, host.machine_address)]
    return commands


def on_host(host: WorkerHost, home: Path, argv: list[str]) -> list[str]:
    """`argv` run in the worker's namespaces, with its own home over the machine's."""
    launcher = Path(__file__).resolve().parent / "worker_host.py"
    shared = [arg for name in SHARED for arg in ("--share", name)]
    options = ["--home", str(home), "--own", str(host.private / "home"), "--hosts", str(host.private / "hosts"), *shared]
    own_mounts = ["unshare", "--mount", "--propagation", "slave"]
    return [*in_network(host), *own_mounts, sys.executable, str(launcher), *options, "--", *argv]


def worker_env(host: WorkerHost, uids: range, workers: int) -> list[str]:
    """A worker host's own settings: its share of the job uids, and its task instances named by
    its address (its host name, resolved in its own /etc/hosts)."""
    return [
        f"PROMINENCE_JOB_UID_RANGE={uid_share(uids, host.index, workers)}",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE=airflow.utils.net.get_host_ip_address",
    ]


def uid_share(uids: range, index: int, workers: int) -> str:
    """Worker `index`'s share of the job uids, as `first-last`: the hosts share one kernel, not a uid pool."""
    size = len(uids) // workers
    start = uids.start + (index - 1) * size
    return f"{start}-{start + size - 1}"


def _ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def create(hosts_: list[WorkerHost]) -> None:
    """Each worker's namespace and link, made anew (one left by a killed stack is replaced), its
    own home (with mount points for the shared folders) and its /etc/hosts."""
    for host in hosts_:
        destroy([host])
        _ip("netns", "add", host.namespace)
        _ip("link", "add", host.machine_end, "type", "veth", "peer", "name", host.worker_end, "netns", host.namespace)
        _ip("addr", "add", f"{host.machine_address}/30", "dev", host.machine_end)
        _ip("link", "set", host.machine_end, "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.worker_address}/30", "dev", host.worker_end)
        _ip("-n", host.namespace, "link", "set", host.worker_end, "up")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        _ip("-n", host.namespace, "route", "add", "default", "via", host.machine_address)
        own = host.private / "home"
        for name in (*PRIVATE, *SHARED):
            (own / name).mkdir(parents=True, exist_ok=True)
        for name in PRIVATE:
            for folder in {own / name, (own / name).parent} - {own}:
                folder.chmod(0o700)
        # Jobs' uids pass through the home to their sandboxes and run udocker from its store.
        for folder in (host.private.parent, host.private, own):
            folder.chmod(0o711)
        (own / "udocker").chmod(0o755)
        names = f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{host.worker_address}\t{socket.gethostname()}\n"
        (host.private / "hosts").write_text(names)
        (host.private / "hosts").chmod(0o644)


def destroy(hosts_: list[WorkerHost]) -> None:
    """Remove the namespaces (their links go with them); the private folders stay, like a host's disk."""
    for host in hosts_:
        _ip("netns", "delete", host.namespace, check=False)
        _ip("link", "delete", host.machine_end, check=False)
