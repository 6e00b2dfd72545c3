"""Fixtures for tests that go through a real pcscd and vpcd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pcscd import PcscdHarness


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscdHarness]:
    """A running pcscd with vpcd's readers (started here unless one is running)."""
    harness = PcscdHarness(Path(tmp_path_factory.mktemp("pcscd")) / "pcscd.log")
    harness.start()
    yield harness
    harness.stop()
