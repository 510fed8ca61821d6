"""Sockets on fresh 127.0.0.1 ports for the servers a test starts, never one port twice a run.

A port chosen for a process that binds it later is free again until that process starts; the
kernel may meanwhile hand it to the next socket bound to port 0 (an in-thread server, say), and
then two servers would share one URL. Every port given out here is remembered, and a socket the
kernel binds to a remembered port is bound again.
"""

from __future__ import annotations

import socket
import threading

_GIVEN: set[int] = set()
_LOCK = threading.Lock()


def claim(sock: socket.socket) -> bool:
    """Record ``sock``'s port as given out; False if it was given out before."""
    port = int(sock.getsockname()[1])
    with _LOCK:
        if port in _GIVEN:
            return False
        _GIVEN.add(port)
        return True


def bound_socket(reuse: bool = True) -> socket.socket:
    """A TCP socket bound to a fresh 127.0.0.1 port, kept by the caller; ``reuse`` sets
    ``SO_REUSEADDR`` (a server restarted on it binds again at once)."""
    refused: list[socket.socket] = []
    try:
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if reuse:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            if claim(sock):
                return sock
            refused.append(sock)  # held until a fresh port comes, so the kernel moves on
    finally:
        for sock in refused:
            sock.close()
