"""The README's walk-through, as steps a program runs: each request as the README shows it (curl), and
the answer it must get. `python -m local.walkthrough --url http://127.0.0.1:3000` runs it against a
stack (a test does, with the scheduled sweep running between the steps); `--readme` prints the
README's block; `--write-readme` / `--check-readme` keep the README in step (`make openapi`,
`make lint`). One declaration: what the README says is what is run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
ANY = object()  # an expectation on a field's presence only


class Step(NamedTuple):
    say: str  # the comment above the command
    method: str
    path: str  # {NAME}: a value kept by an earlier step
    body: dict[str, Any] | None = None
    admin: bool = False
    headers: dict[str, str] = {}
    status: int = 200
    # dotted paths into the answer -> the value expected ("data.0.id"; "data.*.eventType": one of them)
    expect: dict[str, Any] = {}
    # NAME -> the dotted path (or "header:ETag") whose value later steps use as {NAME}
    keep: dict[str, str] = {}


PROXY = "edge-1"
STEPS = [
    Step(
        "settings for proxy edge-1 (fields not given keep their defaults; failback here waits for an hour of"
        " health, so this walk-through switches back by hand)",
        "POST",
        "/proxy/failover/config",
        {
            "proxyId": PROXY,
            "config": {
                "unhealthyThreshold": 2,
                "healthCheckIntervalSeconds": 5,
                "healthCheckTimeoutSeconds": 2,
                "failbackHoldDownSeconds": 3600,
            },
        },
        status=201,
        expect={
            "data.unhealthyThreshold": 2,
            "data.healthyThreshold": 2,
            "data.failoverStrategy": "priority",
        },
    ),
    Step(
        "two instances; the first one registered is active",
        "POST",
        "/proxy/instances",
        {"proxyId": PROXY, "instanceData": {"instanceName": "a", "priority": 1}},
        status=201,
        expect={"data.isActive": True, "data.healthStatus": "unknown"},
        keep={"A": "data.id"},
    ),
    Step(
        "",
        "POST",
        "/proxy/instances",
        {"proxyId": PROXY, "instanceData": {"instanceName": "b", "priority": 2}},
        status=201,
        expect={"data.isActive": False},
        keep={"B": "data.id"},
    ),
    Step(
        "listed by priority",
        "GET",
        f"/proxy/{PROXY}/instances",
        expect={"data.0.id": "{A}", "data.1.id": "{B}"},
    ),
    Step(
        "another service reports health: one check result each",
        "PUT",
        "/proxy/instances/{A}/health",
        {"healthStatus": "healthy"},
        expect={"data.healthStatus": "healthy"},
    ),
    Step(
        "",
        "PUT",
        "/proxy/instances/{B}/health",
        {"healthStatus": "healthy"},
        expect={"data.healthStatus": "healthy"},
    ),
    Step(
        "a's first failure is counted, not yet enough (unhealthyThreshold 2)",
        "PUT",
        "/proxy/instances/{A}/health",
        {"healthStatus": "unhealthy", "metrics": {"cpuPercent": 99}},
        expect={"data.healthStatus": "healthy", "data.consecutiveFailures": 1},
    ),
    Step(
        "should the proxy fail over? (evaluate changes nothing)",
        "POST",
        "/proxy/failover/evaluate",
        {"proxyId": PROXY},
        expect={"data.shouldFailover": False, "data.reason": "active_instance_healthy"},
    ),
    Step(
        "the second failure reaches the threshold: the proxy fails over at once (auto-failover is on)",
        "PUT",
        "/proxy/instances/{A}/health",
        {"healthStatus": "unhealthy"},
        expect={"data.healthStatus": "unhealthy", "data.isActive": False},
    ),
    Step(
        "the ledger: the failover, and a's recovery cycle",
        "GET",
        f"/proxy/{PROXY}/failover/events",
        expect={"data.*.eventType": "failover", "data.*.targetInstanceId": "{B}"},
    ),
    Step(
        "the posture: b carries the traffic, with no healthy backup",
        "GET",
        f"/proxy/{PROXY}/redundancy",
        expect={
            "data.activeInstanceId": "{B}",
            "data.isDegraded": True,
            "data.degradedReasons.*": "no_healthy_backup",
        },
    ),
    Step(
        "a is repaired: two healthy checks (healthyThreshold 2) and it is healthy again",
        "PUT",
        "/proxy/instances/{A}/health",
        {"healthStatus": "healthy"},
        expect={"data.healthStatus": "unhealthy", "data.consecutiveSuccesses": 1},
    ),
    Step(
        "",
        "PUT",
        "/proxy/instances/{A}/health",
        {"healthStatus": "healthy"},
        expect={"data.healthStatus": "healthy"},
    ),
    Step(
        "an operator switches back (admin): the event is in progress until completed",
        "POST",
        "/proxy/failover/execute",
        {"proxyId": PROXY, "sourceInstanceId": "{B}", "targetInstanceId": "{A}", "reason": "a repaired"},
        admin=True,
        expect={"data.eventType": "failover", "data.status": "in_progress", "data.targetInstanceId": "{A}"},
        keep={"EVENT": "data.id"},
    ),
    Step(
        "",
        "PUT",
        "/proxy/failover/events/{EVENT}/complete",
        {"status": "completed"},
        admin=True,
        expect={"data.status": "completed", "data.completedAt": ANY},
    ),
    Step(
        "what the data plane asks: where to send the proxy's traffic (with an ETag)",
        "GET",
        f"/proxy/{PROXY}/route",
        expect={"data.activeInstanceId": "{A}", "data.targets.0.share": 1},
        keep={"ETAG": "header:ETag"},
    ),
    Step(
        "asked again with that tag: 304, no body, while the answer is the same",
        "GET",
        f"/proxy/{PROXY}/route",
        headers={"If-None-Match": "{ETAG}"},
        status=304,
    ),
    Step(
        "day two: change an instance (only the fields given; null clears): its data-plane endpoint and"
        " probe options",
        "PATCH",
        "/proxy/instances/{A}",
        {"endpoint": "10.0.3.7:8443", "probe": {"expectedStatus": "200-299,304", "bodyContains": "ok"}},
        expect={"data.endpoint": "10.0.3.7:8443", "data.probe.bodyContains": "ok"},
    ),
    Step(
        "maintenance for an hour: the proxy is first moved off the active instance; no alerts meanwhile",
        "PUT",
        "/proxy/instances/{A}/maintenance",
        {"durationSeconds": 3600, "reason": "kernel patch"},
        expect={"data.isActive": False, "data.maintenance.reason": "kernel patch"},
    ),
    Step("", "GET", f"/proxy/{PROXY}/route", expect={"data.activeInstanceId": "{B}"}),
    Step(
        "maintenance over: a is a backup again",
        "DELETE",
        "/proxy/instances/{A}/maintenance",
        expect={"data.maintenance": None},
    ),
    Step(
        "a report retried with the same Idempotency-Key counts once (the same answer, twice)",
        "PUT",
        "/proxy/instances/{B}/health",
        {"healthStatus": "healthy"},
        headers={"Idempotency-Key": "7d1c-0001"},
        keep={"CHECKS": "data.consecutiveSuccesses"},
    ),
    Step(
        "",
        "PUT",
        "/proxy/instances/{B}/health",
        {"healthStatus": "healthy"},
        headers={"Idempotency-Key": "7d1c-0001"},
        expect={"data.consecutiveSuccesses": "{CHECKS}"},
    ),
    Step(
        "instances that report rather than being probed: noticed when they fall silent for 2 minutes",
        "POST",
        "/proxy/failover/config",
        {"proxyId": PROXY, "config": {"reportTtlSeconds": 120}},
        status=201,
        expect={"data.reportTtlSeconds": 120, "data.unhealthyThreshold": 2},
    ),
    Step(
        "who changed the configuration, and what: a version per POST that changed something",
        "GET",
        f"/proxy/failover/config/{PROXY}/history?limit=10",
        expect={"data.0.version": 2, "data.0.changes.reportTtlSeconds.to": 120, "data.1.version": 1},
    ),
    Step(
        "what would a failover do? the same checks, nothing changed or published",
        "POST",
        "/proxy/failover/execute",
        {
            "proxyId": PROXY,
            "sourceInstanceId": "{B}",
            "targetInstanceId": "{A}",
            "reason": "check",
            "dryRun": True,
        },
        admin=True,
        expect={"data.dryRun": True, "data.targetInstanceId": "{A}"},
    ),
    Step(
        "a drill: a real switch for 5 minutes, its notifications marked drill=true (pagers can ignore"
        " them); then the scheduled run switches back, if the instance it left is healthy",
        "POST",
        "/proxy/failover/drill",
        {"proxyId": PROXY, "durationSeconds": 300, "reason": "quarterly failover drill"},
        admin=True,
        status=202,
        expect={"data.eventType": "drill", "data.status": "in_progress", "data.targetInstanceId": "{A}"},
    ),
    Step("", "GET", f"/proxy/{PROXY}/route", expect={"data.activeInstanceId": "{A}"}),
    Step(
        "deregister: the active instance only with force=true (the proxy moves to the best other first,"
        " and a drill in progress ends there)",
        "DELETE",
        "/proxy/instances/{A}?force=true",
        expect={"data.id": "{A}", "data.isActive": True},
    ),
    Step("", "GET", f"/proxy/{PROXY}/route", expect={"data.activeInstanceId": "{B}"}),
]


class Mismatch(AssertionError):
    pass


def _fill(value: Any, kept: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{([A-Z]+)\}", lambda m: kept[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, kept) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, kept) for v in value]
    return value


def _values(answer: Any, path: str) -> list[Any]:
    """The values at a dotted path; `*` takes every element of a list."""
    found = [answer]
    for part in path.split("."):
        nxt = []
        for value in found:
            if part == "*" and isinstance(value, list):
                nxt.extend(value)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                nxt.append(value[int(part)])
            elif isinstance(value, dict) and part in value:
                nxt.append(value[part])
        found = nxt
    return found


def _call(url: str, step: Step, token: str, kept: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    body = None if step.body is None else json.dumps(_fill(step.body, kept)).encode()
    request = urllib.request.Request(url + _fill(step.path, kept), data=body, method=step.method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    for name, value in step.headers.items():
        request.add_header(name, _fill(value, kept))
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - the stack given
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None, dict(error.headers)


def run(
    url: str, user_token: str, admin_token: str, *, pause: float = 0.0, echo: bool = True
) -> dict[str, str]:
    """Every step against the stack at `url`, each checked; `pause` seconds after each write (the
    scheduled sweep gets to see every state). Raises Mismatch at the first answer that differs."""
    kept: dict[str, str] = {}
    for number, step in enumerate(STEPS, 1):
        status, answer, headers = _call(url, step, admin_token if step.admin else user_token, kept)
        where = f"step {number} ({step.method} {_fill(step.path, kept)})"
        if status != step.status:
            raise Mismatch(f"{where}: status {status}, expected {step.status}: {answer}")
        for path, expected in step.expect.items():
            values = _values(answer, path)
            wanted = _fill(expected, kept)
            ok = bool(values) if wanted is ANY else any(_same(v, wanted) for v in values)
            if not ok:
                raise Mismatch(f"{where}: {path} is {values}, expected {wanted!r}: {answer}")
        for name, path in step.keep.items():
            if path.startswith("header:"):
                header = path.split(":", 1)[1].lower()
                kept[name] = next(v for k, v in headers.items() if k.lower() == header)
            else:
                kept[name] = str(_values(answer, path)[0])
        if echo:
            print(f"  ok  {where} -> {status}", flush=True)
        if pause and step.method != "GET":
            time.sleep(pause)
    return kept


def _same(value: Any, wanted: Any) -> bool:
    return value == wanted or (
        isinstance(wanted, str) and not isinstance(value, str) and str(value) == wanted
    )


# ---- the README's block ------------------------------------------------------------------------------


def _shell(step: Step) -> str:
    path = re.sub(r"\{([A-Z]+)\}", r"$\1", step.path)
    token = "$ADMIN_TOKEN" if step.admin else "$USER_TOKEN"
    parts = ["curl -s"]
    if step.status == 304 or any(v.startswith("header:") for v in step.keep.values()):
        parts = ["curl -si"]  # the status line and headers are the answer
    if step.method not in {"GET", "POST"} or (step.method == "POST" and step.body is None):
        parts.append(f"-X {step.method}")
    url = f'"$API{path}"' if "?" in path else f"$API{path}"
    parts.append(url)
    parts.append(f'-H "$(auth {token})"')
    for name, value in step.headers.items():
        shown = re.sub(r"\{([A-Z]+)\}", r"$\1", value)
        parts.append(f'-H "{name}: {shown}"' if "$" in shown else f"-H '{name}: {value}'")
    if step.body is not None:
        body = json.dumps(step.body, separators=(",", ":"))
        # a kept value inside the single-quoted body: close the quotes around the shell variable
        body = re.sub(r'"\{([A-Z]+)\}"', lambda m: '"\'"$' + m.group(1) + '"\'"', body)
        parts.append(f"-d '{body}'")
    command = " ".join(parts)
    for name, path_ in step.keep.items():
        if path_.startswith("header:"):
            header = path_.split(":", 1)[1]
            command = f"{name}=$({command} | sed -n 's/^{header}: //Ip' | tr -d '\\r')"
        else:
            command = f"{name}=$({command} | jq -r .{path_})"
    return command


def _shown(value: Any) -> str:
    if value is ANY:
        return "…"
    if isinstance(value, str) and re.search(r"\{[A-Z]+\}", value):
        return re.sub(r"\{([A-Z]+)\}", r"$\1", value)
    return json.dumps(value)


def _expected(step: Step) -> str:
    fields = ", ".join(f"{path} = {_shown(v)}" for path, v in step.expect.items())
    kept = ", ".join(f"${name} = {path}" for name, path in step.keep.items())
    return f"# -> {step.status}" + (f": {fields}" if fields else "") + (f" (keeps {kept})" if kept else "")


def readme_block() -> str:
    lines = [
        "```sh",
        "make run &                                  # prints the tokens too",
        'eval "$(make -s token | tail -2)"           # USER_TOKEN=..., ADMIN_TOKEN=...',
        "API=http://127.0.0.1:3000",
        'auth() { echo "Authorization: Bearer $1"; }',
    ]
    for step in STEPS:
        lines.append("")
        if step.say:
            lines.append(f"# {step.say}")
        lines.append(_shell(step))
        lines.append(_expected(step))
    lines += [
        "",
        "tail -f .local/notifications.jsonl          # every SNS notification, one JSON object per line",
        "```",
    ]
    return "\n".join(lines)


def _with_block(readme: str) -> str:
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{readme_block()}\n{END}{after}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--readme", action="store_true", help="print the README's block")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--check-readme", action="store_true")
    args = parser.parse_args()
    if args.readme:
        print(readme_block())
        return 0
    if args.write_readme or args.check_readme:
        current = README.read_text(encoding="utf-8")
        wanted = _with_block(current)
        if args.check_readme:
            if wanted != current:
                print("README.md's walk-through is stale: run `make openapi`", file=sys.stderr)
                return 1
            return 0
        README.write_text(wanted, encoding="utf-8")
        return 0
    from .tokens import dev_tokens

    user, admin = dev_tokens()
    run(args.url, user, admin)
    print("the walk-through holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
