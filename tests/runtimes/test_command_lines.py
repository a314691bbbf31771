"""Command lines and host environments built by each runtime (spec §13.6), without running them."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from prominence.runtimes import UnknownRuntimeError, get_runtime
from prominence.runtimes import apptainer as apptainer_module
from prominence.runtimes.apptainer import ApptainerRuntime
from prominence.runtimes.base import PullResult, find_pulled, new_image_dir, record_pull, registry_of
from prominence.runtimes.identity import JobIdentity
from prominence.runtimes.registry import write_registry_config
from prominence.runtimes.spec import PreparedRun, RunSpec
from prominence.runtimes.udocker import UdockerRuntime

IDENTITY = JobIdentity(uid=200007, gid=200007, name="prom200007")
HOME = Path("/s/userhome")
TMP = Path("/s/usertmp")
USER_ENV = {
    "FOO": "bar",
    "HOME": "/elsewhere",
    "TMPDIR": "/var/tmp",
    "PROMINENCE_CONTAINER_RUNTIME": "mine",
    "PROMINENCE_JOB_ID": "42",
    "APPTAINER_BIND": "/:/host",
}


def spec(target: str, command=None, env=None, workdir="/home/user", binds=(), memory_mb=None) -> RunSpec:
    runtime = "singularity" if target.endswith(".sif") else "udocker"
    return RunSpec(
        image=PreparedRun(runtime=runtime, image="img", target=target),
        command=command,
        env=env or {},
        workdir=workdir,
        home=HOME,
        tmp=TMP,
        stdout=Path("/s/logs/stdout"),
        stderr=Path("/s/logs/stderr"),
        usage=Path("/s/json/usage-0"),
        walltime_seconds=60,
        binds=binds,
        memory_mb=memory_mb,
    )


@pytest.fixture
def apptainer(monkeypatch: pytest.MonkeyPatch) -> ApptainerRuntime:
    runtime = ApptainerRuntime()
    monkeypatch.setattr(ApptainerRuntime, "binary", "/usr/bin/apptainer")
    monkeypatch.setattr(apptainer_module, "_memory_cgroup", lambda: (True, True))
    return runtime


@pytest.fixture
def udocker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UdockerRuntime:
    runtime = UdockerRuntime(udocker_dir=tmp_path / "ud")
    monkeypatch.setattr(UdockerRuntime, "binary", "/ud/udocker-run")
    monkeypatch.setattr(UdockerRuntime, "_proot_wrapper", tmp_path / "ud" / "proot-no-k")
    return runtime


@pytest.mark.parametrize(("command", "tail"), [(("a1", "a2"), ["a1", "a2"]), (None, [])])
def test_an_app_is_run_with_the_command_as_its_arguments(apptainer: ApptainerRuntime, command, tail) -> None:
    argv, _ = apptainer.command_line(replace(spec("/s/i.sif", command), app="tool"))
    assert argv[2] == "run" and argv[argv.index("--app") + 1] == "tool"
    assert argv[-1 - len(tail) :] == ["/s/i.sif", *tail]


def test_apptainer_exec_with_command(apptainer: ApptainerRuntime) -> None:
    argv, env = apptainer.command_line(
        spec("/s/images/0/image.sif", ("echo", "hi"), USER_ENV, "/home/user/w", (("/s/userhome/d", "/data"),))
    )
    assert argv == [
        "/usr/bin/apptainer", "--quiet", "exec", "--containall", "--no-privs", "--no-mount", "cwd,tmp",
        "--home", "/s/userhome:/home/user", "--bind", "/s/usertmp:/tmp", "--bind", "/s/userhome/d:/data",
        "--pwd", "/home/user/w", "/s/images/0/image.sif", "echo", "hi",
    ]  # fmt: skip
    # --containall cleans the environment: the container's variables cross as APPTAINERENV_*.
    assert env["APPTAINERENV_FOO"] == "bar"
    assert env["APPTAINERENV_TMPDIR"] == env["APPTAINERENV_TMP"] == env["APPTAINERENV_TEMP"] == "/tmp"
    assert env["APPTAINERENV_PROMINENCE_CONTAINER_RUNTIME"] == "singularity"
    assert env["APPTAINERENV_PROMINENCE_JOB_ID"] == "42"
    assert "FOO" not in env and "APPTAINERENV_HOME" not in env
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/bin"
    assert env["HOME"] != "/elsewhere"
    # A user's runtime-looking variable reaches the container, not the runtime on the host.
    assert "APPTAINER_BIND" not in env
    assert env["APPTAINERENV_APPTAINER_BIND"] == "/:/host"


def test_apptainer_keeps_its_files_in_the_jobs_scratch(apptainer: ApptainerRuntime) -> None:
    scratched = replace(spec("/i.sif", ("true",)), scratch=Path("/s/runtime"), identity=IDENTITY)
    _, env = apptainer.command_line(scratched)
    assert env["HOME"] == env["APPTAINER_TMPDIR"] == "/s/runtime"
    assert env["APPTAINERENV_USER"] == "prom200007"


def test_apptainer_run_without_command_and_memory(apptainer: ApptainerRuntime) -> None:
    argv, _ = apptainer.command_line(spec("/i.sif", memory_mb=512))
    assert argv[2] == "run"
    assert argv[argv.index("--memory") + 1] == "512M"
    assert argv[argv.index("--memory-swap") + 1] == "512M"
    assert argv[-1] == "/i.sif"


def test_apptainer_skips_memory_for_a_confined_run(apptainer: ApptainerRuntime) -> None:
    argv, _ = apptainer.command_line(replace(spec("/i.sif", ("true",), memory_mb=512), identity=IDENTITY))
    assert "--memory" not in argv


def test_apptainer_skips_memory_without_cgroups(apptainer: ApptainerRuntime, monkeypatch) -> None:
    monkeypatch.setattr(apptainer_module, "_memory_cgroup", lambda: (False, False))
    argv, _ = apptainer.command_line(spec("/i.sif", ("true",), memory_mb=512))
    assert "--memory" not in argv


def test_apptainer_host_env_is_built_from_scratch(apptainer: ApptainerRuntime, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "secret")
    monkeypatch.setenv("PROMINENCE_JOB_TOKEN_SECRET", "secret")
    _, env = apptainer.command_line(spec("/i.sif", ("true",)))
    assert not any("secret" in value for value in env.values())


def test_singularity_binary_uses_its_own_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = ApptainerRuntime()
    monkeypatch.setattr(ApptainerRuntime, "binary", "/usr/bin/singularity")
    argv, env = runtime.command_line(spec("/i.sif", ("true",), {"APPTAINER_X": "1"}, "/w"))
    assert "--no-mount" not in argv
    assert env["SINGULARITYENV_APPTAINER_X"] == "1"


def test_udocker_run_line_carries_no_variable(udocker: UdockerRuntime) -> None:
    target = "/s/runtime/udocker/prom-1"
    run = replace(spec(target, ("sh", "-c", "exit 3"), USER_ENV, binds=(("/a", "/b"),)), identity=IDENTITY)
    argv, env = udocker.command_line(replace(run, scratch=Path("/s/runtime")))
    assert argv == [
        "/ud/udocker-run", "-q", "run", "--hostenv", "--env=HOME=/home/user", "--hostauth", "--user=prom200007",
        "-v", "/s/userhome:/home/user", "-v", "/s/usertmp:/tmp", "-v", "/a:/b",
        "--workdir=/home/user", "prom-1", "sh", "-c", "exit 3",
    ]  # fmt: skip
    # The container's variables travel in udocker's environment (--hostenv); the runtime's win.
    assert env["FOO"] == "bar" and env["PROMINENCE_JOB_ID"] == "42"
    assert env["TMPDIR"] == "/tmp"
    assert env["PROMINENCE_CONTAINER_RUNTIME"] == "udocker"
    assert env["UDOCKER_TARBALL"] == ""
    assert env["UDOCKER_DEFAULT_EXECUTION_MODE"] == "P1"
    assert env["UDOCKER_USE_PROOT_EXECUTABLE"].endswith("proot-no-k")
    assert env["UDOCKER_DIR"] == str(udocker.udocker_dir)
    assert env["UDOCKER_CONTAINERS"] == "/s/runtime/udocker"
    # udocker's own files go to the job's scratch directory (HOME inside is set on the line).
    assert env["UDOCKER_TMP"] == env["HOME"] == "/s/runtime"


def test_udocker_settings_cannot_be_changed_by_a_users_variable(udocker: UdockerRuntime) -> None:
    _, env = udocker.command_line(spec("/s/runtime/udocker/prom-1", env={"UDOCKER_DIR": "/mine", "PROOT_NO_SECCOMP": "1"}))
    assert env["UDOCKER_DIR"] == str(udocker.udocker_dir)
    assert "PROOT_NO_SECCOMP" not in env


def test_udocker_run_without_command(udocker: UdockerRuntime) -> None:
    argv, _ = udocker.command_line(spec("/s/runtime/udocker/prom-1"))
    assert argv[-1] == "prom-1"
    assert "--allow-root" not in argv


def test_udocker_proot_wrapper_drops_k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "proot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    wrapper = UdockerRuntime(udocker_dir=tmp_path / "ud")._proot_wrapper
    argv = [wrapper, "-b", "/x:/y", "-k", "6.1.0", "-0", "sh", "-c", "a b"]
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.stdout.splitlines() == ["-b", "/x:/y", "-0", "sh", "-c", "a b"]


def test_registry_of() -> None:
    assert registry_of("127.0.0.1:5000/prominence/busybox:latest") == ("127.0.0.1:5000", "prominence/busybox:latest")
    assert registry_of("quay.io/org/img") == ("quay.io", "org/img")
    assert registry_of("localhost/img") == ("localhost", "img")
    assert registry_of("centos:7") == (None, "centos:7")
    assert registry_of("user/img:tag") == (None, "user/img:tag")


def test_pull_records_are_reused_per_runtime(tmp_path: Path) -> None:
    result = PullResult(runtime="udocker", image="a:1", target="prom-x", status="completed", seconds=1.0, sha256="ab")
    record_pull(new_image_dir(tmp_path), result)
    assert new_image_dir(tmp_path).name == "1"
    found = find_pulled(tmp_path, "udocker", "a:1")
    assert found == (PreparedRun(runtime="udocker", image="a:1", target="prom-x"), "ab")
    assert find_pulled(tmp_path, "singularity", "a:1") is None


def test_get_runtime() -> None:
    assert get_runtime("singularity").name == "singularity"
    assert get_runtime("udocker").name == "udocker"
    assert get_runtime("udocker") is get_runtime("udocker")
    assert get_runtime("noop").name == "noop"
    with pytest.raises(UnknownRuntimeError):
        get_runtime("docker")


def test_registry_config(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "registry.yml"
    write_registry_config(config, tmp_path / "data", "127.0.0.1:5999")
    data = json.loads(config.read_text())
    assert data["version"] == 0.1
    assert data["storage"]["filesystem"]["rootdirectory"] == str((tmp_path / "data").resolve())
    assert data["http"]["addr"] == "127.0.0.1:5999"
    assert (tmp_path / "data").is_dir()
