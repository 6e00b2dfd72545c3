"""``keymanager-cli diagnose``: the programs that may hold a card, read from a directory
laid out like ``/proc``; keymanager's own simulator is never one of them (issue 14)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keymanager import diagnostics
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.diagnostics import likely_card_holders, runs_own_simulator
from keymanager.simulator import SmartCardHsmSimulator

PROCESSES = {
    # keymanager's simulator behind vpcd, run by a frozen keymanager executable
    4101: ("keymanager", ["/opt/keymanager/keymanager", "-m", "keymanager.simulator", "--vpcd"]),
    # ... and by Python, as docs/pcsc-testing.md starts it
    4102: ("python3", ["/usr/bin/python3", "-m", "keymanager.simulator", "--vpcd"]),
    4103: ("keymanager", ["/usr/bin/python3", "/src/keymanager/simulator", "--vpcd"]),
    4104: ("python3", ["python3", "/src/keymanager/simulator/__main__.py", "--vpcd"]),
    # programs that may hold a card
    4201: ("keymanager", ["/usr/bin/python3", "/usr/bin/keymanager"]),
    4202: ("scdaemon", ["scdaemon", "--multi-server"]),
    4203: ("keymanager-cli", ["/usr/bin/python3", "/usr/bin/keymanager-cli", "status"]),
    4204: ("keymanager", ["/usr/bin/keymanager", "-m", "keymanager.simulatorx"]),
    # neither
    4301: ("bash", ["bash"]),
}
HOLDERS = [(4201, "keymanager"), (4204, "keymanager"), (4203, "keymanager-cli"), (4202, "scdaemon")]


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A directory laid out like ``/proc`` with :data:`PROCESSES` (and this process)."""
    root = tmp_path / "proc"
    for pid, (name, command) in PROCESSES.items():
        entry = root / str(pid)
        entry.mkdir(parents=True)
        (entry / "comm").write_text(name + "\n")
        (entry / "cmdline").write_bytes(b"".join(part.encode() + b"\0" for part in command))
    own = root / str(os.getpid())
    own.mkdir()
    (own / "comm").write_text("keymanager-cli\n")
    (own / "cmdline").write_bytes(b"keymanager-cli\0diagnose\0")
    (root / "self").mkdir()
    return root


def test_likely_card_holders_leave_out_keymanagers_simulator(proc: Path) -> None:
    found = [(holder.pid, holder.program) for holder in likely_card_holders(proc)]
    assert found == HOLDERS
    for pid in (4101, 4102, 4103, 4104):
        assert runs_own_simulator(PROCESSES[pid][1])
    for pid in (4201, 4202, 4203, 4204, 4301):
        assert not runs_own_simulator(PROCESSES[pid][1])


def test_diagnose_does_not_name_keymanagers_simulator(
    proc: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(diagnostics, "PROC", proc)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    state = tmp_path / "card.json"
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    hsm.initialize(InitParams(user_pin="648219", so_pin=DEFAULT_SO_PIN, key_domains=1))

    assert main(["diagnose", "--simulator", str(state), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    listed = [(holder["pid"], holder["program"]) for holder in output["likely_card_holders"]]
    assert listed == HOLDERS

    assert main(["diagnose", "--simulator", str(state)]) == 0
    text = capsys.readouterr().out
    assert "Programs that may hold a card:" in text
    assert "pid 4201" in text and "pid 4202" in text
    assert not any(f"pid {pid}" in text for pid in (4101, 4102, 4103, 4104, 4301))
