"""Sockets whose timeouts the kernel keeps: a peer that never answers, or never reads, still ends the
call within the bound, as `TimeoutError`; data and end of stream pass as through `makefile`."""

from __future__ import annotations

import socket
import time

import pytest
from proxy_failover.kernel_timeouts import bound_in_kernel, buffered_stream


def _pair(seconds: float) -> tuple[socket.socket, socket.socket]:
    ours, peer = socket.socketpair()
    bound_in_kernel(ours, seconds)
    return ours, peer


def test_a_peer_that_never_answers_times_out_within_the_bound():
    ours, peer = _pair(0.2)
    stream = buffered_stream(ours)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        stream.read(5)
    assert 0.15 <= time.monotonic() - started < 2.0
    ours.close()
    peer.close()


def test_a_peer_that_never_reads_times_out_the_write_within_the_bound():
    ours, peer = _pair(0.2)
    stream = buffered_stream(ours)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        for _ in range(10_000):  # until the kernel's buffers are full
            stream.write(b"x" * 65536)
            stream.flush()
    assert time.monotonic() - started < 5.0
    ours.close()
    peer.close()


def test_data_and_the_end_of_the_stream_pass_through():
    ours, peer = _pair(1.0)
    stream = buffered_stream(ours)
    stream.write(b"ping")
    stream.flush()
    assert peer.recv(4) == b"ping"
    peer.sendall(b"pong")
    assert stream.read(4) == b"pong"
    peer.close()
    assert stream.read(1) == b""
    ours.close()


def test_a_plain_recv_on_a_bounded_socket_raises_an_os_error_on_timeout():
    """What the SNS client reads with: its caller takes any OSError as "unreachable"."""
    ours, peer = _pair(0.2)
    with pytest.raises(OSError):
        ours.recv(10)
    ours.close()
    peer.close()
