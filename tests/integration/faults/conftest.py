"""The fault tests act as a user of their own, so the jobs and objects they leave behind never
show in the listings other integration tests of the same stack assert on."""

from __future__ import annotations

import pytest

from tests.integration.api import Api

USER = "fault-tester"


@pytest.fixture(scope="session")
def alice(stack) -> Api:
    return Api(stack.url, stack.token(USER))
