"""The Airflow admin user is created with the generated password whatever its first character:
`secrets.token_urlsafe` may begin with "-", which argparse would read as an option."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from airflow.cli.cli_parser import get_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import stack as stack_cli  # noqa: E402
from stack_config import Stack  # noqa: E402


@pytest.mark.parametrize("password", ["-starts-with-a-dash", "--also", "plain"])
def test_users_create_gets_the_whole_password(tmp_path: Path, monkeypatch, password: str) -> None:
    stack = Stack(home=tmp_path, port=8080, registry="127.0.0.1:5000", database_url=None, s3_port=9000)
    (tmp_path / "secrets.env").write_text(f"PROMINENCE_ADMIN_PASSWORD={password}\n")
    commands: list[tuple[str, ...]] = []

    def record(_stack, _env, *args: str, **_kw):
        commands.append(args)
        return stack_cli.subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(stack_cli, "airflow", record)
    stack_cli.configure(stack, {})
    create = next(args for args in commands if args[:2] == ("users", "create"))
    parsed = get_parser().parse_args(list(create))
    assert parsed.password == password
    assert parsed.username == "admin"
