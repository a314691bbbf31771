"""docker/compose.yaml is a valid compose file (docker-compose's own `config`), and everything it
runs exists here: each Airflow command parses with Airflow's CLI, each PROMINENCE_* variable is a
setting of the package or of the stack, and the image's Dockerfile builds from files we have."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from prominence.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
SECRETS = (
    "PROMINENCE_JOB_TOKEN_SECRET",
    "PROMINENCE_S3_ACCESS_KEY",
    "PROMINENCE_S3_SECRET_KEY",
    "AIRFLOW__CORE__FERNET_KEY",
    "POSTGRES_PASSWORD",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
)
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2")


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The file as docker-compose resolves it, with every required secret given."""
    if shutil.which("docker-compose") is None:
        pytest.skip("needs docker-compose (scripts/install-system.sh installs it)")
    env = {"PATH": "/usr/bin:/bin", **{name: f"{name.lower()}-value" for name in SECRETS}}
    done = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_refuses_to_start_without_its_secrets():
    if shutil.which("docker-compose") is None:
        pytest.skip("needs docker-compose (scripts/install-system.sh installs it)")
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert re.search(r"set ({})\b".format("|".join(SECRETS)), done.stderr), done.stderr


def test_every_production_component_is_a_service(resolved):
    assert {"postgres", "redis", "s3", "init", *AIRFLOW_SERVICES} <= set(resolved["services"])
    workers = [resolved["services"][name] for name in ("worker-1", "worker-2")]
    assert [w["environment"]["PROMINENCE_SITE"] for w in workers] == ["worker-1", "worker-2"]
    assert all(w["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" for w in workers)


def test_every_airflow_command_parses(resolved):
    # Airflow's CLI parser loads only in this test.
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for name in AIRFLOW_SERVICES:
        args = parser.parse_args(resolved["services"][name]["command"])
        assert callable(args.func), name


def test_every_prominence_variable_is_a_setting_of_the_package_or_the_stack(resolved):
    known = {f"PROMINENCE_{name.upper()}" for name in Settings.model_fields}
    stack_code = "\n".join(path.read_text() for path in (REPO / "scripts").glob("*.py"))
    used = {key for service in resolved["services"].values() for key in (service.get("environment") or {})}
    for variable in sorted(key for key in used if key.startswith("PROMINENCE_")):
        assert variable in known or variable in stack_code, variable


def test_the_dockerfile_copies_only_what_exists():
    copied = re.findall(r"^COPY (.+) \S+$", (REPO / "docker" / "Dockerfile").read_text(), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert sources and all((REPO / source).exists() for source in sources), sources
