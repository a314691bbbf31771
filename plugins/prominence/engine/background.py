"""A daemon thread of the api-server started the first time it is wanted: the api-server's
background work (dispatch, workflow release) begins with its first use, in whichever process."""

from __future__ import annotations

import threading
from collections.abc import Callable


class LazyThread:
    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._target, self._name = target, name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless this process started it already."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
                self._thread.start()
