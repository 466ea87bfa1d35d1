"""The probe's reading of an HTTP answer (RFC 9112): the final status after interim 1xx answers, the
body as framed (chunked, Content-Length, until close), bounded head and body; whichever way the bytes
arrive, one at a time or all at once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proxy_failover.http_answer import BODY_LIMIT, HEAD_LIMIT, HttpAnswer


def read(raw: bytes, *, want_body: bool = True, piece: int = 0, close: bool = True) -> HttpAnswer:
    answer = HttpAnswer(want_body)
    step = piece or len(raw) or 1
    for start in range(0, len(raw), step):
        if answer.feed(raw[start : start + step]):
            break
    if close:
        answer.closed()
    return answer


def chunked(body: bytes, size: int) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_decoded_before_the_text_is_looked_for():
    # Given a body sent in 1-byte chunks whose text lies at offset 20,000 (220 KB on the wire)
    body = b"x" * 20_000 + b"READY" + b"y" * 100
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, 1)
    # When it is read, a byte at a time
    answer = read(raw, piece=1, close=False)
    # Then the decoded body holds the text, and the answer was complete without the close
    assert answer.done and answer.status == 200 and b"READY" in answer.body
    assert answer.body == body


def test_an_answer_without_header_lines_has_its_body():
    answer = read(b"HTTP/1.0 200 OK\r\n\r\nREADY")
    assert answer.status == 200 and answer.body == b"READY"


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n",
    ],
)
@pytest.mark.parametrize("want_body", [True, False])
def test_interim_answers_are_skipped_for_the_final_status(interim, want_body):
    raw = interim + b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
    answer = read(raw, want_body=want_body, piece=7)
    assert answer.status == 503
    assert answer.body == (b"busy" if want_body else b"")


def test_content_length_bounds_the_body_and_ends_the_answer_without_a_close():
    answer = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more", close=False)
    assert answer.done and answer.body == b"hello"


def test_transfer_encoding_wins_over_content_length():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked(
        b"abcdef", 2
    )
    assert read(raw).body == b"abcdef"


def test_a_body_read_until_close_is_complete_only_at_the_close():
    answer = HttpAnswer(True)
    assert not answer.feed(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\npart one, ")
    assert not answer.feed(b"part two")
    answer.closed()
    assert answer.done and answer.body == b"part one, part two"


def test_bare_line_feeds_are_line_endings():
    answer = read(b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nok")
    assert answer.status == 200 and answer.body == b"ok"


def test_no_content_answers_have_no_body():
    answer = read(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", close=False)
    assert answer.done and answer.status == 204 and answer.body == b""


def test_the_body_is_read_to_its_first_64_kib():
    raw = b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * (BODY_LIMIT + 10_000)
    answer = read(raw, close=False)
    assert answer.done and len(answer.body) == BODY_LIMIT


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * HEAD_LIMIT + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    ],
)
def test_what_is_not_an_http_answer_has_no_status(raw):
    answer = read(raw)
    assert answer.status is None and answer.error


def test_a_head_cut_short_by_the_close_is_no_answer():
    answer = read(b"HTTP/1.1 200 OK\r\nContent-Le")
    assert answer.status is None and "closed" in (answer.error or "")


def test_a_bounded_head_without_a_line_end_is_refused_before_the_limit_is_buffered_twice():
    answer = HttpAnswer(True)
    assert answer.feed(b"HTTP/1.1 200 OK\r\nX: " + b"y" * (HEAD_LIMIT + 1))
    assert answer.status is None


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=3000),
    chunk=st.integers(min_value=1, max_value=700),
    piece=st.integers(min_value=1, max_value=400),
    framing=st.sampled_from(["chunked", "length", "close"]),
    interim=st.booleans(),
)
def test_any_split_of_the_bytes_reads_the_same_answer(body, chunk, piece, framing, interim):
    head = b"HTTP/1.1 100 Continue\r\n\r\n" if interim else b""
    if framing == "chunked":
        raw = head + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, chunk)
    elif framing == "length":
        raw = head + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    else:
        raw = head + b"HTTP/1.1 200 OK\r\n\r\n" + body
    whole, pieces = read(raw), read(raw, piece=piece)
    assert whole.status == pieces.status == 200
    assert whole.body == pieces.body == body


@pytest.mark.parametrize(
    ("raw", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    ],
)
def test_an_answer_read_whole_says_whether_its_connection_may_carry_another(raw, reusable):
    answer = HttpAnswer(want_body=True)
    assert answer.feed(raw)
    assert (answer.status, answer.body, answer.reusable) == (200, b"ok" if b"ok" in raw else b"", reusable)


def test_an_answer_read_until_close_or_cut_short_is_never_reused():
    until_close = HttpAnswer(want_body=True)
    until_close.feed(b"HTTP/1.1 200 OK\r\n\r\nok")
    until_close.closed()
    cut = HttpAnswer(want_body=True)
    cut.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok")
    assert not cut.reusable
    cut.closed()
    assert until_close.status == cut.status == 200
    assert not until_close.reusable and not cut.reusable
