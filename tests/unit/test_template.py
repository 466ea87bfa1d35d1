"""template.yaml keeps its promises: a function (with logs) per handler and its routes, database
connections within the budget, the alarms that page, failures kept, access logged, one runtime."""

from __future__ import annotations

import json
import tomllib

import pytest

from local.apigw import load_template
from tests.helpers import ROOT, function

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {
    name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"
}
# A vantage in another region has a stack of its own there.
VANTAGE_STACK = load_template(ROOT / "vantage-stack.yaml")
HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


def _default(parameter: str) -> float:
    return float(TEMPLATE["Parameters"][parameter]["Default"])


def _functions_of(handler: str) -> list[tuple[str, dict, dict]]:
    """(name, properties, the template's resources) of each function running the handler: a sweep
    worker's runs as every vantage's; the remote vantage's is in the vantage stack."""
    return [
        (n, r["Properties"], template["Resources"])
        for template in (TEMPLATE, VANTAGE_STACK)
        for n, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function" and r["Properties"]["CodeUri"] == f"functions/{handler}/"
    ]


def _function_of(handler: str) -> tuple[str, dict]:
    matches = _functions_of(handler)
    assert len(matches) == 1, (handler, [m[0] for m in matches])
    return matches[0][0], matches[0][1]


@pytest.mark.parametrize("handler", HANDLERS)
def test_every_handler_has_a_function_its_routes_and_a_log_group(handler):
    found = _functions_of(handler)
    assert found, handler
    for name, _, resources in found:
        logs = resources[f"{name}Logs"]["Properties"]
        assert logs["LogGroupName"] == {"Sub": f"/aws/lambda/${{{name}}}"}
        assert logs["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert resources[f"{name}Logs"].get("Condition") == resources[name].get("Condition")
    api = getattr(function(handler), "api", None)
    if api is None:
        return  # the sweep, its workers, the remote vantage's: not routed
    ((name, properties, _),) = found
    declared = {(r.method, r.path) for r in api.routes}
    routed = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in properties["Events"].values()
        if e["Type"] == "HttpApi" and e["Properties"]["Path"] != "$default"
    }
    assert routed == declared


SWEEP = {"SweepFunction", "SweepWorkerFunction", "MigrateFunction"}
# Made only when named: another vantage's workers, a remote vantage's forwarder and results consumer.
OPTIONAL = {
    "SweepWorkerBFunction",
    "SweepWorkerCFunction",
    "RemoteForwarderFunction",
    "VantageResultsFunction",
}


def test_database_connections_stay_within_the_documented_budget():
    """Every warm Lambda holds one connection (a sweep worker or the dispatcher two: its publisher has
    its own)."""
    uses_database = [
        n for n, p in FUNCTIONS.items() if {"Ref": "DatabaseSecretReadPolicy"} in p.get("Policies", [])
    ]
    api = [n for n in uses_database if n not in SWEEP | OPTIONAL]
    assert set(uses_database) >= SWEEP | OPTIONAL
    assert all(RESOURCES[n].get("Condition") for n in OPTIONAL)
    globals_reserved = TEMPLATE["Globals"]["Function"]["ReservedConcurrentExecutions"]
    assert globals_reserved == {
        "If": ["ReserveApiConcurrency", {"Ref": "ApiFunctionConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    workers = FUNCTIONS["SweepWorkerFunction"]
    assert workers["ReservedConcurrentExecutions"] == {"Ref": "SweepMaxWorkers"}
    assert workers["Events"]["Work"]["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "SweepMaxWorkers"}
    }
    assert FUNCTIONS["SweepFunction"]["ReservedConcurrentExecutions"] == 1
    assert FUNCTIONS["MigrateFunction"]["ReservedConcurrentExecutions"] == 1
    connections = len(api) * _default("ApiFunctionConcurrency") + 2 * _default("SweepMaxWorkers") + 2 + 1
    assert connections <= _default("DatabaseConnectionBudget"), connections
    # the README shows the same arithmetic
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{len(api)} API functions" in readme and f"= {int(connections)}" in readme


ALARMS = {
    "SweepStoppedAlarm": ("ProxyFailover", "SweepCompleted", "breaching"),
    "SweepErrorsAlarm": ("AWS/Lambda", "Errors", "notBreaching"),
    "SweepThrottlesAlarm": ("AWS/Lambda", "Throttles", "notBreaching"),
    "SweepDurationAlarm": ("AWS/Lambda", "Duration", "notBreaching"),
    "SweepWorkerErrorsAlarm": ("AWS/Lambda", "Errors", "notBreaching"),
    "SweepLagAlarm": ("ProxyFailover", "SweepLagSeconds", "notBreaching"),
    "OutboxBacklogAlarm": ("ProxyFailover", "OutboxOldestPendingSeconds", "notBreaching"),
    "ApiErrorsAlarm": ("AWS/ApiGateway", "5xx", "notBreaching"),
    "DatabaseUnavailableAlarm": ("ProxyFailover", "DatabaseUnavailable", "notBreaching"),
    "InvocationFailuresAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "notBreaching"),
}


@pytest.mark.parametrize(("alarm", "expected"), sorted(ALARMS.items()))
def test_the_alarms_that_page_go_to_the_alarm_topic(alarm, expected):
    properties = RESOURCES[alarm]["Properties"]
    assert (properties["Namespace"], properties["MetricName"], properties["TreatMissingData"]) == expected
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    if properties["Namespace"] == "ProxyFailover":  # our EMF metrics carry these dimensions
        assert {d["Name"] for d in properties["Dimensions"]} == {"service", "Stage"}


def test_the_sweep_stopping_pages_within_three_minutes():
    properties = RESOURCES["SweepStoppedAlarm"]["Properties"]
    assert properties["Period"] * properties["EvaluationPeriods"] == 180
    duration = RESOURCES["SweepDurationAlarm"]["Properties"]
    assert duration["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "SweepWorkerFunction"}}]
    assert duration["Threshold"] == 0.9 * FUNCTIONS["SweepWorkerFunction"]["Timeout"] * 1000


def test_the_dispatcher_starts_workers_through_a_short_lived_queue():
    dispatcher = FUNCTIONS["SweepFunction"]
    variables = dispatcher["Environment"]["Variables"]
    queues = variables["SWEEP_VANTAGE_QUEUES"]["Join"][1]
    assert queues[0] == {"Sub": "${VantageAName}=${SweepWorkQueue}"} and len(queues) == 4
    assert variables["SWEEP_MAX_WORKERS"] == {"Ref": "SweepMaxWorkers"}
    assert {"SQSSendMessagePolicy": {"QueueName": {"GetAtt": "SweepWorkQueue.QueueName"}}} in dispatcher[
        "Policies"
    ]
    queue = RESOURCES["SweepWorkQueue"]["Properties"]
    worker = FUNCTIONS["SweepWorkerFunction"]
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"GetAtt": "InvocationFailuresQueue.Arn"}
    assert worker["Events"]["Work"]["Properties"]["BatchSize"] == 1
    lag = RESOURCES["SweepLagAlarm"]["Properties"]
    assert lag["Threshold"] == 30 and lag["Period"] * lag["EvaluationPeriods"] == 180


def test_failures_are_kept_and_requests_logged():
    sweep = FUNCTIONS["SweepFunction"]
    failures = {"GetAtt": "InvocationFailuresQueue.Arn"}
    assert sweep["EventInvokeConfig"]["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": failures,
    }
    assert sweep["DeadLetterQueue"]["TargetArn"] == failures
    access = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]
    fields = json.loads(access["Format"])
    assert {"requestId", "route", "status", "latencyMs", "caller"} <= set(fields)


def test_the_layer_declares_the_runtime_it_is_built_for():
    layer = RESOURCES["DomainLayer"]["Properties"]
    assert layer["CompatibleRuntimes"] == [TEMPLATE["Globals"]["Function"]["Runtime"]] == ["python3.12"]


def test_migrations_run_on_every_deploy_that_changes_them():
    assert FUNCTIONS["MigrateFunction"]["AutoPublishAlias"] == "live"
    assert RESOURCES["SchemaMigrations"]["Properties"]["MigrationsVersion"] == {
        "Ref": "MigrateFunction.Version"
    }


def test_samconfig_has_a_dev_and_a_prod_stage():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for stage in ("dev", "prod"):
        deploy = config[stage]["deploy"]["parameters"]
        assert (
            deploy["stack_name"] == f"proxy-failover-{stage}"
            and f'Stage="{stage}"' in deploy["parameter_overrides"]
        )


def test_the_runbook_says_what_to_do_for_every_alarm():
    import re

    names = sorted(
        {
            re.sub(
                r"-\$\{\w+\}$",
                "",
                r["Properties"]["AlarmName"]["Sub"].removeprefix("proxy-failover-${Stage}-"),
            )
            for r in RESOURCES.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        }
    )
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    headings = {
        h.strip() for line in runbook.splitlines() if line.startswith("## ") for h in line[3:].split(",")
    }
    assert names and set(names) <= headings, sorted(set(names) - headings)


def test_every_vantage_has_its_subnets_its_name_and_an_alarm_that_it_stopped():
    for worker, letter in (
        ("SweepWorkerFunction", "A"),
        ("SweepWorkerBFunction", "B"),
        ("SweepWorkerCFunction", "C"),
    ):
        properties = FUNCTIONS[worker]
        assert properties["Environment"]["Variables"]["SWEEP_VANTAGE"] == {"Ref": f"Vantage{letter}Name"}
        subnets = properties["VpcConfig"]["SubnetIds"]["If"]
        assert subnets[0] == f"Vantage{letter}HasSubnets" and subnets[1] == {
            "Ref": f"Vantage{letter}SubnetIds"
        }
        alarm = RESOURCES[f"Vantage{letter}StoppedAlarm"]["Properties"]
        assert alarm["TreatMissingData"] == "breaching" and alarm["MetricName"] == "VantageRuns"
        assert {"Name": "Vantage", "Value": {"Ref": f"Vantage{letter}Name"}} in alarm["Dimensions"]


def test_the_vantage_stack_needs_no_database():
    worker = VANTAGE_STACK["Resources"]["VantageWorkerFunction"]["Properties"]
    variables = worker["Environment"]["Variables"]
    assert not any(name.startswith("DB_") or name == "DATABASE_URL" for name in variables)
    assert variables["SWEEP_RESULTS_QUEUE_URL"] == {"Ref": "HomeResultsQueueUrl"}
    assert "Policies" in worker and all("DatabaseSecret" not in str(p) for p in worker["Policies"])
