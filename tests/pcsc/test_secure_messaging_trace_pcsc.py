"""PINs and DKEK shares in APDU traces through a real pcscd, with secure messaging on and off.

The workflows keymanager runs for people — initialisation (SO-PIN, new SO-PIN, user
PIN), a DKEK share import, a PIN verification and change, and a PKCS#12 import (UNWRAP)
— go to the simulator behind vpcd through pcscd started with ``--apdu``
(:class:`~tests.support.pcscd.PcscdHarness`).  In the clear the secrets stand in
pcscd's log: the control that shows the test can see them.  On secure messaging none of
them is in pcscd's log in any encoding (the bytes as pcscd writes them, ``36 34 …``;
the hex without spaces or in lower case; the bytes across the log's lines; the digits
as typed), nor in keymanager's own TRAFFIC log of the same run (which redacts the
plain command and shows the wrapped APDUs as sent).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.apdu import TRAFFIC
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN
from keymanager.card.pcsc import PcscTransport
from keymanager.card.secure_messaging import SecureMessagingMode, SecureMessagingStatus
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.device import DkekScheme, InitPlan, initialize_device
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import PaperKeyShareInput, ScriptedInteraction
from keymanager.workflows.pins import change_pin, verify_pin
from tests.support.pcscd import PcscdHarness
from tests.workflows.p12_support import P12_PASSWORD, write_p12

# Long enough that their digits cannot stand in a hex trace by chance (16^-10 a place).
PIN = "4821390765"
NEW_PIN = "7305918264"
NEW_SO_PIN = "5A3E91C7D2084F66"
SHARE = hashlib.sha256(b"custodian share of the APDU-trace test").digest()
APDU_LINE = re.compile(r"\b(?:APDU|SW): ((?:[0-9A-F]{2} )*)")


@dataclass(frozen=True)
class Secret:
    name: str
    value: bytes
    """The bytes on the card's interface (an SO-PIN's 16 hex digits are its hex form)."""


SECRETS = (
    Secret("user PIN", PIN.encode()),
    Secret("new user PIN", NEW_PIN.encode()),
    Secret("SO-PIN", DEFAULT_SO_PIN),
    Secret("new SO-PIN", bytes.fromhex(NEW_SO_PIN)),
    Secret("DKEK share", SHARE),
)


def encodings(secret: Secret) -> list[str]:
    """The secret as text in any way a trace could show it."""
    value = secret.value
    forms = [
        " ".join(f"{byte:02X}" for byte in value),  # pcscd's form
        " ".join(f"{byte:02x}" for byte in value),
        value.hex().upper(),  # keymanager's TRAFFIC form
        value.hex(),
    ]
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(value.decode("ascii"))  # the digits of a PIN as typed
    return [form for form in forms if len(form) >= 8]


def logged_bytes(log: str) -> bytes:
    """Every byte of every APDU and response pcscd logged, one after the other."""
    return b"".join(bytes.fromhex(match.group(1)) for match in APDU_LINE.finditer(log))


def found(secret: Secret, log: str) -> list[str]:
    """The encodings of ``secret`` that stand in ``log`` (text, and pcscd's bytes)."""
    text = log.replace("\n", " ")
    hits = [form for form in encodings(secret) if form in text or form in text.replace(" ", "")]
    if secret.value in logged_bytes(log):
        hits.append("the bytes of pcscd's APDU lines")
    return hits


def paperkey(share: bytes) -> PaperKeyShareInput:
    return PaperKeyShareInput(list(encode_paperkey(share).lines))


@pytest.fixture
def traffic(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """keymanager's TRAFFIC log (every APDU) of the test."""
    with caplog.at_level(TRAFFIC, logger="keymanager.card.apdu"):
        yield caplog


def run_workflows(hsm: SmartCardHsm, tmp_path: Path) -> None:
    """Initialise, import the share, verify and change the PIN, import a PKCS#12 file."""
    interaction = (
        ScriptedInteraction()
        .answer("secret", DEFAULT_SO_PIN.hex())
        .answer("secret", NEW_SO_PIN)
        .answer("secret", PIN)
        .answer("confirm", True)
    )
    initialize_device(
        hsm, interaction, InitPlan(DkekScheme.DKEK_SHARES, shares=1, change_so_pin=True)
    )
    imported = import_shares(
        hsm, ScriptedInteraction().answer("secret", PIN).answer("share", paperkey(SHARE)), 0
    )
    assert imported.complete
    verify_pin(hsm, ScriptedInteraction().answer("secret", PIN))
    change_pin(hsm, ScriptedInteraction().answer("secret", PIN).answer("secret", NEW_PIN))
    path = tmp_path / "key.p12"
    write_p12(path, ec.generate_private_key(ec.SECP256R1()), common_name="trace key")
    interaction = (
        ScriptedInteraction()
        .answer("number", 1)
        .answer("share", paperkey(SHARE))
        .answer("secret", P12_PASSWORD)  # the PIN is verified (by the change)
        .answer("choices", "all")
    )
    result = import_pkcs12(
        hsm, interaction, path=path, journal=ImportJournal(tmp_path / "journal"), offer_more=False
    )
    assert len(result.keys) == 1 and interaction.finished
    assert hsm.pin_status().verified


@pytest.mark.parametrize("mode", [SecureMessagingMode.AUTO, SecureMessagingMode.OFF])
def test_pins_and_shares_in_pcscds_apdu_log(
    pcscd: PcscdHarness,
    traffic: pytest.LogCaptureFixture,
    tmp_path: Path,
    mode: SecureMessagingMode,
) -> None:
    if not pcscd.logs_apdus:
        pytest.fail(
            "pcscd was running already, so its APDU log cannot be read: run the pcscd tests "
            "where the tests start pcscd themselves (with --apdu), e.g. in a private "
            "namespace: unshare --net --mount --propagation private sh -c 'ip link set lo "
            "up; mount -t tmpfs tmpfs /run/pcscd; exec .venv/bin/python -m pytest tests/pcsc'"
        )
    simulator = SmartCardHsmSimulator(seed=b"pcscd apdu trace " + mode.value.encode())
    with pcscd.inserted(simulator) as (reader, _bridge):
        start = pcscd.log_position()
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport, secure_messaging=mode)
            on = mode is SecureMessagingMode.AUTO
            expected = SecureMessagingStatus.ACTIVE if on else SecureMessagingStatus.OFF
            assert hsm.secure_messaging.status is expected
            run_workflows(hsm, tmp_path)
        finally:
            transport.close()
        pcscd_log = pcscd.log_since(start)
    traffic_log = "\n".join(record.getMessage() for record in traffic.records)
    commands = [line for line in pcscd_log.splitlines() if "APDU: " in line]
    assert len(commands) > 20, pcscd_log[-2000:]
    assert "SEND" in traffic_log and "RECV" in traffic_log
    for secret in SECRETS:
        assert found(secret, traffic_log) == [], f"{secret.name} in the TRAFFIC log"
    if on:
        # the PIN commands and the share import went wrapped (CLA 0C / 8C) ...
        assert any("APDU: 0C 20 00 81" in line for line in commands)
        assert any("APDU: 8C 52 00 00" in line for line in commands)
        assert any("APDU: 8C 50 00 00" in line for line in commands)
        assert not any(re.search(r"APDU: [08]0 (20|24|2C|50|52|74) ", line) for line in commands)
        assert "SEND (protected) " in traffic_log
        for secret in SECRETS:
            assert found(secret, pcscd_log) == [], f"{secret.name} in pcscd's log"
    else:
        # the control: in the clear, every secret stands in pcscd's log as pcscd writes
        # it, and the search finds it
        for secret in SECRETS:
            assert " ".join(f"{byte:02X}" for byte in secret.value) in pcscd_log, secret.name
            assert "the bytes of pcscd's APDU lines" in found(secret, pcscd_log)
        assert "(protected)" not in traffic_log
