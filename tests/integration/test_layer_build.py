"""The Lambda layer as shared/Makefile builds it (what `sam build` runs): only what runs in Lambda."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers import ROOT


def python312() -> str:
    found = shutil.which("python3.12")
    candidates = ([found] if found else []) + sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))
    )
    for candidate in candidates:
        if (
            subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"], check=False
            ).returncode
            == 0
        ):
            return candidate
    raise AssertionError(
        "the layer is built with Python 3.12 (Lambda's runtime); `make build` says how to get it"
    )


def test_the_layer_ships_only_what_runs(tmp_path: Path):
    from tests.integration.test_rds_ca_bundle import ca

    # As `sam build` does: the layer's source copied to a scratch folder and built there (offline: the
    # RDS CA bundle comes from a file:// URL)
    source = tmp_path / "source"
    shutil.copytree(ROOT / "shared", source, ignore=shutil.ignore_patterns("__pycache__", "certs"))
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(ca(tmp_path, "rds-test-root"))
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(source),
            "build-DomainLayer",
            f"ARTIFACTS_DIR={tmp_path / 'out'}",
            f"PYTHON={python312()}",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "RDS_CA_BUNDLE_URL": bundle.as_uri()},
    )
    layer = tmp_path / "out" / "python"
    assert (layer / "certs" / "global-bundle.pem").read_bytes() == bundle.read_bytes()
    package = layer / "proxy_failover"
    shipped = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    # The layer's own modules: everything under shared/proxy_failover, and nothing else
    assert shipped == {
        p.relative_to(ROOT / "shared" / "proxy_failover").as_posix()
        for p in (ROOT / "shared" / "proxy_failover").rglob("*.py")
    }
    assert not any(name.startswith(("local/", "contract/")) for name in shipped)
    # Libraries: pydantic-core validates, pydantic (build time only) is not there
    assert (layer / "pydantic_core").is_dir() and not (layer / "pydantic").exists()
    assert not (layer / "bin").exists()
    # Bytecode compiled ahead of time (Lambda cannot write it), for every module
    assert all((package / p).with_suffix("").parent.joinpath("__pycache__").is_dir() for p in shipped)
    # Debug symbols stripped from the compiled extensions when the machine can read aarch64 objects
    if shutil.which("llvm-strip") or shutil.which("aarch64-linux-gnu-strip"):
        uvloop = sum(p.stat().st_size for p in (layer / "uvloop").glob("*.so"))
        assert uvloop < 5_000_000, uvloop
