"""The reliability report: figures recorded by tests become the tables of docs/reliability.md.

``benchmarks/reliability.py`` is the one command that writes the page; these tests check
that its rendering keeps every recorded figure, pivots fault kinds into columns, and that
the committed page is its output (not typed by hand).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import figures

REPOSITORY = Path(__file__).resolve().parents[1]


def _report_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reliability_report", REPOSITORY / "benchmarks" / "reliability.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = {
    "date": "2026-11-27",
    "commit": "abc1234",
    "machine": "2 cores",
    "passed": 3,
    "failed": 0,
    "skipped": 0,
    "seconds": 12.0,
    "fuzz": "CI",
}


def test_records_become_rows_and_fault_kinds_become_columns() -> None:
    report = _report_module()
    records = [
        {"section": "corpus", "label": "PaperKeys", "value": 2232, "error": "PaperKeyGroupError"},
        {
            "section": "faults",
            "label": "Restore",
            "value": 8,
            "kind": "remove",
            "clean_run_apdus": 8,
            "left_unchanged": 6,
            "left_complete": 0,
            "left_partial": 2,
            "returned_with_warning": 0,
        },
        {
            "section": "faults",
            "label": "Restore",
            "value": 8,
            "kind": "reset",
            "clean_run_apdus": 8,
            "left_unchanged": 5,
            "left_complete": 0,
            "left_partial": 3,
            "returned_with_warning": 0,
        },
        {"section": "faults", "label": "Delete", "value": 6, "kind": "remove"},
        {
            "section": "hostile",
            "label": "SIGN via sign",
            "value": 10,
            "typed_errors": 4,
            "problem_shown": 0,
            "valid_results": 6,
        },
        {"section": "secrets", "label": "log files", "value": 0, "workflow": "init"},
        {"section": "secrets", "label": "log files", "value": 0, "workflow": "all"},
        {"section": "secrets", "label": "bytes scanned", "value": 512, "location": "log files"},
        {"section": "secrets", "label": "secrets searched", "value": 76},
        {"section": "new-section", "label": "something", "value": 1.5},
        {"section": "fuzz", "label": "TLV: random bytes", "value": 400},
        {"section": "fuzz", "label": "TLV: round trip", "value": 200},
    ]
    text = report.render(records, RUN)
    assert "| PaperKeys | PaperKeyGroupError | 2,232 |" in text
    # faults: one row per workflow, kinds side by side, differing outcomes as "a / b"
    assert "| Restore | 8 | 8 | 8 | 6 / 5 | 0 | 2 / 3 | 0 |" in text
    assert "| Delete | — | 6 | — | — | — | — | — |" in text
    assert "| **All workflows** |  | **14** | **8** |" in text
    assert "| SIGN via sign | 10 | 4 | 0 | 6 |" in text
    # secrets: workflow x place matrix, bytes per place, other figures
    assert "| Workflow | log files |" in text and "| init | 0 |" in text
    assert "Hits in all: **0**." in text
    assert "| log files | 512 |" in text and "| secrets searched | 76 |" in text
    assert "| TLV: round trip | 200 |\n| **All** | **600** |" in text
    assert "## new-section" in text and "| something | 1.50 |" in text
    assert text.index("## Malformed-input corpus") < text.index("## Card removed or reset")


def test_figures_are_written_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "figures.jsonl"
    figures.tally("fuzz", "demo parser: random bytes")
    figures.tally("fuzz", "demo parser: random bytes", 4)
    figures.record("faults", "Demo", 7, kind="reset")
    monkeypatch.setenv(figures.FIGURES_ENVIRONMENT, str(target))
    figures.flush()
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert {"section": "faults", "label": "Demo", "value": 7, "kind": "reset"} in lines
    assert {"section": "fuzz", "label": "demo parser: random bytes", "value": 5} in lines


def test_committed_page_is_the_command_output() -> None:
    page = (REPOSITORY / "docs" / "reliability.md").read_text()
    assert page.startswith(_report_module().render([], RUN).split("Last run:")[0])
    help_text = subprocess.run(
        [sys.executable, "benchmarks/reliability.py", "--help"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--write" in help_text and "--fuzz-examples" in help_text
