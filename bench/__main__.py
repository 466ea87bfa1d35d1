"""`python -m bench` (make bench): run every benchmark, print the figures, rewrite docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime

# Before the layer is imported: benchmarks log warnings only.
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from bench import api_bench, engine_bench, retention_bench, scale_bench, sweep_bench, watcher_bench
from bench.common import ROOT, Figure

SUITES = {
    "engine": engine_bench,
    "api": api_bench,
    "sweep": sweep_bench,
    "scale": scale_bench,
    "retention": retention_bench,
    "watcher": watcher_bench,
}
try:  # needs playwright and Debian's chromium (make test installs both)
    from bench import console_bench

    SUITES["console"] = console_bench
except ImportError:  # pragma: no cover
    pass
try:
    from bench import load_bench

    SUITES["load"] = load_bench
except ImportError:  # pragma: no cover
    pass

REPRODUCE = {
    "engine": "python -m bench.engine_bench",
    "api": "python -m bench.api_bench",
    "sweep": "python -m bench.sweep_bench",
    "load": "python -m bench.load_bench",
    "scale": "python -m bench.scale_bench --instances N --workers K --interval 30 --seconds 45",
    "retention": "python -m bench.retention_bench",
    "console": "python -m bench.console_bench",
    "watcher": "python -m bench.watcher_bench",
}


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}, {pg or 'PostgreSQL'}"


def _previous_run(again: list[str]) -> str:
    """When the rows kept were made: the page's last run, or, when that run was itself a merge, the
    time of the rows it kept (and its own suites' time, unless they run again now)."""
    page = ROOT / "docs" / "benchmarks.md"
    for line in page.read_text(encoding="utf-8").splitlines() if page.exists() else []:
        if not line.startswith("- Run: "):
            continue
        when, _, merged = line.removeprefix("- Run: ").partition(" (the rows of ")
        if not merged:
            return f"at {when}"
        suites, _, others = merged.partition(" then; the others ")
        others = others.rstrip(")")
        if set(suites.split(", ")) <= set(again):
            return others
        return f"{others}, those of {suites} at {when}"
    return "in an earlier run"


def _rows_kept(suites: list[str]) -> list[str]:
    """The table rows of the page now, except those of `suites` (which run again)."""
    page = ROOT / "docs" / "benchmarks.md"
    if not page.exists():
        return []
    again = {f"`{REPRODUCE[name]}` |" for name in suites}
    return [
        line
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("| #") and not any(line.endswith(mark) for mark in again)
    ]


def write(
    figures: list[tuple[str, Figure]], kept: list[str] | None = None, again: list[str] | None = None
) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Every figure below is printed by `make bench`, which also rewrites this page. Targets come from the",
        "issues; timings are from one run on a shared, noisy machine, so compare ratios within a run rather",
        "than absolute figures across runs. Tests never assert timings.",
        "",
        f"- Machine: {_machine()}",
        f"- Database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded PostgreSQL (pgserver)'}, fresh database per suite",
        f"- Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
        + (f" (the rows of {', '.join(again)} then; the others {_previous_run(again)})" if again else ""),
        "",
        "| issue | figure | result | target | met | reproduce |",
        "|---|---|---|---|---|---|",
    ]
    lines += kept or []
    for suite, f in figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(f"| #{f.issue} | {f.name} | {f.value} | {f.target} | {met} | `{REPRODUCE[suite]}` |")
    notes = (
        (ROOT / "bench" / "NOTES.md").read_text(encoding="utf-8")
        if (ROOT / "bench" / "NOTES.md").exists()
        else ""
    )
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines) + "\n\n" + notes, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"run only these suites ({', '.join(SUITES)})")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with suites: replace their rows of docs/benchmarks.md, keep the rest",
    )
    args = parser.parse_args()
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suites: {', '.join(sorted(unknown))}")
    chosen = args.suites or list(SUITES)
    figures: list[tuple[str, Figure]] = []
    for name in chosen:
        print(f"== {name}", flush=True)
        figures.extend((name, f) for f in SUITES[name].run())
    if not args.suites or args.merge:
        write(figures, _rows_kept(args.suites) if args.suites else None, args.suites or None)
        print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
