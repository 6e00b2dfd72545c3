"""Shared fixtures: the published test vectors, pcscd, and transports to simulated cards."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.transport import LocalTransport, Transport
from tests.support import figures
from tests.support.pcscd import PcscdHarness

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
VECTORS_PATH = REPOSITORY_ROOT.parent / "shared" / "vectors" / "dkek-vectors.json"


def pytest_configure(config: pytest.Config) -> None:
    """Sessions run in the clear unless a directory opts in (tests/support/secure_messaging)."""
    os.environ.setdefault("KEYMANAGER_SECURE_MESSAGING", "off")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the reliability figures of this run when ``KEYMANAGER_FIGURES`` asks for them."""
    figures.flush()


@pytest.fixture(autouse=True)
def private_state_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journals, logs, demo cards and settings of a test go to private directories."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """The published real-device vectors (a missing file is a failure, not a skip)."""
    assert VECTORS_PATH.is_file(), f"published test vectors not found at {VECTORS_PATH}"
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
    return data


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscdHarness]:
    """A running pcscd with vpcd's readers (started here unless one is running)."""
    harness = PcscdHarness(Path(tmp_path_factory.mktemp("pcscd")) / "pcscd.log")
    harness.start()
    yield harness
    harness.stop()


@pytest.fixture(params=["local", "pcsc"])
def card_transport(request: pytest.FixtureRequest) -> Iterator[Callable[[Any], Transport]]:
    """Make a transport to a simulated card: in-process, or pyscard → pcscd → vpcd → card.

    Tests that take this fixture run twice, once over each path.
    """
    if request.param == "local":
        yield LocalTransport
        return
    from keymanager.card.pcsc import PcscTransport

    harness: PcscdHarness = request.getfixturevalue("pcscd")
    with contextlib.ExitStack() as stack:
        transports: list[Transport] = []

        def make(card: Any) -> Transport:
            reader, _bridge = stack.enter_context(harness.inserted(card))
            transport = PcscTransport(reader)
            transports.append(transport)
            return transport

        yield make
        for transport in transports:
            transport.close()


@pytest.fixture
def fake_scdaemon(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process named ``scdaemon`` (a copy of sleep), as GnuPG's would be."""
    binary = tmp_path / "scdaemon"
    sleep = shutil.which("sleep")
    assert sleep
    shutil.copy2(sleep, binary)
    process = subprocess.Popen([str(binary), "60"])
    deadline = time.monotonic() + 5
    comm = Path(f"/proc/{process.pid}/comm")
    while time.monotonic() < deadline and comm.read_text().strip() != "scdaemon":
        time.sleep(0.02)
    yield process
    process.terminate()
    process.wait(timeout=5)
