"""Fixtures for tests that go through a real pcscd and vpcd (``pcscd`` is in tests/conftest.py).

Every test here runs under both simulator profiles (``simulator_profile``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.opensc import require_tools
from tests.support.profiles import pytest_configure, simulator_profile

__all__ = ["pytest_configure", "simulator_profile"]


@pytest.fixture(scope="session")
def opensc_tools() -> None:
    """OpenSC's tools must be installed: a missing tool fails the interop tests."""
    require_tools()


@pytest.fixture(scope="module")
def workdir(simulator_profile: str) -> Iterator[Path]:
    """A private directory for the module's files (share files, backups, signatures),
    one per simulator profile, removed with everything in it when that run is done."""
    with tempfile.TemporaryDirectory(prefix=f"opensc-interop-{simulator_profile}-") as directory:
        yield Path(directory)
