"""Configuration of the local image registry (Debian's `docker-registry`, started by the stack).

No public registry is reachable offline, so the sample image is served from a registry on
loopback; `docker-registry serve CONFIG` reads the file written here.
"""

from __future__ import annotations

import json
from pathlib import Path


def write_registry_config(path: Path, data_dir: Path, addr: str) -> None:
    """Write a minimal registry config storing blobs under `data_dir` and listening on `addr`.

    `addr` is `host:port`, e.g. `127.0.0.1:5000`; bind loopback so nothing is exposed. JSON is
    valid YAML, so no YAML library is needed. The file is replaced atomically.
    """
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}, "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(Path(data_dir).resolve())},
            "delete": {"enabled": True},
        },
        "http": {"addr": addr},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(path)
