"""The layer build's RDS CA bundle step (shared/rds_ca_bundle.py), offline: a file:// URL stands in
for AWS's address."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "shared" / "rds_ca_bundle.py"


def _module():
    spec = importlib.util.spec_from_file_location("rds_ca_bundle", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ca(folder: Path, name: str, unit: str = "Amazon RDS") -> str:
    """A self-signed CA certificate (PEM) with the given organizational unit."""
    subject = f"/C=US/O=Amazon Web Services, Inc./OU={unit}/CN={name}"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            subject,
            "-keyout",
            str(folder / f"{name}.key"),
            "-out",
            str(folder / f"{name}.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return (folder / f"{name}.pem").read_text()


def run(target: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "RDS_CA_BUNDLE_URL": url}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(target)], env=env, capture_output=True, text=True, check=False
    )


def test_an_absent_bundle_is_fetched_checked_pinned_and_then_held_to_its_pin(tmp_path):
    source = tmp_path / "published.pem"
    source.write_text(ca(tmp_path, "rds-root-a") + ca(tmp_path, "rds-root-b"))
    target = tmp_path / "certs" / "global-bundle.pem"
    # First build: fetched, two certificates, pinned
    first = run(target, source.as_uri())
    assert first.returncode == 0, first.stderr
    assert "pinned" in first.stdout and target.read_bytes() == source.read_bytes()
    pin = target.with_name("global-bundle.pem.sha256").read_text()
    # Later builds: kept, matching the pin
    again = run(target, source.as_uri())
    assert again.returncode == 0 and "as pinned" in again.stdout
    # AWS publishes a different bundle: a fresh clone (bundle absent, pin committed) fails clearly
    target.unlink()
    source.write_text(source.read_text() + ca(tmp_path, "rds-root-c"))
    changed = run(target, source.as_uri())
    assert changed.returncode == 1 and "SHA-256" in changed.stderr and not target.exists()
    assert target.with_name("global-bundle.pem.sha256").read_text() == pin


@pytest.mark.parametrize(
    "content",
    ["<html>Access denied</html>", "garbage\n-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"],
)
def test_something_that_is_not_a_bundle_of_certificates_is_refused(tmp_path, content):
    source = tmp_path / "published.pem"
    source.write_text(content)
    done = run(tmp_path / "global-bundle.pem", source.as_uri())
    assert done.returncode == 1 and "RDS CA bundle" in done.stderr
    assert not (tmp_path / "global-bundle.pem").exists()


def test_a_certificate_of_anyone_else_is_refused(tmp_path):
    source = tmp_path / "published.pem"
    source.write_text(ca(tmp_path, "rds-root") + ca(tmp_path, "intruder", unit="Someone Else"))
    done = run(tmp_path / "global-bundle.pem", source.as_uri())
    assert done.returncode == 1 and "not Amazon RDS" in done.stderr


def test_an_unreachable_address_says_what_to_do(tmp_path):
    done = run(tmp_path / "global-bundle.pem", (tmp_path / "missing.pem").as_uri())
    assert done.returncode == 1 and "RDS_CA_BUNDLE_URL" in done.stderr


def test_only_https_or_file_addresses_are_fetched(tmp_path):
    bundle = _module()
    with pytest.raises(bundle.BundleError, match="https:// or file://"):
        bundle.ensure(tmp_path / "global-bundle.pem", url="http://truststore.example/global-bundle.pem")


def test_a_build_without_network_warns_and_goes_on_but_a_bad_bundle_stops_it(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RDS_CA_BUNDLE_URL": (tmp_path / "missing.pem").as_uri()}
    target = tmp_path / "global-bundle.pem"
    unreachable = subprocess.run(
        [sys.executable, str(SCRIPT), "--optional", str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unreachable.returncode == 0 and "WARNING: no RDS CA bundle" in unreachable.stderr
    assert not target.exists()
    (tmp_path / "bad.pem").write_text("<html>captive portal</html>")
    env["RDS_CA_BUNDLE_URL"] = (tmp_path / "bad.pem").as_uri()
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), "--optional", str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1 and not target.exists()
