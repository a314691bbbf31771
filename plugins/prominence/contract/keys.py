"""Object keys of spec §9, built in one place so that no name can leave its area.

Every user-supplied name passes `clean_name` before it becomes part of a key: relative, in
canonical form (no empty, `.` or `..` segment, no backslash or control character), at most
MAX_NAME_BYTES. Anything else is refused (400), never normalised, so two names never alias one
key. The owner of a key is decided here too: a name without `/` is the caller's private area
`uploads/<user>/`; with `/` it is a group area, allowed only when its first segment is one of
the caller's groups. (So a group must not be named like a user: groups are assigned by the
identity provider's administrators, who keep the two namespaces apart.)
"""

from __future__ import annotations

import posixpath

UPLOADS = "uploads/"
SCRATCH = "scratch/"
# S3 keys are at most 1024 bytes; this leaves room for the longest prefix we add.
MAX_NAME_BYTES = 900


class InvalidName(ValueError):
    """A name that could escape its area or is not a canonical key: a 400."""


class NotAuthorized(PermissionError):
    """A group area the caller is not a member of: a 403."""


def clean_name(name: str) -> str:
    """`name` unchanged if it is a safe relative object name, else InvalidName."""
    if not name or len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidName(f"Invalid object name {name!r}")
    if name.startswith("/") or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidName(f"Invalid object name {name!r}")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise InvalidName(f"Invalid object name {name!r}")
    return name


def upload_key(name: str, username: str, groups: list[str]) -> str:
    """The key of the uploaded object `name` (spec §10: private without `/`, else a group area)."""
    clean_name(name)
    if "/" not in name:
        return f"{UPLOADS}{clean_name(username)}/{name}"
    if name.split("/", 1)[0] not in groups:
        raise NotAuthorized(name)
    return UPLOADS + name


def group_prefix(path: str, groups: list[str]) -> str:
    """The listing prefix of `GET /data/<path>`: a raw prefix inside one of the caller's groups.
    The group itself is matched as a whole segment: `a` lists `uploads/a/`, never `uploads/alice/`."""
    clean_name(path.rstrip("/") or path)
    group, slash, _ = path.partition("/")
    if group not in groups:
        raise NotAuthorized(path)
    return UPLOADS + (path if slash else f"{group}/")


def private_prefix(username: str) -> str:
    return f"{UPLOADS}{clean_name(username)}/"


def scratch_key(job_uuid: str, output: str, *, directory: bool = False) -> str:
    """Where an output of a standalone job goes: only its basename is used (spec §9)."""
    base = posixpath.basename(output.rstrip("/"))
    clean_name(base)
    return f"{SCRATCH}{clean_name(job_uuid)}/{base}{'.tgz' if directory else ''}"


def snapshot_key(job_uuid: str) -> str:
    """Where a running job's snapshot goes (spec §6.9), replaced by each new one."""
    return f"snapshots/{clean_name(job_uuid)}/snapshot.tgz"


# Output fields of a job description (spec §3.6), by wire name: True for directories.
OUTPUT_KINDS = {"outputFiles": False, "outputDirs": True}


def output_key(job_uuid: str, name: str, directory: bool) -> str:
    """Where stage-out uploads an output and where describe presigns it from."""
    return scratch_key(job_uuid, name, directory=directory)
