"""A real OIDC provider (tests/integration/oidc, on Node.js) and a stack that trusts it, for the
API (CLI login) and the Airflow UI (browser login); headless Chromium drives the logins.

Without node, chromium or chromedriver the tests skip with the reason, except in CI (`CI=true`),
where they fail: there, scripts/install-system.sh has installed them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import RunningStack, free_port, running_stack

PROVIDER_DIR = Path(__file__).resolve().parents[1] / "oidc"
# The provider's users and what their userinfo says; `admin-lee` is in the UI's admin group.
USERS = {"alice": {"groups": ["physics"]}, "bob": {"groups": ["chemistry"]}, "admin-lee": {"groups": ["admins"]}}
ADMIN_GROUP = "admins"
UI_CLIENT_ID = "airflow-ui"


def require(*programs: str) -> None:
    missing = [program for program in programs if shutil.which(program) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (scripts/install-system.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass(frozen=True)
class OidcProvider:
    url: str
    ui_client_secret: str
    # The port the stack's api-server (and so the UI's OAuth redirect) will listen on.
    airflow_port: int


def install_provider() -> None:
    """`npm ci` once per checkout: the pinned oidc-provider from package-lock.json."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[OidcProvider]:
    require("node", "npm")
    install_provider()
    port, airflow_port = free_port(), free_port()
    provider = OidcProvider(f"http://127.0.0.1:{port}", secrets.token_urlsafe(24), airflow_port)
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_USERS": json.dumps(USERS),
        "OIDC_UI_CLIENT_ID": UI_CLIENT_ID,
        "OIDC_UI_CLIENT_SECRET": provider.ui_client_secret,
        "OIDC_UI_REDIRECT_URI": f"http://127.0.0.1:{airflow_port}/auth/oauth-authorized/prominence",
    }
    log = (tmp_path_factory.mktemp("oidc") / "provider.log").open("w")
    process = subprocess.Popen(["node", "provider.mjs"], cwd=PROVIDER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{provider.url}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, f"the OIDC provider did not start: {log.name}"
            time.sleep(0.2)
        yield provider
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(scope="session")
def oidc_stack(oidc_provider, reachable_tmp) -> Iterator[RunningStack]:
    """A stack whose API accepts the provider's tokens and whose UI logs in through it."""
    with running_stack(
        reachable_tmp / "prominence-oidc",
        PROMINENCE_PORT=str(oidc_provider.airflow_port),
        PROMINENCE_OIDC_URL=oidc_provider.url,
        PROMINENCE_OIDC_UI_CLIENT_ID=UI_CLIENT_ID,
        PROMINENCE_OIDC_UI_CLIENT_SECRET=oidc_provider.ui_client_secret,
        PROMINENCE_UI_ADMIN_GROUP=ADMIN_GROUP,
    ) as running:
        yield running


@pytest.fixture(scope="session")
def oidc_sample_image(oidc_stack) -> str:
    return oidc_stack.env["SAMPLE_IMAGE"]


@pytest.fixture
def browser() -> Iterator:
    """A fresh headless Chromium (its own profile, so no login is shared between users)."""
    require("chromium", "chromedriver")
    # Selenium loads only for the browser tests, after the skip check.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()
