"""Shared fixtures: the published test vectors from ../shared/vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
VECTORS_PATH = REPOSITORY_ROOT.parent / "shared" / "vectors" / "dkek-vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """The published real-device vectors (a missing file is a failure, not a skip)."""
    assert VECTORS_PATH.is_file(), f"published test vectors not found at {VECTORS_PATH}"
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return data
