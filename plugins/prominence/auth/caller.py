"""What identification yields: the caller's Identity, or an AuthError (a 401 with its message)."""

from __future__ import annotations

from dataclasses import dataclass

AUTH_FAILURE = "Authentication failure"


class AuthError(Exception):
    """The bearer could not be identified (spec §2: a 401)."""

    def __init__(self, message: str = AUTH_FAILURE) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Identity:
    username: str
    groups: str = ""
    # UUID of the job (or workflow) when the bearer is a job token.
    job: str | None = None

    @property
    def group_list(self) -> list[str]:
        return [g for g in self.groups.split(",") if g]
