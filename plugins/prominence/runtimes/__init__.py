"""Container runtimes behind one interface (`base.Runtime`), chosen per task by its `runtime`.

A runtime turns a `RunSpec` into a command line; `process.ProcessManager` runs that command.
`kubernetes` runs a pod instead (`Runtime.manager`). PROMINENCE_RUNTIME, when set, is the runtime
of every task, whatever its `runtime` says.
"""

from __future__ import annotations

from functools import cache

from prominence.config import get_settings
from prominence.runtimes.apptainer import ApptainerRuntime
from prominence.runtimes.base import (
    PullResult,
    Runtime,
)
from prominence.runtimes.errors import ImagePullError, RuntimeNotAvailableError
from prominence.runtimes.noop import NoopRuntime
from prominence.runtimes.spec import PreparedRun, RunSpec
from prominence.runtimes.udocker import UdockerRuntime

RUNTIMES: dict[str, type[Runtime]] = {
    "singularity": ApptainerRuntime,
    "apptainer": ApptainerRuntime,
    "udocker": UdockerRuntime,
    # For the operators' unit tests; job descriptions cannot name it.
    "noop": NoopRuntime,
}

__all__ = [
    "ImagePullError",
    "PreparedRun",
    "PullResult",
    "RunSpec",
    "Runtime",
    "RuntimeNotAvailableError",
    "UnknownRuntimeError",
    "get_runtime",
]


class UnknownRuntimeError(ValueError):
    """No runtime of that name exists."""


@cache
def get_runtime(name: str) -> Runtime:
    """The runtime for a task's `runtime` field; one instance per process, so versions are cached."""
    name = get_settings().runtime or name
    if name == "kubernetes":
        # The Kubernetes client and provider take seconds to import: only processes running pods pay.
        from prominence.runtimes.kubernetes import KubernetesRuntime

        return KubernetesRuntime()
    try:
        return RUNTIMES[name]()
    except KeyError:
        raise UnknownRuntimeError(f"unknown container runtime: {name}") from None
