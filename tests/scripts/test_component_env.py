"""The signing key reaches the api-server alone: not supervisord's environment, which every
other component (the scheduler and its task processes among them) inherits."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import supervision  # noqa: E402
from stack_config import Stack, component_commands, component_envs  # noqa: E402


def test_only_the_api_server_gets_the_signing_key(tmp_path: Path) -> None:
    env = {"PROMINENCE_JOB_TOKEN_SECRET": "the-key", "AIRFLOW__CORE__FERNET_KEY": "shared", "PATH": "/bin"}
    shared, own = component_envs(env)
    assert "PROMINENCE_JOB_TOKEN_SECRET" not in shared
    assert shared["AIRFLOW__CORE__FERNET_KEY"] == "shared"

    stack = Stack(home=tmp_path, port=8080, registry="127.0.0.1:5000", database_url=None, s3_port=9000)
    config = supervision.render_config(stack, component_commands(stack), own)
    programs = {section.split("]", 1)[0]: section for section in config.split("[program:")[1:]}
    assert 'environment = PROMINENCE_JOB_TOKEN_SECRET="the-key"' in programs["api-server"]
    assert [name for name, section in programs.items() if "the-key" in section] == ["api-server"]
