"""Structured logs: UTC timestamps, and a level read when the layer is first used, not at import."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

from proxy_failover.observability import JsonFormatter

from tests.helpers import ROOT


def test_timestamps_are_utc_as_their_z_says():
    record = logging.LogRecord("proxy_failover.x", logging.INFO, __file__, 1, "hello", None, None)
    record.created = 1_800_000_000.25  # 2027-01-15T08:00:00.250Z
    record.msecs = 250
    line = json.loads(JsonFormatter().format(record))
    assert line["timestamp"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + ".250Z"
    assert line["timestamp"] == "2027-01-15T08:00:00.250Z"


def test_the_log_level_set_after_import_is_honoured():
    # Given a program that imports the layer first and sets LOG_LEVEL afterwards (as `make bench` does)
    program = """
import os, json, importlib.util
spec = importlib.util.spec_from_file_location("app", "functions/openapi/app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
os.environ["LOG_LEVEL"] = "WARNING"
event = {"rawPath": "/openapi.json", "requestContext": {"http": {"method": "GET"}}}
assert app.handler(event, None)["statusCode"] == 200
"""
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "shared"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    # Then the request's INFO line is not written
    assert '"level": "INFO"' not in done.stdout, done.stdout


LAMBDA = """
import os, json, importlib.util, sys
spec = importlib.util.spec_from_file_location("app", "functions/openapi/app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)

class Context:
    function_name = "OpenApiFunction"
    def __init__(self, request_id):
        self.aws_request_id = request_id

for n in (1, 2):
    os.environ["_X_AMZN_TRACE_ID"] = f"Root=1-67890abc-00000000000000000000000{n};Parent=53995c3f42cd8ad8;Sampled=1"
    event = {"rawPath": "/openapi.json", "requestContext": {"http": {"method": "GET"}, "requestId": f"api-{n}"}}
    assert app.handler(event, Context(f"lambda-{n}"))["statusCode"] == 200
"""


def test_every_line_of_an_invocation_carries_what_lambda_users_filter_on():
    done = subprocess.run(
        [sys.executable, "-c", LAMBDA],
        cwd=ROOT,
        env={
            "PYTHONPATH": str(ROOT / "shared"),
            "PATH": "/usr/bin:/bin",
            "POWERTOOLS_SERVICE_NAME": "edge-control",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    first, second = (json.loads(line) for line in done.stdout.splitlines() if '"message": "request"' in line)
    assert first["cold_start"] is True and second["cold_start"] is False
    for n, line in ((1, first), (2, second)):
        assert line["function_name"] == "OpenApiFunction"
        assert line["function_request_id"] == f"lambda-{n}"
        assert line["xray_trace_id"] == f"1-67890abc-00000000000000000000000{n}"
        assert line["correlation_id"] == f"api-{n}"
        assert line["service"] == "edge-control"
