"""Reading an HTTP/1.x answer as RFC 9112 frames it, incrementally and with bounds, pure: a probe's
answer, and SNS's to a publish.

What a health check needs of an answer: its final status (interim 1xx answers, such as `100 Continue`
sent unasked or `103 Early Hints`, come before it and are skipped), and, when the probe looks for text,
the first 64 KiB of its body as the sender meant it: a chunked body decoded, a `Content-Length` body
that many bytes, any other read until the connection closes (RFC 9112, section 6.3). Lines may end in
CRLF or, as a recipient may accept, a bare LF. A header section over 64 KiB, a malformed status line or
chunk size is no answer we read (unhealthy).

No parser library: this is the subset a probe reads, with no object per header, and it costs about what
the first-line scan it replaced did (bench: probe answer parsing).
"""

from __future__ import annotations

import re

BODY_LIMIT = 64 * 1024  # how much of a body `bodyContains` looks at
HEAD_LIMIT = 64 * 1024  # status line and headers of one answer, interim ones each on their own
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: .*)?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")

# Where the reader is.
_STATUS, _HEADERS, _LENGTH, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(
    9
)


class HttpAnswer:
    """Feed it bytes as they come (`feed`) and the end of the connection (`closed`); `done` once the
    probe can be judged. Then `status` is the final status (None: not an HTTP answer) and `body` the
    start of the body (with `want_body`), or `error` says what was wrong."""

    __slots__ = (
        "_buffer",
        "_chunk_left",
        "_closes",
        "_framing",
        "_head_size",
        "_interim",
        "_state",
        "body",
        "error",
        "status",
        "want_body",
    )

    def __init__(self, want_body: bool) -> None:
        self.want_body = want_body
        self.status: int | None = None
        self.body = b""
        self.error: str | None = None
        self._buffer = b""
        self._state = _STATUS
        self._head_size = 0
        self._chunk_left = 0
        self._framing: tuple[str, int] = ("close", 0)  # ("length", n) | ("chunked", 0) | ("close", 0)
        self._interim = False  # the head being read is a 1xx answer's
        self._closes = False  # the sender ends the connection after this answer

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def reusable(self) -> bool:
        """The answer was read whole and the connection may carry the next request (HTTP/1.1 without
        `Connection: close`, its body framed by length or chunks and within the body limit)."""
        return (
            self.done
            and self.status is not None
            and not self._closes
            and self._framing[0] != "close"
            and len(self.body) < BODY_LIMIT
        )

    def feed(self, data: bytes) -> bool:
        """More of the answer; True once it can be judged (later bytes are ignored)."""
        if self._state == _DONE:
            return True
        self._buffer += data
        while self._state != _DONE and self._step():
            pass
        return self._state == _DONE

    def closed(self) -> None:
        """The connection ended: a body read until close is complete; anything else is cut short."""
        self._closes = True
        if self._state == _DONE:
            return
        if self._state == _UNTIL_CLOSE:
            self._finish()
        elif self.status is not None and self._state in {_LENGTH, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_END}:
            self._finish()  # what came of the body is what there is to look at
        else:
            self._fail("the connection closed before the answer's head was complete")

    # ---- the states -------------------------------------------------------------------------------

    def _step(self) -> bool:
        """Advance by what the buffer holds; False when it needs more bytes."""
        state = self._state
        if state == _STATUS:
            return self._status_line()
        if state == _HEADERS:
            return self._header_line()
        if state == _TRAILERS:
            line = self._line()
            if line is None:
                return False
            if line == b"":
                self._finish()
            return True
        return self._body()

    def _line(self) -> bytes | None:
        """The next line without its ending, or None until one is complete (head bytes are bounded)."""
        end = self._buffer.find(b"\n")
        if end < 0:
            if self._head_size + len(self._buffer) > HEAD_LIMIT:
                self._fail("no end of the answer's head in 64 KiB")
            return None
        line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        self._head_size += end + 1
        if self._head_size > HEAD_LIMIT:
            self._fail("no end of the answer's head in 64 KiB")
            return None
        return line[:-1] if line.endswith(b"\r") else line

    def _status_line(self) -> bool:
        line = self._line()
        if line is None:
            return False
        found = _STATUS_LINE.fullmatch(line)
        if found is None:
            self._fail("not an HTTP response")
            return True
        status = int(found.group(3))
        self._closes = found.group(1, 2) != (b"1", b"1")
        if 100 <= status < 200 and status != 101:
            self._state = _HEADERS  # an interim answer: its header lines, then the next status line
            self._interim = True
            return True
        self.status = status
        if not self.want_body:
            self._finish()
            return True
        self._state = _HEADERS
        self._interim = False
        return True

    def _header_line(self) -> bool:
        line = self._line()
        if line is None:
            return False
        if line != b"":
            if not self._interim:
                self._header(line)
            return True
        if self._interim:  # the interim answer is over: a new head follows, with its own bound
            self._state, self._head_size = _STATUS, 0
            return True
        self._head_done()
        return True

    def _header(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if not colon:
            return  # not a field line (an obsolete fold, say): nothing a probe needs
        name = name.strip().lower()
        if name == b"connection" and b"close" in value.lower():
            self._closes = True
        elif name == b"transfer-encoding":
            codings = [c.strip().lower() for c in value.split(b",") if c.strip()]
            self._framing = ("chunked", 0) if codings and codings[-1] == b"chunked" else ("close", 0)
        elif name == b"content-length" and self._framing[0] != "chunked":
            # Transfer-Encoding overrides Content-Length (RFC 9112 6.3); several equal values are one.
            values = {v.strip() for v in value.split(b",")}
            only = values.pop() if len(values) == 1 else b""
            if only.isdigit():
                self._framing = ("length", int(only))

    def _head_done(self) -> None:
        assert self.status is not None
        kind, length = self._framing
        if self.status in {204, 304}:
            self._finish()
        elif kind == "chunked":
            self._state = _CHUNK_SIZE_LINE
        elif kind == "length":
            self._chunk_left = length
            self._state = _LENGTH
            if length == 0:
                self._finish()
        else:
            self._state = _UNTIL_CLOSE

    def _body(self) -> bool:
        state = self._state
        if state == _UNTIL_CLOSE:
            self._take(len(self._buffer))
            return False
        if state == _LENGTH:
            if not self._buffer:
                return False
            self._take(min(len(self._buffer), self._chunk_left))
            if self._chunk_left == 0:
                self._finish()
            return True
        if state == _CHUNK_SIZE_LINE:
            line = self._chunk_line()
            if line is None:
                return False
            size_text = line.split(b";", 1)[0].strip()
            if _CHUNK_SIZE.fullmatch(size_text) is None:
                self._fail("a chunk size that is not hexadecimal")
                return True
            self._chunk_left = int(size_text, 16)
            self._state = _CHUNK_DATA if self._chunk_left else _TRAILERS
            return True
        if state == _CHUNK_DATA:
            if not self._buffer:
                return False
            self._take(min(len(self._buffer), self._chunk_left))
            if self._chunk_left == 0 and self._state != _DONE:
                self._state = _CHUNK_END
            return True
        # _CHUNK_END: the line ending after a chunk's data
        line = self._chunk_line()
        if line is None:
            return False
        if line != b"":
            self._fail("a chunk's data is longer than its size")
            return True
        self._state = _CHUNK_SIZE_LINE
        return True

    def _chunk_line(self) -> bytes | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > 1024:  # a chunk-size line with extensions beyond reason
                self._fail("a chunk-size line over 1 KiB")
            return None
        line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        return line[:-1] if line.endswith(b"\r") else line

    def _take(self, count: int) -> None:
        """`count` body bytes off the buffer; the answer is done once the body limit is reached."""
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        self._chunk_left -= count
        room = BODY_LIMIT - len(self.body)
        self.body += data[:room]
        if len(self.body) >= BODY_LIMIT:
            self._finish()

    def _finish(self) -> None:
        self._state = _DONE
        self._buffer = b""

    def _fail(self, why: str) -> None:
        self.error = why
        self.status = None
        self._finish()
