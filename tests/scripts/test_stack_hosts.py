"""Worker hosts on one machine (PROMINENCE_CELERY_HOSTS=netns): what the stack's configuration
gives each worker (the real namespaces are in tests/integration/test_worker_hosts.py)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import supervision  # noqa: E402
from stack_celery import CeleryMode  # noqa: E402
from stack_config import Stack, component_commands  # noqa: E402
from stack_hosts import hosts, relayed_ports, uid_share  # noqa: E402


def test_stacks_and_workers_do_not_share_a_namespace_or_an_address() -> None:
    first, second = hosts(Path("/srv/a/.prominence"), 63), hosts(Path("/srv/b/.prominence"), 63)
    everyone = first + second
    assert len({h.namespace for h in everyone}) == len({h.machine_end for h in everyone}) == 126
    links = [ipaddress.ip_network(f"{h.worker_address}/30", strict=False) for h in everyone]
    assert all(not a.overlaps(b) for i, a in enumerate(links) for b in links[i + 1 :])
    assert all(len(name) <= 15 for h in everyone for name in (h.machine_end, h.worker_end))  # IFNAMSIZ


def test_only_loopback_services_are_relayed() -> None:
    urls = [
        "postgresql+psycopg2://role:pw@127.0.0.1/db",
        "redis://127.0.0.1:6379/3",
        "http://127.0.0.1:8080/execution/",
        "https://s3.example.org",
        "//127.0.0.1:5000",
    ]
    assert relayed_ports(urls) == [5000, 5432, 6379, 8080]


def uids(spec: str) -> range:
    first, last = (int(part) for part in spec.split("-"))
    return range(first, last + 1)


def test_each_worker_gets_its_own_uids() -> None:
    shares = [uids(uid_share(range(200000, 265536), n, 3)) for n in (1, 2, 3)]
    assert all(200000 <= s.start and s.stop <= 265536 for s in shares)
    assert sum(len(s) for s in shares) == len(set().union(*shares))


def test_workers_run_in_their_namespaces_behind_their_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMINENCE_EXECUTOR", "celery")
    monkeypatch.setenv("PROMINENCE_CELERY_HOSTS", "netns")
    monkeypatch.setenv("PROMINENCE_CELERY_WORKERS", "2")
    stack = Stack(home=tmp_path, port=8080, registry="127.0.0.1:5000", database_url="postgresql://x@127.0.0.1/db", s3_port=9000)
    commands = component_commands(stack)
    for host in hosts(tmp_path, 2):
        worker = commands[f"worker-{host.index}"]
        assert worker[:2] == ["nsenter", f"--net=/run/netns/{host.namespace}"] and "celery" in worker
        own = worker.index("--own")
        assert worker[own + 1] == str(host.private / "home") and worker[worker.index("--home") + 1] == str(tmp_path)
        for port in (5000, 5432, 6379, 8080, 9000):
            assert commands[f"link-{host.index}-{port}"][1] == f"TCP-LISTEN:{port},bind={host.machine_address},reuseaddr,fork"
            assert commands[f"link-{host.index}-{port}-in"][:2] == ["nsenter", f"--net=/run/netns/{host.namespace}"]
    assert set(CeleryMode.load(tmp_path).log_ports().values()) == {CeleryMode.load(tmp_path).log_port}
    assert all(supervision.priority(n) < supervision.priority("worker-1") for n in commands if n.startswith("link-"))
