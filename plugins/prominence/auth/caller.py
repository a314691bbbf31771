"""What identification yields: the caller's Identity, or an AuthError (a 401 with its message)."""

from __future__ import annotations

from dataclasses import dataclass

AUTH_FAILURE = "Authentication failure"


class AuthError(Exception):
    """The bearer could not be identified (spec §2: a 401)."""

    def __init__(self, message: str = AUTH_FAILURE) -> None:
        super().__init__(message)
        self.message = message


def email_of(value: object) -> str | None:
    """A claim's address, or None: notifications go only to one plausible address (no header
    injection through a newline, no list of recipients)."""
    if isinstance(value, str) and 0 < value.find("@") < len(value) - 1 and not any(c in value for c in "\r\n,;<> \t"):
        return value
    return None


@dataclass(frozen=True)
class Identity:
    username: str
    groups: str = ""
    # UUID of the job (or workflow) when the bearer is a job token.
    job: str | None = None
    # Where notifications go (spec §2: the token's or the userinfo's `email` claim), if known.
    email: str | None = None

    @property
    def group_list(self) -> list[str]:
        return [g for g in self.groups.split(",") if g]
