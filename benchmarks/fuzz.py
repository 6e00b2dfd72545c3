"""Nightly fuzzing of every file and data parser: many more inputs than CI tries.

Runs the systematic fuzz tests of ``tests/reliability/test_fuzz_parsers.py`` (share
files, n-of-m entries, PaperKeys, key blobs, ``.wky`` backups, TLV, the PKCS#15
structures, CV certificates and device chains, PKCS#12) with
``KEYMANAGER_FUZZ_EXAMPLES`` set, so that every test draws that many fresh random
examples instead of CI's small derandomised budget, and with ``KEYMANAGER_FIGURES``
pointing at a temporary file, from which it reads how many inputs each parser and
strategy actually tried.  It then prints a table of inputs per parser and strategy
and the failures (the test, and hypothesis's shrunk falsifying example).

Run from the repository root::

    .venv/bin/python benchmarks/fuzz.py                    # 20,000 examples per test
    .venv/bin/python benchmarks/fuzz.py --examples 2000    # a shorter run
    .venv/bin/python benchmarks/fuzz.py --minutes 60       # repeat rounds for an hour
    .venv/bin/python benchmarks/fuzz.py -k keyblob         # one parser only

``--minutes`` bounds the whole run: rounds of ``--examples`` per test are repeated,
each with new random inputs, until the time is up; a round still running then is
interrupted and what it tried so far is counted.  ``--figures FILE`` appends the
totals to a figures file in the format of ``tests/support/figures.py`` (section
``fuzz``, one line per parser and strategy, extra key ``run="nightly"``).  The exit
status is 1 when any test failed, 0 otherwise.  A failure is a crash of a parser
(an exception other than its documented error) or a broken property: reproduce it
with the falsifying example printed, fix it, and add it to the test as an
``@example``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
TEST_FILE = "tests/reliability/test_fuzz_parsers.py"
FIGURES_ENVIRONMENT = "KEYMANAGER_FIGURES"
FUZZ_EXAMPLES_ENVIRONMENT = "KEYMANAGER_FUZZ_EXAMPLES"

PARSER_OF_TEST_PREFIX = {
    "test_share_file": "Share file",
    "test_nofm": "n-of-m",
    "test_paperkey": "PaperKey",
    "test_keyblob": "Key blob",
    "test_wky": ".wky",
    "test_tlv": "TLV",
    "test_pkcs15": "PKCS#15",
    "test_cvc": "CV certificate",
    "test_pkcs12": "PKCS#12",
}


@dataclass
class Failure:
    test: str
    message: str

    @property
    def parser(self) -> str:
        for prefix, parser in PARSER_OF_TEST_PREFIX.items():
            if self.test.startswith(prefix):
                return parser
        return "?"


@dataclass
class Totals:
    inputs: OrderedDict[str, int] = field(default_factory=OrderedDict)
    failures: list[Failure] = field(default_factory=list)
    rounds: int = 0
    interrupted: bool = False


def run_round(
    examples: int, deadline: float | None, selection: str | None, workdir: Path, number: int
) -> tuple[dict[str, int], list[Failure], bool]:
    """One pytest run of the fuzz tests; returns (inputs per label, failures, interrupted)."""
    figures = workdir / f"figures-{number}.jsonl"
    junit = workdir / f"junit-{number}.xml"
    environment = dict(os.environ)
    environment[FUZZ_EXAMPLES_ENVIRONMENT] = str(examples)
    environment[FIGURES_ENVIRONMENT] = str(figures)
    command = [
        sys.executable,
        "-m",
        "pytest",
        TEST_FILE,
        "-q",
        "-p",
        "no:cacheprovider",
        "--timeout=0",
        f"--junitxml={junit}",
    ]
    if selection:
        command += ["-k", selection]
    process = subprocess.Popen(command, cwd=REPOSITORY, env=environment)
    interrupted = False
    while process.poll() is None:
        if deadline is not None and time.monotonic() >= deadline and not interrupted:
            # pytest still writes the figures and the JUnit report after Ctrl-C.
            process.send_signal(signal.SIGINT)
            interrupted = True
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            continue
    counts: dict[str, int] = {}
    if figures.exists():
        for line in figures.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("section") == "fuzz":
                counts[record["label"]] = counts.get(record["label"], 0) + int(record["value"])
    return counts, read_failures(junit), interrupted


def read_failures(junit: Path) -> list[Failure]:
    """The failed or erroring tests of a JUnit report, with their messages."""
    if not junit.exists():
        return []
    failures = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        for problem in (*case.findall("failure"), *case.findall("error")):
            text = (problem.text or problem.get("message") or "").strip()
            failures.append(Failure(case.get("name", "?"), text))
    return failures


def render(totals: Totals, examples: int, elapsed: float) -> str:
    """The report: inputs per parser and strategy, then the failures."""
    lines = [
        f"Fuzzing: {totals.rounds} round(s) of up to {examples} examples per test, "
        f"{elapsed / 60:.1f} min"
        + (" (last round interrupted at the time limit)" if totals.interrupted else ""),
        "",
        "| Parser | Strategy | Inputs tried |",
        "|---|---|---:|",
    ]
    per_parser: OrderedDict[str, int] = OrderedDict()
    for label, count in sorted(totals.inputs.items()):
        parser, _, strategy = label.partition(": ")
        per_parser[parser] = per_parser.get(parser, 0) + count
        lines.append(f"| {parser} | {strategy} | {count:,} |")
    lines.append(f"| **All parsers** | | **{sum(totals.inputs.values()):,}** |")
    lines += ["", "| Parser | Inputs tried |", "|---|---:|"]
    lines += [f"| {parser} | {count:,} |" for parser, count in per_parser.items()]
    lines += ["", f"Failures: {len(totals.failures)}"]
    for failure in totals.failures:
        excerpt = "\n".join(f"    {line}" for line in failure.message.splitlines()[-25:])
        lines += [f"- {failure.parser}: {failure.test}", excerpt]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=20000, help="examples per test and round (default 20000)"
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="run rounds until this much time has passed"
    )
    parser.add_argument("-k", dest="selection", default=None, help="pytest -k expression")
    parser.add_argument(
        "--figures", type=Path, default=None, help="append the totals to this figures file"
    )
    arguments = parser.parse_args()
    if arguments.examples < 1:
        parser.error("--examples must be at least 1")

    start = time.monotonic()
    deadline = None if arguments.minutes is None else start + arguments.minutes * 60
    totals = Totals()
    with tempfile.TemporaryDirectory(prefix="keymanager-fuzz-") as directory:
        while True:
            counts, failures, interrupted = run_round(
                arguments.examples, deadline, arguments.selection, Path(directory), totals.rounds
            )
            totals.rounds += 1
            for label, count in counts.items():
                totals.inputs[label] = totals.inputs.get(label, 0) + count
            totals.failures += failures
            totals.interrupted = interrupted
            if interrupted or deadline is None or time.monotonic() >= deadline or failures:
                break
    elapsed = time.monotonic() - start
    print(render(totals, arguments.examples, elapsed))
    if arguments.figures is not None:
        with arguments.figures.open("a", encoding="utf-8") as out:
            for label, count in totals.inputs.items():
                record = {"section": "fuzz", "label": label, "value": count, "run": "nightly"}
                out.write(json.dumps(record) + "\n")
    return 1 if totals.failures else 0


if __name__ == "__main__":
    sys.exit(main())
