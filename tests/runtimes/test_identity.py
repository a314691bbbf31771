"""Per-job uids: the pool's claims, the range's checks, the confined command line, the hand-over."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from prominence.contract.sandbox import Sandbox
from prominence.operators import handover
from prominence.runtimes.confine import SharedNetwork, confined_argv
from prominence.runtimes.identity import IdentityError, JobIdentity, UidPool, uid_range

# High uids no account of this machine has, so the pool may give them.
UIDS = range(390001, 390004)


@pytest.fixture
def alive() -> set[str]:
    return {"job-a", "job-b", "job-c"}


@pytest.fixture
def pool(tmp_path: Path, alive: set[str]) -> UidPool:
    return UidPool(tmp_path / "uids", UIDS, lambda owner: owner in alive)


def test_running_jobs_never_share_a_uid(pool: UidPool) -> None:
    assert [pool.acquire(job) for job in ("job-a", "job-b", "job-c")] == list(UIDS)
    with pytest.raises(IdentityError, match="every uid of 390001-390003 is taken"):
        pool.acquire("job-d")


def test_a_later_task_of_the_job_gets_its_uid_again(pool: UidPool) -> None:
    first = pool.acquire("job-a")
    pool.acquire("job-b")
    assert pool.acquire("job-a", previous=first) == first


def test_a_released_uid_goes_to_the_next_job(pool: UidPool) -> None:
    first = pool.acquire("job-a")
    pool.release("job-a", first)
    assert pool.acquire("job-b") == first
    # The job that released it does not get it back: its next task takes another one.
    assert pool.acquire("job-a", previous=first) != first


def test_a_claim_of_a_vanished_sandbox_is_free(pool: UidPool, alive: set[str]) -> None:
    first = pool.acquire("job-a")
    alive.discard("job-a")
    assert pool.acquire("job-b") == first


def test_only_the_holder_releases(pool: UidPool) -> None:
    first = pool.acquire("job-a")
    pool.release("job-b", first)
    assert pool.acquire("job-b") != first


def test_claim_files_are_the_stacks_only(pool: UidPool) -> None:
    uid = pool.acquire("job-a")
    assert stat.S_IMODE((pool.state_dir / str(uid)).stat().st_mode) == 0o600
    assert stat.S_IMODE(pool.state_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize("spec", ["0-10", "10-5", "abc", "5"])
def test_bad_ranges_are_refused(spec: str) -> None:
    with pytest.raises(IdentityError):
        uid_range(spec)


def test_a_range_holding_the_stacks_uid_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getuid", lambda: 200010)
    with pytest.raises(IdentityError, match="stack's own uid"):
        uid_range("200000-200020")
    assert uid_range("200011-265535") == range(200011, 265536)


def test_the_confined_line_drops_privileges_and_waits_for_the_network() -> None:
    argv = confined_argv(["apptainer", "exec", "x.sif"], JobIdentity(200005, 200006, "prom200005"))
    assert argv[:5] == ["setpriv", "--reuid=200005", "--regid=200006", "--clear-groups", "--no-new-privs"]
    namespaces = argv[argv.index("unshare") : argv.index("--")]
    assert {"--net", "--pid", "--ipc", "--mount-proc", "--fork", "--kill-child"} <= set(namespaces)
    assert "--map-user=200005" in namespaces and "--map-group=200006" in namespaces
    assert argv[-3:] == ["apptainer", "exec", "x.sif"]


def test_a_run_beside_another_joins_its_network_namespace_only() -> None:
    """nsenter (as root) joins the network namespace, then privileges are dropped and every
    other namespace is the run's own."""
    network = SharedNetwork(4321, "net:[4026532000]")
    argv = confined_argv(["apptainer", "exec", "x.sif"], JobIdentity(200005, 200006, "prom200005"), network)
    assert argv[:3] == ["nsenter", "--net=/proc/4321/ns/net", "--"]
    assert argv[3:8] == ["setpriv", "--reuid=200005", "--regid=200006", "--clear-groups", "--no-new-privs"]
    namespaces = argv[argv.index("unshare") : argv.index("--", argv.index("unshare"))]
    assert {"--pid", "--ipc", "--mount-proc", "--fork", "--kill-child", "--map-user=200005"} <= set(namespaces)
    assert "--net" not in namespaces
    assert argv[-3:] == ["apptainer", "exec", "x.sif"]


@pytest.mark.skipif(os.geteuid() != 0, reason="hands files over to another uid")
def test_the_hand_over_gives_the_job_its_directories_and_a_private_token(
    tmp_path: Path, pool: UidPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox(tmp_path / "job-a")
    sandbox.create({"tasks": []}, "the-token")
    (sandbox.home / "input.txt").write_text("x")
    uid = pool.acquire("job-a")
    pool.release("job-a", uid)
    identity = JobIdentity(uid, uid, f"prom{uid}")
    _hand_over(sandbox, pool, identity, monkeypatch)

    for directory in (sandbox.home, sandbox.tmp, sandbox.scratch):
        info = directory.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, 0o700)
    assert (sandbox.home / "input.txt").stat().st_uid == uid
    token = sandbox.home / ".prominence" / "token"
    assert (token.read_text(), token.stat().st_uid, stat.S_IMODE(token.stat().st_mode)) == ("the-token", uid, 0o400)
    # What the stack reads back stays its own.
    assert stat.S_IMODE(sandbox.root.stat().st_mode) == 0o711
    for private in (sandbox.job_file, sandbox.token_file, sandbox.identity_file, sandbox.log("stdout")):
        assert (private.stat().st_uid, stat.S_IMODE(private.stat().st_mode)) == (0, 0o600), private
    assert (sandbox.root / "logs").stat().st_uid == 0

    handover.release_identity(sandbox, pool)
    assert not token.exists()
    assert sandbox.home.stat().st_uid == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="hands files over to another uid")
def test_the_token_is_not_written_through_a_link_the_job_made(
    tmp_path: Path, pool: UidPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox(tmp_path / "job-a")
    sandbox.create({"tasks": []}, "the-token")
    victim = tmp_path / "victim"
    victim.write_text("unchanged")
    (sandbox.home / ".prominence").mkdir()
    (sandbox.home / ".prominence" / "token").symlink_to(victim)
    hard = sandbox.home / "hard"
    os.link(victim, hard)
    _hand_over(sandbox, pool, JobIdentity(UIDS[0], UIDS[0], f"prom{UIDS[0]}"), monkeypatch)
    assert victim.read_text() == "unchanged" and victim.stat().st_uid == 0
    assert (sandbox.home / ".prominence" / "token").read_text() == "the-token"


def _hand_over(sandbox: Sandbox, pool: UidPool, identity: JobIdentity, monkeypatch: pytest.MonkeyPatch) -> None:
    """take_identity with the test's pool and an identity made without touching /etc/passwd."""
    monkeypatch.setattr(handover, "ensure_account", lambda uid: identity)
    assert handover.take_identity(sandbox, pool) == identity
