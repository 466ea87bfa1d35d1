"""An SNS that accepts every PublishBatch at once and keeps nothing: the hot-path bench's stack
publishes to it, so that the CPU measured is the product's (the deployed shape: SNS is AWS's), not
a local emulator's that falls behind under load. Its own CPU is reported apart.

`python -m bench.sns_sink PORT` serves until killed; it answers the query protocol botocore speaks."""

from __future__ import annotations

import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed ACK on a kept-alive connection's small writes

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        ids = [
            v
            for k, v in form.items()
            if k.startswith("PublishBatchRequestEntries.member.") and k.endswith(".Id")
        ]
        members = "".join(f"<member><Id>{i}</Id><MessageId>{uuid.uuid4()}</MessageId></member>" for i in ids)
        body = (
            '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
            f"<Successful>{members}</Successful><Failed/></PublishBatchResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></PublishBatchResponse>"
        ).encode()
        # the status line, headers and body in one write, as one segment, as AWS's answer comes
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
