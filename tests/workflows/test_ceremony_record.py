"""The ceremony record (issue 18, its core): hash chain, closing signature made by a card
key, verification without the card, and every one-byte change found and named."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, EcKeySpec, InitParams
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony_record import (
    CeremonyClosed,
    Participant,
    RecordDamaged,
    RecordError,
    RecordSecretRefused,
    RecordSignature,
    append_entry,
    close_record,
    read_lines,
    start_record,
    verify_record,
)

PIN = "648219"
PARTICIPANTS = [
    Participant("Olga Officer", "security officer"),
    Participant("Carl Custodian", "custodian"),
    Participant("Wanda Witness", "witness"),
]


def _card_signer(tmp_path: Path) -> tuple[SmartCardHsm, int, bytes]:
    simulator = SmartCardHsmSimulator(tmp_path / "officer.json", seed=b"record")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=0))
    hsm.verify_pin(PIN)
    key = KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "ceremony signer")
    assert key.public_key is not None
    spki = key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hsm, key.key_reference, spki


def _signer(hsm: SmartCardHsm, reference: int, spki: bytes) -> RecordSignature:
    return RecordSignature(
        algorithm="ecdsa-sha256",
        signer="Olga Officer",
        public_key=spki,
        key={"device": hsm.serial(), "key_reference": reference},
    )


def _sign_with(hsm: SmartCardHsm, reference: int) -> Callable[[bytes], bytes]:
    def sign(digest: bytes) -> bytes:
        assert len(digest) == 32
        return hsm.sign(reference, 0x70, digest)  # ECDSA on the given hash

    return sign


def _ceremony(path: Path, tmp_path: Path) -> None:
    start_record(
        path,
        title="Root key ceremony 2026-12",
        participants=PARTICIPANTS,
        devices=[{"serial": "UTSIM0000001", "authenticity": "simulated"}],
    )
    append_entry(
        path,
        workflow="initialise",
        actor="Olga Officer",
        result="done",
        device={"serial": "UTSIM0000001"},
        changes={"key_domains": 1, "dkek_shares": 2},
    )
    append_entry(
        path,
        workflow="share import",
        actor="Carl Custodian",
        witness="Wanda Witness",
        result="done",
        changes={"domain": 0, "share_fingerprint": "0123456789ABCDEF", "kcv_after": "AA" * 8},
        checks=["KCV matches the custodian's sheet"],
    )
    hsm, reference, spki = _card_signer(tmp_path)
    close_record(path, _signer(hsm, reference, spki), _sign_with(hsm, reference))


def test_a_closed_record_verifies_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "ceremony.jsonl"
    _ceremony(path, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = read_lines(path)
    assert [json.loads(line)["type"] for line in lines] == ["start", "step", "step", "close"]
    result = verify_record(path)
    assert result.valid, result.text()
    assert result.text() == "record intact: 4 lines, closing signature verified"
    with pytest.raises(CeremonyClosed):
        append_entry(path, workflow="backup", actor="Olga Officer", result="done")


def test_every_one_byte_change_is_found_and_its_line_named(tmp_path: Path) -> None:
    path = tmp_path / "ceremony.jsonl"
    _ceremony(path, tmp_path)
    original = path.read_bytes()
    line_of = []
    number = 1
    for byte in original:
        line_of.append(number)
        if byte == 0x0A:
            number += 1
    changed = tmp_path / "changed.jsonl"
    for offset in range(len(original) - 1):  # the final newline ends the file either way
        data = bytearray(original)
        data[offset] ^= 0x01
        changed.write_bytes(bytes(data))
        result = verify_record(changed)
        assert not result.valid, offset
        assert result.first_altered == line_of[offset], (offset, result)


def test_an_open_record_reports_the_chain_but_not_closed(tmp_path: Path) -> None:
    path = tmp_path / "open.jsonl"
    start_record(path, title="t", participants=PARTICIPANTS[:1])
    append_entry(path, workflow="generate", actor="Olga Officer", result="done")
    result = verify_record(path)
    assert (result.first_altered, result.closed, result.valid) == (None, False, False)
    assert "not closed" in result.text()


def test_a_removed_line_is_found(tmp_path: Path) -> None:
    path = tmp_path / "ceremony.jsonl"
    _ceremony(path, tmp_path)
    lines = path.read_bytes().split(b"\n")
    del lines[1]
    path.write_bytes(b"\n".join(lines))
    assert verify_record(path).first_altered in (1, 2)


def test_secrets_and_strangers_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    start_record(path, title="t", participants=PARTICIPANTS)
    before = path.read_bytes()
    for changes in ({"new_pin": "123456"}, {"password": "x"}, {"share": {"kek": "00"}}):
        with pytest.raises(RecordSecretRefused):
            append_entry(
                path, workflow="pin change", actor="Olga Officer", result="done", changes=changes
            )
    with pytest.raises(RecordSecretRefused):
        append_entry(
            path, workflow="x", actor="Olga Officer", result="done", changes={"blob": b"\x00"}
        )
    with pytest.raises(RecordError, match="not a participant"):
        append_entry(path, workflow="x", actor="Mallory", result="done")
    assert path.read_bytes() == before
    with pytest.raises(RecordError, match="exists"):
        start_record(path, title="t", participants=PARTICIPANTS)


def test_a_signature_that_does_not_verify_does_not_close(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    start_record(path, title="t", participants=PARTICIPANTS)
    hsm, reference, spki = _card_signer(tmp_path)
    sign = _sign_with(hsm, reference)

    def wrong(digest: bytes) -> bytes:
        return sign(bytes(32))  # signs something else

    with pytest.raises(RecordError, match="does not verify"):
        close_record(path, _signer(hsm, reference, spki), wrong)
    assert [json.loads(line)["type"] for line in read_lines(path)] == ["start"]


def test_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    assert verify_record(path).first_altered == 1
    with pytest.raises(RecordDamaged):
        append_entry(path, workflow="x", actor="a", result="done")
    assert Participant.parse("Carl Custodian:custodian") == PARTICIPANTS[1]
    assert Participant.parse("Wanda Witness, witness") == PARTICIPANTS[2]
    with pytest.raises(ValueError, match="unknown role"):
        Participant.parse("Eve:spy")


def test_the_report_renders_and_says_what_verify_found(tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader

    from keymanager.workflows.ceremony_report import report_text, write_report_pdf

    path = tmp_path / "ceremony.jsonl"
    _ceremony(path, tmp_path)
    text = report_text(path)
    assert "Verification: record intact: 4 lines, closing signature verified" in text
    for person in PARTICIPANTS:
        assert f"{person.name} ({person.role})" in text
    assert "share import on UTSIM0000001" not in text  # the step names no device
    assert "witnessed by Wanda Witness" in text and "KCV matches" in text
    pages = write_report_pdf(path, tmp_path / "report.pdf")
    reader = PdfReader(io.BytesIO((tmp_path / "report.pdf").read_bytes()))
    assert len(reader.pages) == pages >= 1
    rendered = "".join(page.extract_text() for page in reader.pages)
    assert "Root key ceremony 2026-12" in rendered and "Signature: ____" in rendered
    assert f"page 1 of {pages}" in rendered
    # an altered record prints as altered
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"initialise", b"initialize")
    path.write_bytes(b"\n".join(lines))
    assert "Verification: line 2 was altered" in report_text(path)


def test_a_long_document_spans_pages() -> None:
    import io

    from pypdf import PdfReader

    from keymanager.workflows.printable import MAX_LINES, render_document_pdf

    text = "\n".join(f"step {number}" for number in range(2 * MAX_LINES + 5))
    reader = PdfReader(io.BytesIO(render_document_pdf("Long (report)", text)))
    assert len(reader.pages) == 3
    assert "page 3 of 3" in reader.pages[2].extract_text()
    assert f"step {2 * MAX_LINES + 4}" in reader.pages[2].extract_text()
    assert "step 0" in reader.pages[0].extract_text()
