"""ASGI apps served for real: uvicorn in a thread on a 127.0.0.1 socket bound up front (so the
URL is known before the server starts and a restart can reuse the port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.support.ports import bound_socket


@dataclass
class Served:
    """An ASGI app (lifespan included) under uvicorn in a thread, on ``sock``."""

    app: Any
    sock: socket.socket = field(default_factory=bound_socket)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self, timeout: float = 15.0) -> None:
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2)
        server = self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            assert time.monotonic() < deadline, f"uvicorn did not start serving on {self.url}"
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()


@contextmanager
def serve(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve ``app`` on ``sock`` (bound beforehand) or a free port; yield its base URL."""
    served = Served(app, sock or bound_socket())
    served.start()
    try:
        yield served.url
    finally:
        served.stop()
