"""Persistent state: survives reloads, written atomically with mode 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.dkek import Dkek
from keymanager.dkek.curves import curve_by_name
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.state import StateFileError
from tests.simulator.conftest import USER_PIN, Card, ec_request_body, parse_request


def _open(path: Path, seed: bytes | None = None) -> Card:
    card = Card(SmartCardHsmSimulator(path, seed=seed))
    card.select()
    return card


def test_state_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    card = _open(path, b"persist")
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    serial = card.sim.serial
    card.initialise(shares=1, retries=5)
    card.verify()
    share = bytes(range(32))
    card.domain(data=share)
    request, _ = card.generate(1, ec_request_body(curve_by_name("secp256r1")))
    card.write(0xCF01, b"public object")
    card.verify(b"000000")  # one wrong try is remembered too
    del card

    again = _open(path)
    assert again.sim.serial == serial
    assert again.verify(None) == 0x63C4
    assert again.verify(USER_PIN) == 0x9000
    assert again.read(0xCF01)[0] == b"public object"
    with Dkek.from_shares([share]) as dkek:
        assert again.domain()[0][2:10] == dkek.kcv()
    point = parse_request(request).public_key[b"\x86"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    signature, sw = again.sign(1, 0x73, b"after reload")
    assert sw == 0x9000
    public.verify(signature, b"after reload", ec.ECDSA(hashes.SHA256()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "card.json"]  # no temporary left


def test_seeded_stream_continues_after_reload(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    first = _open(path, b"stream")
    challenge_one = first.send(0x00, 0x84, 0x00, 0x00, le=16)[0]
    second = _open(path, b"stream")
    challenge_two = second.send(0x00, 0x84, 0x00, 0x00, le=16)[0]
    assert challenge_one != challenge_two
    fresh = Card(SmartCardHsmSimulator(seed=b"stream"))
    fresh.select()
    # a reload continues the stream exactly as if the card had never been reloaded
    assert fresh.send(0x00, 0x84, 0x00, 0x00, le=16)[0] == challenge_one
    assert fresh.send(0x00, 0x84, 0x00, 0x00, le=16)[0] == challenge_two


def test_a_broken_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text("{not json")
    with pytest.raises(StateFileError):
        SmartCardHsmSimulator(path)
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(StateFileError):
        SmartCardHsmSimulator(path)


def test_unchanged_state_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    card = _open(path)  # unseeded: challenges do not touch the state
    before = path.stat().st_mtime_ns
    card.send(0x00, 0x84, 0x00, 0x00, le=16)
    card.enumerate()
    assert path.stat().st_mtime_ns == before
