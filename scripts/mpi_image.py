#!/usr/bin/env python3
"""Build a small MPI test image from this host's Debian packages and push it to a registry.

    mpi_image.py FLAVOUR REGISTRY_HOSTPORT [CACHE_DIR]      (FLAVOUR: openmpi or mpich)

The rootfs is the files of the installed packages `openmpi-bin` (or `mpich`) and `bash` and of
everything they depend on (`dpkg -L`, docs left out), `/usr/bin/mpirun` pointing at the
flavour's, and `/usr/local/bin/mpi-hello`, a C program compiled with the flavour's `mpicc` that
prints `hello from rank R of N` (and OMP_NUM_THREADS). The OCI layout is built once per cache
dir (default ~/.cache/prominence/mpi-image-FLAVOUR-<hash of this script>), as building takes a while; each call then
only pushes it (skopeo skips blobs the registry has). The last line printed is the image
reference. Needs what `scripts/install-system.sh` installs (openmpi-bin, mpich and their -dev packages,
umoci, skopeo).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HELLO = r"""
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int rank, size;
    const char *threads = getenv("OMP_NUM_THREADS");
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    printf("hello from rank %d of %d (OMP_NUM_THREADS=%s)\n", rank, size, threads ? threads : "unset");
    MPI_Finalize();
    return 0;
}
"""
PACKAGES = {"openmpi": "openmpi-bin", "mpich": "mpich"}
# Dependencies one node's ranks never use, left out with what only they need (libicu, X11...):
# hwloc's optional plugins (dlopened when present), ssh (remote nodes), account tools.
UNFOLLOWED = {"libhwloc-plugins", "openssh-client", "adduser", "passwd", "debconf"}
SKIPPED = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/", "/usr/share/lintian/")
TAG = "latest"


def run(*argv: str, **kwargs) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def installed(package: str) -> bool:
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True).stdout
    return status.endswith(" installed")


def closure(roots: list[str]) -> set[str]:
    """The installed packages `roots` need, following Depends and Pre-Depends (first installed
    alternative) but not into UNFOLLOWED."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        package = todo.pop()
        if package in seen or package in UNFOLLOWED:
            continue
        seen.add(package)
        fields = run("dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", package)
        for alternatives in filter(None, (a.strip() for a in fields.split(","))):
            names = [re.split(r"[ (:]", choice.strip())[0] for choice in alternatives.split("|")]
            todo += next(([n] for n in names if installed(n)), [])
    return seen


def alternatives(files: set[str]) -> list[str]:
    """The update-alternatives links (not in `dpkg -L`) that lead to `files`, e.g. libpsm's."""
    links = []
    for directory in {os.path.dirname(f) for f in files}:
        for entry in os.scandir(directory):
            target = os.readlink(entry.path) if entry.is_symlink() else ""
            if target.startswith("/etc/alternatives/") and os.path.realpath(entry.path) in files:
                links += [entry.path, target]
    return links


def build(flavour: str, layout: Path) -> None:
    work = layout.parent / f"build.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run("umoci", "init", "--layout", str(work / "oci"))
    run("umoci", "new", "--image", f"{work / 'oci'}:{TAG}")
    run("umoci", "unpack", "--image", f"{work / 'oci'}:{TAG}", str(work / "bundle"))
    rootfs = work / "bundle" / "rootfs"
    files = sorted({line for p in closure([PACKAGES[flavour], "bash"]) for line in run("dpkg", "-L", p).splitlines()})
    # Merged /usr: /bin/x is /usr/bin/x; the links bin -> usr/bin etc. are made below.
    real = {os.path.join(os.path.realpath(os.path.dirname(f)), os.path.basename(f)) for f in files}
    wanted = sorted(
        f for f in real if not f.startswith(SKIPPED) and (os.path.isfile(f) or os.path.islink(f)) and not os.path.isdir(f)
    )
    wanted += alternatives(set(wanted))
    # tar keeps links and modes; --no-recursion: the list names every file itself.
    tar = subprocess.Popen(
        ["tar", "-C", "/", "--no-recursion", "-cf", "-", "-T", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    untar = subprocess.Popen(["tar", "-C", str(rootfs), "-xf", "-"], stdin=tar.stdout)
    tar.stdin.write("".join(f.lstrip("/") + "\n" for f in wanted).encode())
    tar.stdin.close()
    if untar.wait() or tar.wait():
        raise SystemExit("copying the packages' files failed")
    for name in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{name}"):
            (rootfs / name).symlink_to(os.readlink(f"/{name}"))
    for name in ("tmp", "home", "proc", "sys", "dev", "etc", "usr/local/bin"):
        (rootfs / name).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    for link in ("mpirun", "mpiexec"):
        (rootfs / "usr/bin" / link).unlink(missing_ok=True)
        (rootfs / "usr/bin" / link).symlink_to(f"{link}.{flavour}")
    (rootfs / "bin/sh").unlink(missing_ok=True)
    (rootfs / "bin/sh").symlink_to("bash")
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (rootfs / "etc/group").write_text("root:x:0:\n")
    (work / "hello.c").write_text(HELLO)
    run(f"mpicc.{flavour}", "-O2", "-o", str(rootfs / "usr/local/bin/mpi-hello"), str(work / "hello.c"))
    run("umoci", "repack", "--image", f"{work / 'oci'}:{TAG}", str(work / "bundle"))
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    run("umoci", "config", "--image", f"{work / 'oci'}:{TAG}", "--config.cmd", "/bin/bash", "--config.env", path)
    run("umoci", "gc", "--layout", str(work / "oci"))
    (work / "oci").rename(layout)
    shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] not in PACKAGES:
        print(__doc__, file=sys.stderr)
        return 2
    flavour, registry = argv[0], argv[1]
    # Keyed by this script's content: a changed recipe builds anew.
    recipe = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    cache = Path(argv[2]) if len(argv) == 3 else Path.home() / ".cache" / "prominence" / f"mpi-image-{flavour}-{recipe}"
    missing = [p for p in (PACKAGES[flavour], "libopenmpi-dev" if flavour == "openmpi" else "libmpich-dev") if not installed(p)]
    if missing:
        print(f"missing packages {' '.join(missing)}: run scripts/install-system.sh", file=sys.stderr)
        return 1
    layout = cache / "oci"
    if not (layout / "index.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        build(flavour, layout)
    ref = f"{registry}/prominence/{flavour}:{TAG}"
    run("skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{TAG}", f"docker://{ref}")
    print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
