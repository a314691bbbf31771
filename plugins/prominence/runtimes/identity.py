"""The host identity a job's containers run as: a uid/gid of its own, never root, never the stack's.

Each job gets its own uid from `PROMINENCE_JOB_UID_RANGE` (per job, not per user: two jobs of
one user are untrusted code towards each other too, and one job's uid must never reach another
job's token or files; a per-job uid needs no user-to-uid table shared by all workers either).
The worker claims a uid when the job's first task starts: a claim file `<home>/run/uids/<uid>`
names the job's sandbox, and a record in the sandbox lets its later tasks (other processes,
possibly after a restart) take the same uid again. The job's last task releases it; a claim
whose sandbox is gone is free again. Each uid gets a passwd/group entry `prom<uid>` on first use
(apptainer and udocker look the running user up). The range's first uid is no job's: it owns
the images the worker keeps for all jobs (udocker's repository), which jobs can read but not
change.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prominence.config import get_settings
from prominence.runtimes.base import file_lock

ACCOUNT_PREFIX = "prom"


class IdentityError(RuntimeError):
    """No uid can be given to the job (range exhausted or misconfigured, accounts not creatable)."""


@dataclass(frozen=True)
class JobIdentity:
    uid: int
    gid: int
    name: str


def uid_range(spec: str | None = None) -> range:
    """`first-last` (inclusive) from the setting; refused when it holds root or the stack's uid."""
    text = spec if spec is not None else get_settings().job_uid_range
    try:
        first, last = (int(part) for part in text.split("-", 1))
    except ValueError:
        raise IdentityError(f"PROMINENCE_JOB_UID_RANGE must be FIRST-LAST, not {text!r}") from None
    uids = range(first, last + 1)
    if first <= 0 or last < first:
        raise IdentityError(f"PROMINENCE_JOB_UID_RANGE {text!r} must be positive and ascending")
    if os.getuid() in uids or os.geteuid() in uids:
        raise IdentityError(f"PROMINENCE_JOB_UID_RANGE {text!r} holds the stack's own uid")
    return uids


def account_name(uid: int) -> str:
    return f"{ACCOUNT_PREFIX}{uid}"


class UidPool:
    """Claims of uids by job sandboxes, in claim files under `state_dir` (one per uid)."""

    def __init__(self, state_dir: Path, uids: range, alive: Callable[[str], bool]) -> None:
        self.state_dir = Path(state_dir)
        self.uids = uids
        self.alive = alive

    def acquire(self, owner: str, previous: int | None = None) -> int:
        """The uid `owner` holds (`previous`, if its claim is still the owner's), else a free one."""
        with file_lock(self._lock):
            if previous is not None and previous in self.uids and self._holder(previous) == owner:
                return previous
            for uid in self.uids:
                holder = self._holder(uid)
                if (holder and self.alive(holder)) or not _free_account(uid):
                    continue
                self._claim(uid, owner)
                return uid
        raise IdentityError(f"every uid of {self.uids.start}-{self.uids.stop - 1} is taken by a job")

    def release(self, owner: str, uid: int) -> None:
        with file_lock(self._lock):
            if self._holder(uid) == owner:
                self._claim(uid, "")

    @property
    def _lock(self) -> Path:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.state_dir / ".lock"

    def _holder(self, uid: int) -> str:
        try:
            return (self.state_dir / str(uid)).read_text().strip()
        except FileNotFoundError:
            return ""

    def _claim(self, uid: int, owner: str) -> None:
        tmp = self.state_dir / f".{uid}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(owner)
        tmp.replace(self.state_dir / str(uid))


def _free_account(uid: int) -> bool:
    """A uid is ours to give when no account has it, or the account is one we created."""
    try:
        return pwd.getpwuid(uid).pw_name == account_name(uid)
    except KeyError:
        return True


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def ensure_account(uid: int) -> JobIdentity:
    """The identity of `uid`, with its passwd and group entries created when missing."""
    name = account_name(uid)
    if not _has_account(uid):
        for argv in (
            ["groupadd", "-f", "-g", str(uid), name],
            ["useradd", "-M", "-N", "-u", str(uid), "-g", str(uid), "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
        ):
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode not in (0, 9):  # 9: created meanwhile by another task
                raise IdentityError(f"{argv[0]} {name} exited {done.returncode}: {done.stderr.strip()}")
    entry = pwd.getpwuid(uid)
    if entry.pw_name != name:
        raise IdentityError(f"uid {uid} belongs to the account {entry.pw_name!r}, not to jobs")
    return JobIdentity(uid=uid, gid=entry.pw_gid, name=name)


def store_identity() -> JobIdentity:
    """The owner of images shared by all jobs: the range's first uid, which no job gets."""
    return ensure_account(uid_range().start)


def default_pool() -> UidPool:
    settings = get_settings()
    uids = uid_range()
    alive = lambda owner: (settings.sandboxes / owner).is_dir()  # noqa: E731
    return UidPool(settings.home / "run" / "uids", range(uids.start + 1, uids.stop), alive)


def as_identity(identity: JobIdentity) -> list[str]:
    """The prefix that runs a command as `identity`, with no supplementary groups and no way to
    gain privileges (setuid binaries, file capabilities) again."""
    return ["setpriv", f"--reuid={identity.uid}", f"--regid={identity.gid}", "--clear-groups", "--no-new-privs"]
