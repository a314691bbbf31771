"""What a job's uid owns while its tasks run: its home, tmp and scratch directories, and its token.

The first task of a job takes a uid (`runtimes.identity`) and records it in the sandbox; later
tasks take the same one again. When the uid differs from the recorded one (the first task, or a
claim lost meanwhile) the directories are handed over whole; otherwise only their top.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prominence.contract.sandbox import Sandbox
from prominence.runtimes.identity import JobIdentity, UidPool, default_pool, ensure_account

TOKEN_DIR = ".prominence"
TOKEN_NAME = "token"


def take_identity(sandbox: Sandbox, pool: UidPool | None = None) -> JobIdentity:
    """The job's identity for this task, with its directories and token file ready for it."""
    pool = pool or default_pool()
    previous = _recorded(sandbox)
    identity = ensure_account(pool.acquire(sandbox.root.name, previous))
    if identity.uid != previous:
        fd = os.open(sandbox.identity_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(identity.uid))
    for directory in (sandbox.home, sandbox.tmp, sandbox.scratch):
        directory.mkdir(mode=0o700, exist_ok=True)
        _own(directory, identity, whole=identity.uid != previous)
    _write_token(sandbox, identity)
    return identity


def release_identity(sandbox: Sandbox, pool: UidPool | None = None) -> None:
    """The job is over: its token file goes, its directories become root's (a later job given
    the uid cannot enter them), and the uid is free for other jobs."""
    uid = _recorded(sandbox)
    if uid is None:
        return
    token = sandbox.home / TOKEN_DIR / TOKEN_NAME
    if token.is_file() and not token.is_symlink():
        token.unlink()
    for directory in (sandbox.home, sandbox.tmp, sandbox.scratch):
        if directory.is_dir():
            os.chown(directory, 0, 0, follow_symlinks=False)
    (pool or default_pool()).release(sandbox.root.name, uid)


def _recorded(sandbox: Sandbox) -> int | None:
    try:
        return int(sandbox.identity_file.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _own(directory: Path, identity: JobIdentity, *, whole: bool) -> None:
    """chown `directory` (and, if `whole`, all below it, links not followed) to the identity.

    Files with several links are left alone: one could be a hard link to a file of the stack's.
    """
    os.chown(directory, identity.uid, identity.gid, follow_symlinks=False)
    directory.chmod(0o700)
    if not whole:
        return
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                continue
            os.chown(path, identity.uid, identity.gid, follow_symlinks=False)


def _write_token(sandbox: Sandbox, identity: JobIdentity) -> None:
    """`~/.prominence/token` in the job's home, 0400 for the job's uid (where the PROMINENCE CLI
    looks). Written without following links the job may have put in its home."""
    token = sandbox.token_file.read_text() if sandbox.token_file.exists() else ""
    home = os.open(sandbox.home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            os.mkdir(TOKEN_DIR, 0o700, dir_fd=home)
        except FileExistsError:
            pass
        directory = os.open(TOKEN_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=home)
        try:
            os.fchown(directory, identity.uid, identity.gid)
            os.fchmod(directory, 0o700)
            try:
                os.unlink(TOKEN_NAME, dir_fd=directory)
            except FileNotFoundError:
                pass
            fd = os.open(TOKEN_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400, dir_fd=directory)
            with os.fdopen(fd, "w") as handle:
                os.fchown(handle.fileno(), identity.uid, identity.gid)
                handle.write(token)
        finally:
            os.close(directory)
    finally:
        os.close(home)
