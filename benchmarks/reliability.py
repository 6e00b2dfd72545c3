"""Produce docs/reliability.md: run the reliability tests and write down their figures.

Usage, from the repository root::

    .venv/bin/python benchmarks/reliability.py                 # CI budgets, prints the report
    .venv/bin/python benchmarks/reliability.py --write         # ... and writes docs/reliability.md
    .venv/bin/python benchmarks/reliability.py --fuzz-examples 20000 --write   # nightly budget

The command runs the malformed-input corpus (``tests/test_corpus.py``) and everything in
``tests/reliability/`` under pytest with ``KEYMANAGER_FIGURES`` pointing at a temporary
file.  Each test reports what it tried through ``tests/support/figures.py`` (cases per
expected error, card-unchanged checks per workflow, hostile-card cases, fuzz inputs per
parser, fault points per workflow and kind, secret hits per location); this script turns
those lines into the tables of the report.  A figure is only printed if a test that
passed produced it: a failing run prints the failures and exits non-zero, and
``--write`` refuses to write a report from a failing run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
REPORT = REPOSITORY / "docs" / "reliability.md"
TEST_PATHS = ("tests/test_corpus.py", "tests/reliability")

CORPUS_PROSE = """\
Stored cases live in `tests/corpus/manifest.json`, made deterministically (fixed seed)
by `tests/corpus/make_corpus.py`; `tests/test_corpus.py` runs each one, checks the
committed manifest equals a fresh build and generates the three large families (every
PaperKey substitution, every key-blob byte inverted, oversized `.wky`) from seeds
stored there. Every error case must raise exactly its class from
`keymanager.dkek.errors` (not a parent or a subclass), its message must contain the
case's fragment, and for share files, n-of-m entries and PaperKeys the message must not
contain the password or the typed line. "accepted" rows are controls that must decode:
the untouched inputs, and three `.wky` variants accepted by design for compatibility
with sc-hsm-tool (no PRKD, no CV request, trailing bytes)."""

# Section order, title, prose and the extra key whose values become table columns.
SECTIONS: OrderedDict[str, dict[str, Any]] = OrderedDict(
    corpus={
        "title": "Malformed-input corpus",
        "prose": CORPUS_PROSE,
        "columns": None,
        "value_heading": "Cases",
        "extra_heading": {"error": "Expected error"},
    },
    p12={
        "title": "PKCS#12 inputs",
        "prose": "",
        "columns": None,
        "value_heading": "Cases",
        "extra_heading": {},
    },
    unchanged={
        "title": "Bad input changes nothing on the card",
        "prose": "",
        "columns": None,
        "value_heading": "Cases, card unchanged",
        "extra_heading": {},
    },
    hostile={
        "title": "Hostile card",
        "prose": "",
        "columns": None,
        "value_heading": "Cases",
        "extra_heading": {},
    },
    fuzz={
        "title": "Fuzzing",
        "prose": "",
        "columns": None,
        "value_heading": "Inputs tried",
        "extra_heading": {},
    },
    faults={
        "title": "Card removed or reset at each APDU",
        "prose": "",
        "columns": "kind",
        "value_heading": "Fault points",
        "extra_heading": {},
    },
    secrets={
        "title": "Secrets",
        "prose": "",
        "columns": None,
        "value_heading": "Hits",
        "extra_heading": {},
    },
)


def _format(value: float | int) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _table(records: list[dict[str, Any]], section: dict[str, Any]) -> list[str]:
    """One markdown table: label (+ extra keys), value; or a pivot on ``columns``."""
    pivot = section["columns"]
    extras = sorted({key for r in records for key in r if key not in ("section", "label", "value")})
    if pivot and pivot in extras:
        extras.remove(pivot)
        column_values = list(OrderedDict.fromkeys(str(r.get(pivot, "")) for r in records))
        rows: OrderedDict[tuple[str, ...], dict[str, str]] = OrderedDict()
        for r in records:
            key = (r["label"], *(str(r.get(e, "")) for e in extras))
            rows.setdefault(key, {})[str(r.get(pivot, ""))] = _format(r["value"])
        headings = ["", *(section["extra_heading"].get(e, e) for e in extras), *column_values]
        lines = ["| " + " | ".join(headings) + " |"]
        lines.append("|" + "---|" * (1 + len(extras)) + "---:|" * len(column_values))
        for key, cells in rows.items():
            lines.append(
                "| " + " | ".join([*key, *(cells.get(c, "—") for c in column_values)]) + " |"
            )
        return lines
    headings = ["", *(section["extra_heading"].get(e, e) for e in extras), section["value_heading"]]
    lines = ["| " + " | ".join(headings) + " |"]
    lines.append("|" + "---|" * (1 + len(extras)) + "---:|")
    for r in records:
        cells = [r["label"], *(str(r.get(e, "")) for e in extras), _format(r["value"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(records: Iterable[dict[str, Any]], run: dict[str, Any]) -> str:
    """The whole report as markdown."""
    by_section: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for r in records:
        by_section.setdefault(r["section"], []).append(r)
    out = [
        "# Reliability figures",
        "",
        "Figures for issue 7 (hostile input, faults and secrets). This page is written by",
        "",
        "    .venv/bin/python benchmarks/reliability.py --write",
        "",
        "which runs `tests/test_corpus.py` and `tests/reliability/` (the same tests CI runs, at",
        "the same budgets unless `--fuzz-examples N` asks for a longer fuzz run) and turns the",
        "figures each test reports into the tables below. Nothing here is typed by hand.",
        "",
        f"Last run: {run['date']}, commit `{run['commit']}`, {run['machine']}; "
        f"{run['passed']} tests passed, {run['failed']} failed, {run['skipped']} skipped in "
        f"{run['seconds']:.0f} s; fuzz budget: {run['fuzz']}.",
    ]
    known = list(SECTIONS)
    for name in known + [s for s in by_section if s not in SECTIONS]:
        rows = by_section.get(name)
        if not rows:
            continue
        section = SECTIONS.get(
            name,
            {
                "title": name,
                "prose": "",
                "columns": None,
                "value_heading": "Value",
                "extra_heading": {},
            },
        )
        out += ["", f"## {section['title']}", ""]
        if section["prose"]:
            out += [section["prose"], ""]
        out += _table(rows, section)
    return "\n".join(out) + "\n"


def _git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _summary_counts(output: str) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    for line in reversed(output.splitlines()):
        if " in " in line and ("passed" in line or "failed" in line or "error" in line):
            for part in line.strip("= ").split(" in ")[0].split(", "):
                number, _, word = part.strip().partition(" ")
                if number.isdigit():
                    key = {"error": "errors", "errors": "errors"}.get(word, word)
                    counts[key] = counts.get(key, 0) + int(number)
            break
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write docs/reliability.md")
    parser.add_argument(
        "--fuzz-examples",
        type=int,
        default=None,
        help="examples per fuzz test (default: the CI budget of each test)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    arguments = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="keymanager-figures-") as scratch:
        figures_path = Path(scratch) / "figures.jsonl"
        environment = dict(os.environ, KEYMANAGER_FIGURES=str(figures_path))
        if arguments.fuzz_examples:
            environment["KEYMANAGER_FUZZ_EXAMPLES"] = str(arguments.fuzz_examples)
        command = [
            sys.executable,
            "-m",
            "pytest",
            *TEST_PATHS,
            "-q",
            "-p",
            "no:cacheprovider",
            *arguments.pytest_args,
        ]
        print("running:", " ".join(command[2:]), flush=True)
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        records = (
            [json.loads(line) for line in figures_path.read_text().splitlines() if line]
            if figures_path.exists()
            else []
        )
    counts = _summary_counts(result.stdout)
    run = {
        "date": datetime.date.today().isoformat(),
        "commit": _git_commit(),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "passed": counts["passed"],
        "failed": counts["failed"] + counts["errors"],
        "skipped": counts["skipped"],
        "seconds": seconds,
        "fuzz": (
            f"{arguments.fuzz_examples:,} examples per fuzz test"
            if arguments.fuzz_examples
            else "CI (fixed, derandomised)"
        ),
    }
    report = render(records, run)
    print(report)
    if result.returncode != 0:
        print(result.stdout[-20000:], file=sys.stderr)
        print(result.stderr[-5000:], file=sys.stderr)
        print("the reliability tests failed: no report written", file=sys.stderr)
        return 1
    if arguments.write:
        REPORT.write_text(report, encoding="utf-8")
        print(f"wrote {REPORT.relative_to(REPOSITORY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
