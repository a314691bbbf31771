"""The command of an MPI task (spec §13.6) on one node: `mpirun` inside the container.

The original wrapper ran `/bin/bash -c "mpirun …"` on node 0 with a hosts file and an ssh shim
reaching the other nodes. Jobs here run on one node (`nodes` > 1 is refused at submission), where
mpirun starts every rank itself, so neither is needed:

* OpenMPI: `mpirun -np P --host localhost:P --bind-to none <cmd>`; the host's P slots let P
  exceed the cores the container sees. `OMPI_MCA_plm=isolated` launches without ssh, which
  OpenMPI 4 otherwise insists on finding in the image even for one host.
* MPICH: `mpirun -np P -launcher fork <cmd>` (Hydra starts the ranks as local processes).
* Intel MPI: its mpirun is Hydra too and takes the same form, with the spec's
  `I_MPI_JOB_STARTUP_TIMEOUT` and `I_MPI_HYDRA_BRANCH_COUNT`. (Intel MPI is not packaged in
  Debian, so only the command line is tested.)

P is `procsPerNode`, else the cores provisioned; OMP_NUM_THREADS is cores / P (at least 1).
The task's env wins over both variables. The rank's environment is mpirun's own, which the container has.
"""

from __future__ import annotations

MPI_TYPES = ("openmpi", "mpich", "intelmpi")
OPENMPI_ENV = {"OMPI_MCA_plm": "isolated"}
INTEL_MPI_ENV = {"I_MPI_JOB_STARTUP_TIMEOUT": "120", "I_MPI_HYDRA_BRANCH_COUNT": "0"}


def mpi_processes(procs_per_node: int | None, cpus: int) -> int:
    """Ranks on the node: `procsPerNode`, by default one per provisioned core."""
    return procs_per_node or max(cpus, 1)


def mpi_command(flavour: str, cmd: str, processes: int) -> tuple[str, ...]:
    """The argv run in the container: the user's `cmd` (a shell string) under mpirun."""
    if flavour == "openmpi":
        launcher = f"mpirun -np {processes} --host localhost:{processes} --bind-to none"
    elif flavour in ("mpich", "intelmpi"):
        launcher = f"mpirun -np {processes} -launcher fork"
    else:
        raise ValueError(f"not an MPI flavour: {flavour}")
    return ("/bin/bash", "-c", f"{launcher} {cmd}")


def mpi_env(flavour: str, task_env: dict[str, str], cpus: int, processes: int) -> dict[str, str]:
    """Variables the MPI task adds to its environment (except those the task's env sets)."""
    env = {"OMP_NUM_THREADS": str(max(cpus // processes, 1))}
    env.update(OPENMPI_ENV if flavour == "openmpi" else INTEL_MPI_ENV if flavour == "intelmpi" else {})
    return {key: value for key, value in env.items() if key not in task_env}
