"""Timeouts kept by the kernel (SO_RCVTIMEO, SO_SNDTIMEO) on a blocking socket, instead of Python's.

A socket given a timeout with `settimeout` makes CPython poll() before every send and receive: two
system calls where one does. A write that fails over sends and receives about ten times (PostgreSQL,
SNS, the outbox's mark), so the polls were a fifth of its system calls. With the bound set in the
kernel a blocked call still gives up after the same time, and is then raised as `TimeoutError`, as
`settimeout`'s would be.
"""

from __future__ import annotations

import io
import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Buffer


def bound_in_kernel(sock: socket.socket, seconds: float) -> None:
    """Make `sock` blocking, each receive and send bounded by `seconds` (a connected socket: connect
    keeps the timeout it was given)."""
    whole = int(seconds)
    interval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)
    sock.settimeout(None)


def timed_out(exc: OSError) -> bool:
    """Whether a call on a socket bounded in the kernel failed because its time ran out: EAGAIN, which
    TLS reports as wanting to read or write."""
    if isinstance(exc, BlockingIOError):
        return True
    import ssl  # already imported wherever a socket speaks TLS

    return isinstance(exc, ssl.SSLWantReadError | ssl.SSLWantWriteError)


class _KernelTimed(io.RawIOBase):
    """A socket as a raw stream whose timeouts raise (SocketIO would report EAGAIN as "no data yet")."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer, /) -> int:
        return _bounded(self._sock.recv_into, buffer)

    def write(self, data: Buffer, /) -> int:
        return _bounded(self._sock.send, data)


def _bounded(call: Callable[[Buffer], int], data: Buffer) -> int:
    """`call(data)`, its time running out raised as `TimeoutError`."""
    try:
        return call(data)
    except OSError as exc:
        if timed_out(exc):
            raise TimeoutError("timed out") from exc
        raise


def buffered_stream(sock: socket.socket, size: int = 8192) -> io.BufferedRWPair:
    """What `sock.makefile("rwb")` gives, over a socket bounded in the kernel."""
    raw = _KernelTimed(sock)
    return io.BufferedRWPair(raw, raw, size)
