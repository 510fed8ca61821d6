"""The tests' port registry: a port given out once is never given out again in the run, even
when the kernel offers it to the next socket bound to port 0."""

from __future__ import annotations

import socket

from tests.support.ports import bound_socket, claim
from tests.support.processes import free_port


def test_a_port_given_out_is_refused_when_the_kernel_offers_it_again() -> None:
    port = free_port()
    with socket.socket() as offered:  # what the kernel might hand the next bind to port 0
        offered.bind(("127.0.0.1", port))
        assert not claim(offered)


def test_sockets_and_free_ports_never_share_a_port() -> None:
    held = [bound_socket() for _ in range(20)]
    try:
        ports = [s.getsockname()[1] for s in held] + [free_port() for _ in range(50)]
    finally:
        for sock in held:
            sock.close()
    assert len(set(ports)) == len(ports)
