"""Job description schema: one row per message of docs/api.md, defaults and round trip."""

import copy

import pytest

from prominence.config import get_settings
from prominence.model.errors import SpecError
from prominence.model.job import JobDescription, check_mountable, check_supported, parse_job

BASE = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "busybox"}]}

# The representative body of `prominence create` with all options.
CLI_BODY = {
    "resources": {"nodes": 1, "disk": 20, "walltime": 60, "cpus": 2, "memory": 4.0},
    "name": "myjob",
    "outputFiles": ["out.txt"],
    "outputDirs": ["outdir"],
    "artifacts": [{"url": "https://example.org/a.tgz"}, {"url": "uploaded.dat"}],
    "inputs": [{"filename": "in.txt", "content": "aGVsbG8K"}],
    "labels": {"app": "x", "k": "v"},
    "policies": {
        "priority": 5,
        "maximumRetries": 3,
        "maximumTaskRetries": 2,
        "maximumTimeInQueue": 10,
        "leaveInQueue": True,
        "ignoreTaskTailures": True,
    },
    "tasks": [
        {
            "image": "busybox",
            "workdir": "/w",
            "runtime": "udocker",
            "cmd": "sh -c 'cat in.txt > out.txt'",
            "env": {"FOO": "bar", "X": "1"},
        }
    ],
}


MOUNT_SEPARATORS = "the mountpoint for an artifact must not contain commas, colons, control characters or '..'"


def job(**changes):
    """BASE with top-level keys replaced; `resources`/`policies` dicts are merged into BASE's."""
    body = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key in ("resources", "policies") and isinstance(value, dict):
            body[key] = {**body.get(key, {}), **value}
        else:
            body[key] = value
    return body


def res(**fields):
    """Resources built from scratch (no cpus/memory from BASE)."""
    body = copy.deepcopy(BASE)
    body["resources"] = fields
    return body


def task(**fields):
    return job(tasks=[{"image": "busybox", **fields}])


def placement(value):
    return job(policies={"placement": value})


def storage(**fields):
    return job(storage={"type": "onedata", "mountpoint": "/data", "onedata": {"provider": "p", "token": "t"}, **fields})


CASES = [
    # top level
    ([], "a job description must be a JSON object"),
    ("x", "a job description must be a JSON object"),
    (job(foo=1), 'invalid item "foo" in job description'),
    (job(name="a" * 513), "job name must be less than 512 characters in length"),
    (job(name="bad!name"), "invalid job name"),
    (job(name=5), "invalid job name"),
    (job(labels=["a=b"]), "labels must be defined as a dict"),
    (job(labels={"a": "b" * 513}), "label values must be less than 512 characters in length"),
    (job(labels={"a" * 513: "b"}), "label names must be less than 512 characters in length"),
    (job(labels={"a-b": "c"}), 'label name "a-b" is invalid'),
    (job(labels={"a": "c d"}), 'label value "c d" is invalid'),
    # resources
    ({"tasks": BASE["tasks"]}, "a job must contain resources"),
    (job(resources={"gpus": 1}), 'invalid item "gpus" in resources'),
    (job(resources={"nodes": 1.5}), "number of nodes must be an integer"),
    (job(resources={"nodes": -2}), "number of nodes must be an integer"),
    (job(resources={"nodes": True}), "number of nodes must be an integer"),
    (job(resources={"nodes": 0}), "number of nodes must be at least 1"),
    (job(resources={"totalCpusRange": 4}), "totalCpusRange must be a list"),
    (
        job(resources={"totalCpusRange": [1, 2, 3]}),
        "totalCpusRange must be a list containing the min and max allowed total number of CPUs",
    ),
    (job(resources={"cpus": "2"}), "number of cpus must be an integer"),
    (job(resources={"cpus": -1}), "number of cpus must be an integer"),
    (job(resources={"cpus": 2.0}), "number of cpus must be an integer"),
    (job(resources={"cpus": 0}), "number of cpus must be at least 1"),
    (res(memory=1), "one of cpus, cpusRange, cpusOptions must be defined"),
    (res(cpus=1, cpusRange=[1, 2], memory=1), "cpus and cpusRange cannot both be defined"),
    (res(cpus=1, cpusOptions=[1, 2], memory=1), "cpus and cpusOptions cannot both be defined"),
    (res(cpusRange=[1, 2], cpusOptions=[1, 2], memory=1), "cpusRange and cpusOptions cannot both be defined"),
    (res(cpusRange=[1], memory=1), "cpusRange must be a list containing the min and max allowed number of CPUs"),
    (res(cpusRange=[4, 2], memory=1), "cpusRange must be a list containing the min and max allowed number of CPUs"),
    (res(cpusRange="1-2", memory=1), "cpusRange must be a list containing the min and max allowed number of CPUs"),
    (res(cpusOptions=[1, "x"], memory=1), "cpusOptions must be a list containing the two possible number of CPUs"),
    (res(cpus=1), "memory or memoryPerCpu (in GB) must be defined"),
    (res(cpus=1, memory=1, memoryPerCpu=1), "memory and memoryPerCpu cannot both be defined"),
    (job(resources={"memory": "4"}), "memory must be an integer"),
    (job(resources={"memory": True}), "memory must be an integer"),
    (job(resources={"memory": -1.5}), "memory must be an integer"),
    (job(resources={"memory": 0}), "memory must be at least 1"),
    (res(cpus=1, memoryPerCpu="x"), "memoryPerCpu must be an integer"),
    (res(cpus=1, memoryPerCpu=0), "memoryPerCpu must be at least 1"),
    (job(resources={"disk": 1.5}), "required disk must be an integer"),
    (job(resources={"disk": 0}), "disk must be at least 1"),
    (job(resources={"walltime": "1h"}), "required walltime must be an integer"),
    (job(resources={"walltime": 0}), "walltime must be at least 1 minute"),
    # caps against absurd requests
    (job(resources={"nodes": 1001}), "number of nodes must be at most 1000"),
    (job(resources={"cpus": 1025}), "number of cpus must be at most 1024"),
    (job(resources={"memory": 65536.5}), "memory must be at most 65536"),
    (job(resources={"disk": 1_000_001}), "disk must be at most 1000000"),
    (job(resources={"walltime": 525_601}), "walltime must be at most 525600 minutes"),
    # tasks
    (job(tasks=None), "an array of tasks must be provided"),
    (job(tasks={"image": "x"}), "an array of tasks must be provided"),
    ({"resources": BASE["resources"]}, "a job must contain tasks"),
    (job(tasks=[{"image": "x"}, "busybox"]), "each task must be an object"),
    (task(args=["x"]), 'invalid item "args" in task'),
    (task(workDir="/w"), 'invalid item "workDir" in task'),
    (job(tasks=[{"cmd": "ls"}]), "each task must specify a container image"),
    (job(tasks=[{"image": ""}]), "each task must specify a container image"),
    (task(imagePullCredential={"username": "u"}), "a username and token must be specified in the image pull credential"),
    (task(runtime="docker"), "the container runtime must be either udocker or singularity"),
    (task(env=["A=1"]), "environment variables must be defined as a dict"),
    (task(env={"A": [1]}), "environment variable values must be strings, numbers or booleans"),
    (task(runtime="udocker", app="x"), "app is only supported by Singularity"),
    (task(app=1), "app must be a string"),
    (task(procsPerNode="2"), "number of processes per node must be an integer"),
    (task(procsPerNode=0), "number of processes per node must be at least 1"),
    (
        job(resources={"cpus": 2}, tasks=[{"image": "x", "type": "openmpi", "cmd": "a", "procsPerNode": 4}]),
        "number of processes per node must be less than number of CPU cores per node",
    ),
    (task(cmd=["ls"]), "cmd must be a string"),
    (task(type="docker"), "invalid task type"),
    (
        task(type="openmpi", cmd="mpirun ./a"),
        "it is not necessary to include mpirun in the cmd if an MPI flavour has been specified",
    ),
    (task(type="mpich"), "A command to execute must be specified for MPI jobs"),
    (task(type="intelmpi", cmd=""), "A command to execute must be specified for MPI jobs"),
    (task(type="sidecar"), "a job cannot contain only sidecar tasks"),
    (job(tasks=[]), "a job cannot contain only sidecar tasks"),
    # policies
    (job(policies={"foo": 1}), 'invalid item "foo" in policies'),
    (job(policies={"runSerialTasksOnAllNodes": 1}), "runSerialTasksOnAllNodes must be either true or false"),
    (job(policies={"leaveInQueue": "yes"}), "leaveInQueue must be either true or false"),
    (job(policies={"ignoreTaskFailures": 0}), "ignoreTaskFailures must be either true or false"),
    (job(policies={"ignoreTaskTailures": "x"}), "ignoreTaskTailures must be either true or false"),
    (job(policies={"reportJobSuccessOnTaskFailure": None}), "reportJobSuccessOnTaskFailure must be either true or false"),
    (placement({"sites": []}), 'invalid item "sites" in placement policy'),
    (placement({"requirements": {"zones": []}}), 'invalid item "zones" in requirements'),
    (placement({"requirements": {"sites": "a"}}), "sites in requirements must be a list"),
    (placement({"preferences": {"clouds": []}}), 'invalid item "clouds" in preferences'),
    (placement({"preferences": {"regions": "eu"}}), "regions in preferences must be a list"),
    (job(policies={"priority": 1.5}), "the priority must be an integer"),
    (job(policies={"priority": -1}), "the priority must be an integer"),
    (job(policies={"autoScalingType": "all"}), "autoScalingType, if defined, must be none, dedicated or shared"),
    (job(policies={"maximumRetries": "3"}), "the number of retries must be an integer"),
    (job(policies={"maximumRetries": 0}), "the number of retries must be greater than 0"),
    (job(policies={"maximumRetries": 7}), "the number of retries must be less than 6"),
    (job(policies={"maximumTaskRetries": 1.0}), "the number of task retries must be an integer"),
    (job(policies={"maximumTaskRetries": 0}), "the number of retries must be greater than 0"),
    (job(policies={"maximumTaskRetries": 7}), "the number of retries must be less than 6"),
    (job(policies={"maximumTimeInQueue": "10"}), "the maximum time in queue must be an integer"),
    (job(policies={"maximumTimeInQueue": -2}), "the maximum time in queue must be -1, 0 or greater than 0"),
    (job(policies={"maximumTimeInQueue": 44641}), "the maximum time in queue must be less than 44640"),
    (job(policies={"maximumIdleTimePerResource": 1.5}), "the maximum idle time per resource must be an integer"),
    (job(policies={"maximumIdleTimePerResource": 0}), "the maximum idle time per resource must be greater than 0"),
    (job(policies={"maximumIdleTimePerResource": 44641}), "the maximum idle time per resource must be less than 44640"),
    # inputs, artifacts, outputs
    (job(inputs={"filename": "a"}), "an array of inputs must be provided"),
    (job(inputs=[{"filename": "a", "content": "", "mode": 1}]), "invalid item mode in input"),
    (job(inputs=[{"content": ""}]), "each input must contain a filename"),
    (job(inputs=[{"filename": "a"}]), "each input must contain base64 encoded content"),
    (job(inputs=[{"filename": "a", "content": "not base64!"}]), "each input must contain base64 encoded content"),
    (job(artifacts="https://x/a.tgz"), "an array of artifacts must be provided"),
    (job(artifacts=[{"url": "a", "name": "b"}]), "invalid item name in artifact"),
    (job(artifacts=[{"mountpoint": "d:/m"}]), "an artifact must contain a URL"),
    (job(artifacts=[{"url": "a", "mountpoint": "/m"}]), "invalid mountpoint for artifact"),
    (job(artifacts=[{"url": "a", "mountpoint": "d/e:/m"}]), "invalid source in mountpoint for artifact"),
    (job(artifacts=[{"url": "a", "mountpoint": "d:m"}]), "the mountpoint for an artifact must be an absolute path"),
    # A comma or colon would make the runtime add binds of the user's choosing (a host path).
    (job(artifacts=[{"url": "a", "mountpoint": "d:/m,/root/.prominence:/s"}]), MOUNT_SEPARATORS),
    (job(artifacts=[{"url": "a", "mountpoint": "d:/m:rw"}]), MOUNT_SEPARATORS),
    (job(artifacts=[{"url": "a", "mountpoint": "d,/etc:/m"}]), "invalid source in mountpoint for artifact"),
    (job(artifacts=[{"url": "a", "mountpoint": "d:/m/../../etc"}]), MOUNT_SEPARATORS),
    (job(artifacts=[{"url": "a", "mountpoint": "d:/m\nx"}]), MOUNT_SEPARATORS),
    (job(outputFiles="out.txt"), "an array of outputFiles must be provided"),
    (job(outputFiles=["a", 1]), "outputFiles must be a list of strings"),
    (job(outputDirs="out"), "an array of outputDirs must be provided"),
    (job(outputDirs=[None]), "outputDirs must be a list of strings"),
    # storage
    (job(storage={"mountpoint": "/d"}), "storage type must be defined"),
    (storage(type="b2drop"), "storage type must be onedata"),
    (job(storage={"type": "onedata", "onedata": {"provider": "p", "token": "t"}}), "a mount point must be defined"),
    (storage(mountpoint="data"), "the mountpoint must be an absolute path"),
    (storage(default="yes"), "default must be either true or false"),
    (job(storage={"type": "onedata", "mountpoint": "/d"}), "OneData storage details must be defined"),
    (storage(onedata={"token": "t"}), "OneData provider must be defined"),
    (storage(onedata={"provider": "p"}), "OneData token must be defined"),
    # notifications
    (job(notifications={"event": "jobFinished"}), "notifications must be in the form of a list"),
    (job(notifications=[{"event": "jobFinished", "type": "email", "to": "x"}]), 'invalid item "to" in notifications'),
    (job(notifications=[{"event": "jobStarted", "type": "email"}]), 'invalid notification event "jobStarted"'),
    (job(notifications=[{"event": "jobFinished", "type": "sms"}]), 'invalid notification type "sms"'),
]


@pytest.mark.parametrize(("body", "message"), CASES, ids=[message for _, message in CASES])
def test_spec_message(body, message):
    with pytest.raises(SpecError) as info:
        parse_job(body)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Unknown keys are reported before anything else at the same level, as in the original.
        (job(resources={"cpus": 0, "foo": 1}), 'invalid item "foo" in resources'),
        (job(resources={"cpus": 0}, bar=1), 'invalid item "bar" in job description'),
        # Otherwise the original's field order: resources before tasks, task 0 before task 1.
        (job(resources={"cpus": 0}, tasks=[{"args": 1}]), "number of cpus must be at least 1"),
        (job(tasks=[{"image": "x", "cmd": 1}, {"image": "x", "foo": 1}]), "cmd must be a string"),
        (job(tasks=[{"image": "x", "args": 1, "runtime": "docker"}]), 'invalid item "args" in task'),
    ],
)
def test_first_problem_is_reported(body, message):
    with pytest.raises(SpecError) as info:
        parse_job(body)
    assert info.value.message == message


def test_cli_body_accepted_and_normalised():
    parsed = parse_job(copy.deepcopy(CLI_BODY))
    assert parsed.resources.memory == 4.0
    assert parsed.labels == {"app": "x", "k": "v"}
    assert parsed.policies.ignore_task_failures is True
    assert parsed.artifacts[1].url == "uploaded.dat"
    stored = parsed.to_stored()
    expected = copy.deepcopy(CLI_BODY)
    expected["policies"]["ignoreTaskFailures"] = expected["policies"].pop("ignoreTaskTailures")
    assert stored == expected


def test_round_trip():
    body = copy.deepcopy(CLI_BODY)
    body["resources"] = {"cpusRange": [2, 8], "memoryPerCpu": 1.5, "totalCpusRange": [4, 32]}
    body["tasks"].append({"image": "x", "type": "openmpi", "cmd": "./mpi", "procsPerNode": 2})
    body["policies"]["placement"] = {"requirements": {"sites": ["A"]}, "preferences": {"regions": ["eu"]}}
    body["storage"] = {"type": "onedata", "mountpoint": "/d", "onedata": {"provider": "p", "token": "t"}}
    body["notifications"] = [{"event": "jobFinished", "type": "email"}]
    stored = parse_job(body).to_stored()
    assert parse_job(stored).to_stored() == stored
    assert "nodes" not in stored["resources"]  # derived from totalCpusRange
    assert parse_job(body).to_stored(redact=True)["storage"]["onedata"]["token"] == "***"


def test_defaults_filled_in_and_stored():
    parsed = parse_job(job(tasks=[{"image": "busybox"}, {"image": "https://h/img.tar.gz"}, {"image": "img.tgz"}]))
    assert parsed.resources.nodes == 1
    assert parsed.resources.disk == get_settings().default_disk_gb
    assert [t.runtime for t in parsed.tasks] == ["singularity", "udocker", "udocker"]
    assert parsed.name == "" and parsed.policies.maximum_retries == 0 and parsed.tasks[0].type == "basic"
    assert parsed.walltime_seconds == get_settings().default_walltime_minutes * 60
    stored = parsed.to_stored()
    assert stored == {
        "resources": {"nodes": 1, "cpus": 1, "memory": 1.0, "disk": get_settings().default_disk_gb},
        "tasks": [
            {"image": "busybox", "runtime": "singularity"},
            {"image": "https://h/img.tar.gz", "runtime": "udocker"},
            {"image": "img.tgz", "runtime": "udocker"},
        ],
    }


def test_numbers():
    assert parse_job(job(resources={"memory": 0.5})).resources.memory == 0.5
    assert parse_job(res(cpus=2, memoryPerCpu=2.0)).resources.memory_per_cpu == 2.0
    assert parse_job(job(policies={"maximumTimeInQueue": -1})).policies.maximum_time_in_queue == -1
    assert parse_job(job(policies={"maximumRetries": 6, "maximumTimeInQueue": 44640})).policies.maximum_retries == 6
    env = parse_job(task(env={"A": 1, "B": 1.5, "C": True, "D": "x"})).tasks[0].env
    assert env == {"A": "1", "B": "1.5", "C": "true", "D": "x"}


def test_total_cpus_and_memory():
    assert parse_job(job(resources={"cpus": 4, "nodes": 3})).total_cpus == 12
    assert parse_job(res(cpus=4, memoryPerCpu=1.5)).resources.memory_per_node == 6.0
    assert parse_job(res(cpusOptions=[2, 6], memory=1)).total_cpus == 6
    assert parse_job(res(cpusRange=[1, 8], memory=1, totalCpusRange=[8, 40])).total_cpus == 40


def test_workflow_jobs_need_names_and_may_lack_runtime():
    with pytest.raises(SpecError, match="all jobs must have names"):
        parse_job(job(), in_workflow=True)
    with pytest.raises(SpecError, match="names of jobs in workflows cannot be empty"):
        parse_job(job(name=""), in_workflow=True)
    parsed = parse_job(job(name="a"), in_workflow=True)
    assert parsed.tasks[0].runtime == "singularity"
    assert parse_job(job()).name == ""


def test_is_pydantic_model():
    assert isinstance(parse_job(job()), JobDescription)


@pytest.mark.parametrize("kind", ["openmpi", "mpich", "intelmpi"])
def test_mpi_tasks_on_more_than_one_node_are_refused(kind):
    body = job(tasks=[{"image": "x", "cmd": "./a"}, {"image": "x", "type": kind, "cmd": "./b"}])
    check_supported(parse_job(body))
    body["resources"]["nodes"] = 2
    with pytest.raises(SpecError) as err:
        check_supported(parse_job(body))
    assert err.value.message == f"tasks of type {kind} on more than one node are not supported by this server yet"


def test_sidecar_tasks_and_basic_tasks_on_several_nodes_are_accepted():
    check_supported(parse_job(job(tasks=[{"image": "x", "cmd": "./a"}, {"image": "x", "type": "sidecar"}])))
    body = job(tasks=[{"image": "x", "cmd": "./a"}])
    body["resources"]["nodes"] = 2
    check_supported(parse_job(body))


def test_a_job_with_storage_is_refused_rather_than_run_without_its_mount():
    with pytest.raises(SpecError, match="storage .OneData mounts. is not supported by this server"):
        check_mountable(parse_job(storage()))
