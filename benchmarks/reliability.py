"""Produce docs/reliability.md: run the reliability tests and write down their figures.

Usage, from the repository root::

    .venv/bin/python benchmarks/reliability.py                 # CI budgets, prints the report
    .venv/bin/python benchmarks/reliability.py --write         # ... and writes docs/reliability.md
    .venv/bin/python benchmarks/reliability.py --fuzz-examples 20000 --write   # nightly budget

The command runs the malformed-input corpus (``tests/test_corpus.py``), everything in
``tests/reliability/`` and the faults through a real pcscd (``tests/pcsc/test_faults_pcsc.py``)
under pytest with ``KEYMANAGER_FIGURES`` pointing at a temporary
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
TEST_PATHS = ("tests/test_corpus.py", "tests/reliability", "tests/pcsc/test_faults_pcsc.py")
"""What the report runs: the corpus, the reliability tests and the faults through pcscd."""

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

P12_PROSE = """\
PKCS#12 inputs are built at test time from a fixed seed
(`tests/reliability/_p12_support.py`), plus two committed fixtures whose keys are slow to
generate (`tests/corpus/p12/`: RSA 8192 and DSA 2048, made by `make_fixtures.py`). Each
must raise exactly its class from `keymanager.workflows.pkcs12`, with a message naming
the problem and never the password. A MAC that fails while the password decrypts the
contents is told apart from a wrong password (`Pkcs12IntegrityError`); a key on a curve
this program cannot read is named (`Pkcs12UnsupportedContent`). "accepted" rows must
open: the controls, a file with trailing bytes, a certificate that does not match the
key and a file with two keys (both with a warning), and certificates alone (offered as
CA certificates)."""

UNCHANGED_PROSE = """\
Every input a user can hand to a card-changing workflow is run through that
workflow against a simulated card with a complete key domain, keys, and a domain
waiting for shares; the card's entire state (`CardState.to_json()`: files, keys, domains,
PINs and their retry counters) must be the same afterwards, the workflow must raise the
case's specific error, and its message must not show the password or the typed share.
One valid input per workflow must change the card, which shows the comparison would
catch a change. Left out of CI and run with `--fuzz-examples`: share files that need the
full 10,000,000-round derivation (CI runs the published file with a wrong password) and
RSA 8192 through the two imports (opening it takes seconds; CI checks its refusal in the
PKCS#12 table)."""

HOSTILE_PROSE = """\
The hostile card (`keymanager/simulator/hostile.py`; for a person:
`python -m keymanager.simulator --vpcd --hostile SPEC`, syntax in `docs/card.md`) wraps
the simulator and replaces the answer to a chosen command with short answers, broken
TLV lengths, 4 GiB claims, garbage, unexpected status words, never-ending 61xx/6Cxx
chains or answers of the wrong kind. Every command the session sends is reached through
a public session, key-store or outline operation, with each malformation and a
truncation at every length, in a thread with a time limit. Each case must end in a typed
card error, a problem shown in the listing, or a valid result (a truncated file cannot
always be detected); never another exception, never a hang. The extra columns split the
cases by outcome. The desktop-app row opens the main window on a hostile card: the window
stays up, the user sees the error, nothing reaches `sys.excepthook`, and after the card
behaves again a refresh lists the keys."""

FUZZ_PROSE = """\
Every file and data parser is fuzzed with hypothesis
(`tests/reliability/test_fuzz_parsers.py`), each with several strategies: random bytes or
text, text over the format's own alphabet, mutations of valid inputs (the published
real-device vectors and our own encoders' output: bit flips, inserts, deletes,
truncations, TLV length edits), TLV trees re-encoded with wrong lengths, dropped or
swapped nodes, key-blob plaintexts mutated and re-MACed so the deeper checks are reached,
and round trips. Each input must give a valid result or the parser's documented error,
never another exception, and no single input may take 10 s or more; a damaged device
certificate chain is never judged genuine unless its signed content is unchanged. APDU
responses are fuzzed through the hostile card (`test_fuzz_responses.py`): arbitrary data
and status words, and real answers with bytes overwritten, through every command. The
counts are inputs actually run. CI runs a fixed, derandomised set; for a nightly run,
`.venv/bin/python benchmarks/fuzz.py --examples 20000` (or `--minutes M`) runs fresh
examples and prints the same table; this command takes `--fuzz-examples N`."""

FAULTS_PROSE = """\
For every workflow that changes the card, the card was pulled out, and separately
reset, at each APDU of a clean run in turn (`tests/reliability/test_fault_matrix.py`; the
number is the fault points tried, one per APDU). Every fault ended in a typed error whose
message (the desktop app's `describe_error`, the CLI's two error lines) names the cause
and what to do; a new session on the card worked (PIN status read, PIN verified); and
after the workflow's own repair (the key and PKCS#12 journals, run at the next
connection) the card held no key without its description and no description without its
key, DKEK domains and PINs were either as before or as after, no PIN retry was lost, and
the workflow could be run again to the end. The GUI row pulls (or resets) the card during
a key generation started from the main window: the user sees the message, the outline
shows the card gone, and after reinsertion the repair runs and the outline comes back."""

SECRETS_PROSE = """\
Every workflow runs on one simulated card with distinctive PINs, SO-PINs,
passwords, shares and PKCS#12 keys (`tests/reliability/test_secrets.py`,
`test_secrets_gui.py`); secrets the card makes at random (shares, n-of-m fragments, the
DKEK, generated keys) are read back after each step. Each secret is searched in 18 or more
encodings (raw, hex in both cases and with separators, base64 standard and URL-safe at
every alignment, UTF-16, Python reprs and decimal) in the TRAFFIC-level log, the CLI's
output (in process and as subprocesses), a private TMPDIR (which must stay empty, checked
by an audit hook that sees every file opened for writing), the state directory, every
file the run leaves, the texts and tracebacks of induced failures, and the clipboard after
every copy action of the desktop app. Every hit count must be zero. A control search of
the simulator's own state file, which holds the card's secrets by design, must find
them. Share files and backups are written atomically with mode 0600; failed writes (an
unwritable directory, an over-long name, a full disk) leave nothing behind."""

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
        "prose": P12_PROSE,
        "columns": None,
        "value_heading": "Cases",
        "extra_heading": {"expect": "Expected error"},
    },
    unchanged={
        "title": "Bad input changes nothing on the card",
        "prose": UNCHANGED_PROSE,
        "columns": None,
        "total": True,
        "value_heading": "Cases, card unchanged",
        "extra_heading": {"workflow": "Workflow"},
    },
    hostile={
        "title": "Hostile card",
        "prose": HOSTILE_PROSE,
        "columns": None,
        "value_heading": "Cases",
        "extra_heading": {},
    },
    fuzz={
        "title": "Fuzzing",
        "prose": FUZZ_PROSE,
        "columns": None,
        "total": True,
        "value_heading": "Inputs tried",
        "extra_heading": {},
    },
    faults={
        "title": "Card removed or reset at each APDU",
        "prose": FAULTS_PROSE,
        "columns": "kind",
        "value_heading": "Fault points",
        "extra_heading": {},
    },
    secrets={
        "title": "Secrets",
        "prose": SECRETS_PROSE,
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
    if section.get("total"):
        total = sum(r["value"] for r in records)
        lines.append("| " + " | ".join(["**All**", *("" for _ in extras), f"**{total:,}**"]) + " |")
    return lines


def _markdown(headings: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |"]
    lines.append(
        "|" + "".join("---:|" if i >= numeric_from else "---|" for i in range(len(headings)))
    )
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _faults_table(records: list[dict[str, Any]]) -> list[str]:
    """Workflows by fault kind, with what the fault left on the card before any repair."""
    rows: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
    for r in records:
        rows.setdefault(r["label"], {})[r.get("kind", "")] = r
    body = []
    totals = {"remove": 0, "reset": 0}
    for label, kinds in rows.items():
        first = kinds.get("remove") or next(iter(kinds.values()))

        def after(key: str, kinds: dict[str, dict[str, Any]] = kinds) -> str:
            values = list(OrderedDict.fromkeys(str(k[key]) for k in kinds.values() if key in k))
            return " / ".join(values) if values else "—"

        for kind in totals:
            totals[kind] += int(kinds[kind]["value"]) if kind in kinds else 0
        body.append(
            [
                label,
                str(first.get("clean_run_apdus", "—")),
                _format(kinds["remove"]["value"]) if "remove" in kinds else "—",
                _format(kinds["reset"]["value"]) if "reset" in kinds else "—",
                after("left_unchanged"),
                after("left_complete"),
                after("left_partial"),
                after("returned_with_warning"),
            ]
        )
    body.append(
        [
            "**All workflows**",
            "",
            f"**{totals['remove']:,}**",
            f"**{totals['reset']:,}**",
            "",
            "",
            "",
            "",
        ]
    )
    headings = [
        "Workflow",
        "APDUs (clean run)",
        "Card removed at",
        "Card reset at",
        "Left untouched",
        "Left complete",
        "Left half-done (repaired)",
        "Result with a warning",
    ]
    return _markdown(headings, body)


def _hostile_table(records: list[dict[str, Any]]) -> list[str]:
    """Command via operation, by outcome."""
    keys = ("typed_errors", "problem_shown", "valid_results")
    totals = dict.fromkeys(("value", *keys), 0)
    body = []
    for r in records:
        cells = [r["label"], _format(r["value"])]
        for key in keys:
            cells.append(_format(r[key]) if key in r else "—")
        for key in totals:
            totals[key] += int(r.get(key, 0))
        body.append(cells)
    body.append(["**All**", *(f"**{totals[key]:,}**" for key in totals)])
    headings = ["Command via operation", "Cases", "Typed error", "Problem shown", "Valid result"]
    return _markdown(headings, body)


def _secrets_tables(records: list[dict[str, Any]]) -> list[str]:
    """Hits per workflow and location; bytes scanned per location; the other figures."""
    hits = [r for r in records if "workflow" in r]
    scanned = {r["location"]: r["value"] for r in records if "location" in r}
    others = [r for r in records if "workflow" not in r and "location" not in r]
    locations = list(OrderedDict.fromkeys(r["label"] for r in hits))
    workflows = list(OrderedDict.fromkeys(r["workflow"] for r in hits if r["workflow"] != "all"))
    cell = {(r["workflow"], r["label"]): r["value"] for r in hits}
    body = [
        [w, *(_format(cell[w, loc]) if (w, loc) in cell else "·" for loc in locations)]
        for w in workflows
    ]
    total_hits = sum(int(r["value"]) for r in hits if r["workflow"] != "all")
    lines = ["Hits per workflow and place searched (· = nothing of that workflow goes there):", ""]
    lines += _markdown(["Workflow", *locations], body)
    lines += ["", f"Hits in all: **{total_hits}**.", ""]
    lines += _markdown(
        ["Place searched", "Bytes scanned"],
        [[loc, _format(value)] for loc, value in scanned.items()],
    )
    lines += [""]
    lines += _markdown(["", "Value"], [[r["label"], _format(r["value"])] for r in others])
    return lines


CUSTOM_TABLES = {"faults": _faults_table, "hostile": _hostile_table, "secrets": _secrets_tables}


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
        "which runs `tests/test_corpus.py`, `tests/reliability/` and",
        "`tests/pcsc/test_faults_pcsc.py` (the same tests CI runs, at the same budgets unless",
        "`--fuzz-examples N` asks for a longer fuzz run; the last one starts pcscd, as the",
        "test suite does) and turns the figures each test reports into the tables below.",
        "Nothing here is typed by hand.",
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
        custom = CUSTOM_TABLES.get(name)
        out += custom(rows) if custom else _table(rows, section)
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
