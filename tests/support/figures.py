"""Figures the reliability tests report: cases, fault points, fuzz inputs, secret hits.

Tests call :func:`record` (a value measured once) or :func:`tally` (a count added to
as the test runs, e.g. one per fuzz input).  Normally nothing is written.  When the
environment variable ``KEYMANAGER_FIGURES`` names a file, every figure is appended to
it as one JSON line at the end of the pytest session; ``benchmarks/reliability.py``
runs the reliability tests that way and renders ``docs/reliability.md`` from the lines.

Each figure has a ``section`` (one table in the report: ``corpus``, ``p12``,
``hostile``, ``fuzz``, ``faults``, ``secrets``), a ``label`` (the row, written for a
reader) and a ``value``; extra keyword arguments are stored beside them (for example
``kind="reset"`` or ``workflow="restore"``) so the report can build matrices.

:func:`fuzz_settings` gives the hypothesis settings for a fuzz test: a fixed,
derandomised budget in CI, or ``KEYMANAGER_FUZZ_EXAMPLES`` random examples for the
longer nightly run.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

FIGURES_ENVIRONMENT = "KEYMANAGER_FIGURES"
FUZZ_EXAMPLES_ENVIRONMENT = "KEYMANAGER_FUZZ_EXAMPLES"

_Key = tuple[str, str, tuple[tuple[str, Any], ...]]
_tallies: OrderedDict[_Key, int] = OrderedDict()
_records: OrderedDict[_Key, float | int] = OrderedDict()


def _key(section: str, label: str, extra: dict[str, Any]) -> _Key:
    return section, label, tuple(sorted(extra.items()))


def record(section: str, label: str, value: float | int, **extra: Any) -> None:
    """Report one measured figure (a later record of the same row replaces it)."""
    _records[_key(section, label, extra)] = value


def tally(section: str, label: str, count: int = 1, **extra: Any) -> None:
    """Add ``count`` to a running figure (for example one per fuzz input tried)."""
    key = _key(section, label, extra)
    _tallies[key] = _tallies.get(key, 0) + count


def fuzz_settings(ci_examples: int) -> settings:
    """Hypothesis settings for a fuzz test: CI budget, or the nightly budget if set."""
    nightly = os.environ.get(FUZZ_EXAMPLES_ENVIRONMENT)
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
        "database": None,
    }
    if nightly:
        return settings(max_examples=int(nightly), derandomize=False, **common)
    return settings(max_examples=ci_examples, derandomize=True, **common)


def flush() -> None:
    """Write every figure of this session to ``$KEYMANAGER_FIGURES`` (if set)."""
    target = os.environ.get(FIGURES_ENVIRONMENT)
    if not target:
        _tallies.clear()
        _records.clear()
        return
    lines = []
    for source in (_records, _tallies):
        for (section, label, extra), value in source.items():
            lines.append(
                json.dumps({"section": section, "label": label, "value": value, **dict(extra)})
            )
    with Path(target).open("a", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
    _tallies.clear()
    _records.clear()
