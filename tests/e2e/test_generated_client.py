"""A client generated from the OpenAPI document, as a user would make one (openapi-python-client):
every enum is one named type wherever it appears, every field is typed, and a short program with it
passes `mypy --strict`, then runs against the local stack and reads typed answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, token

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent

PROGRAM = """
import sys
from uuid import UUID

from pfc import AuthenticatedClient
from pfc.api.admin import execute_failover
from pfc.api.proxy import create_config, get_config_history, get_redundancy, register_instance, report_health
from pfc.models import (
    ConfigFields, ConfigRequest, ConfigVersionPage, DegradedReason, ErrorAnswer, ErrorCode, EventOrDryRunAnswer,
    ExecuteRequest, HealthReport, HealthStatus, InstanceAnswer, InstanceData, IntegerChange, RedundancyAnswer,
    RedundancyLevel, RegisterRequest, Strategy,
)

user = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])
admin = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[3])
config = ConfigFields(failover_strategy=Strategy.PRIORITY, unhealthy_threshold=1)
create_config.sync(client=user, body=ConfigRequest(proxy_id="generated", config=config))
ids: list[UUID] = []
for name in ("a", "b"):
    registered = register_instance.sync(
        client=user, body=RegisterRequest(proxy_id="generated", instance_data=InstanceData(instance_name=name))
    )
    assert isinstance(registered, InstanceAnswer)
    ids.append(registered.data.id)
    reported = report_health.sync(ids[-1], client=user, body=HealthReport(health_status=HealthStatus.HEALTHY))
    assert isinstance(reported, InstanceAnswer)
    status: HealthStatus = reported.data.health_status
    assert status is HealthStatus.HEALTHY
report_health.sync(ids[0], client=user, body=HealthReport(health_status=HealthStatus.UNHEALTHY))
posture = get_redundancy.sync("generated", client=user)
assert isinstance(posture, RedundancyAnswer)
level: RedundancyLevel = posture.data.redundancy_level
reasons: list[DegradedReason] = posture.data.degraded_reasons
assert level is RedundancyLevel.DUAL and DegradedReason.NO_HEALTHY_BACKUP in reasons
history = get_config_history.sync("generated", client=user)
assert isinstance(history, ConfigVersionPage)
first = history.data[-1]
assert first.config.failover_strategy is Strategy.PRIORITY
change = first.changes.unhealthy_threshold
assert isinstance(change, IntegerChange) and change.to == 1
refused = execute_failover.sync(
    client=user,
    body=ExecuteRequest(proxy_id="generated", source_instance_id=ids[1], target_instance_id=ids[0], reason="x"),
)
assert isinstance(refused, ErrorAnswer) and refused.error.code is ErrorCode.PROXY_FAILOVER_021
moved = execute_failover.sync(
    client=admin,
    body=ExecuteRequest(proxy_id="generated", source_instance_id=ids[0], target_instance_id=ids[1], reason="x"),
)
assert not isinstance(moved, EventOrDryRunAnswer) or moved.data is not None
print("typed answers read")
"""


def generate(into: Path) -> Path:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(ROOT / "docs" / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(into / "pfc"),
        ],
        cwd=into,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return into / "pfc"


def test_a_generated_client_types_every_field_and_a_program_with_it_passes_mypy_strict(stack, tmp_path):
    package = generate(tmp_path)
    models = {p.stem for p in (package / "models").glob("*.py")}
    # one type per enum: no inline copies named after the field that holds them
    assert {
        "strategy",
        "load_balancing_algorithm",
        "health_status",
        "event_type",
        "event_status",
        "degraded_reason",
        "redundancy_level",
        "decision_reason",
        "error_code",
    } <= models
    assert not [m for m in models if m.endswith("_type_0") or m.startswith("config_fields_")], sorted(models)
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    # the generated httpx wrapper (client.py) is the generator's own template: checked as imported
    checked = subprocess.run(
        [
            str(BIN / "mypy"),
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            "program.py",
            "pfc/models",
            "pfc/api",
            "pfc/types.py",
            "pfc/errors.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ran = subprocess.run(
        [sys.executable, "program.py", stack.url, token("generated-user"), token("ops", admin=True)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0 and "typed answers read" in ran.stdout, ran.stdout + ran.stderr
