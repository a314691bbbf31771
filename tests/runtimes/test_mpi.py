"""The mpirun command line of each MPI flavour on one node, and the variables it adds."""

from __future__ import annotations

import pytest

from prominence.runtimes.mpi import mpi_command, mpi_env, mpi_processes


def test_openmpi_gives_the_local_host_one_slot_per_rank():
    assert mpi_command("openmpi", "./hello $X", 4) == (
        "/bin/bash",
        "-c",
        "mpirun -np 4 --host localhost:4 --bind-to none ./hello $X",
    )


@pytest.mark.parametrize("flavour", ["mpich", "intelmpi"])
def test_hydra_flavours_start_ranks_locally_without_ssh(flavour):
    assert mpi_command(flavour, "./hello", 2) == ("/bin/bash", "-c", "mpirun -np 2 -launcher fork ./hello")


def test_an_unknown_flavour_is_an_error():
    with pytest.raises(ValueError):
        mpi_command("basic", "./hello", 1)


def test_processes_default_to_the_provisioned_cores():
    assert mpi_processes(None, 6) == 6
    assert mpi_processes(2, 6) == 2


def test_openmp_threads_share_the_cores_between_ranks_unless_the_task_sets_them():
    assert mpi_env("mpich", {}, 8, 2) == {"OMP_NUM_THREADS": "4"}
    assert mpi_env("mpich", {}, 2, 4) == {"OMP_NUM_THREADS": "1"}
    assert mpi_env("mpich", {"OMP_NUM_THREADS": "3"}, 8, 2) == {}


def test_openmpi_launches_without_ssh_unless_the_task_says_otherwise():
    assert mpi_env("openmpi", {}, 2, 2) == {"OMP_NUM_THREADS": "1", "OMPI_MCA_plm": "isolated"}
    assert mpi_env("openmpi", {"OMPI_MCA_plm": "rsh"}, 2, 2) == {"OMP_NUM_THREADS": "1"}


def test_intel_mpi_gets_the_spec_startup_settings():
    assert mpi_env("intelmpi", {}, 2, 2) == {
        "OMP_NUM_THREADS": "1",
        "I_MPI_JOB_STARTUP_TIMEOUT": "120",
        "I_MPI_HYDRA_BRANCH_COUNT": "0",
    }
