"""The outline and the audit say whether a session runs on secure messaging, and why not.

Each test opens its sessions with an explicit mode (``AUTO`` or ``OFF``), so it says the
same under the directory's ``[sm]`` and ``[clear]`` runs; the card that does not do
secure messaging is the simulator answering MSE SET AT with ``6D00`` (a hostile-card
rule), on which the session goes on in the clear and works.  A channel that breaks
while the outline is read is an error of the whole read, never a "could not be read"
notice, and the next read opens a new channel.
"""

from __future__ import annotations

import csv
import io

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams, PinState
from keymanager.card.secure_messaging import (
    ChannelBroken,
    SecureMessagingMode,
    SecureMessagingStatus,
)
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard
from keymanager.workflows.audit import audit
from keymanager.workflows.audit_export import audit_csv, device_rows
from keymanager.workflows.outline import read_outline
from keymanager.workflows.secure_messaging import BROKEN_HEADLINE, channel_problem

pytestmark = pytest.mark.secrets_in_the_clear  # sessions turned off, a card without it

PIN = "648219"
ACTIVE = "active: PINs and shares cross the reader encrypted"
OFF = "off (turned off): PINs and shares cross the reader in the clear"
NO_CHIP_AUTHENTICATION = "ins:22@sw:6D00"
"""MSE SET AT answered "instruction not supported": a card without secure messaging."""


@pytest.fixture
def card() -> HostileCard:
    """An initialised simulated card (of the run's profile) behind a hostile wrapper
    without rules: it behaves until a test gives it one."""
    simulator = SmartCardHsmSimulator(seed=b"secure messaging words")
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=SecureMessagingMode.OFF)
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=0))
    return HostileCard(simulator)


def _session(card: HostileCard, mode: SecureMessagingMode) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(card, name="Sim"), secure_messaging=mode)


@pytest.mark.parametrize(
    ("mode", "status", "text"),
    [
        (SecureMessagingMode.AUTO, SecureMessagingStatus.ACTIVE, ACTIVE),
        (SecureMessagingMode.OFF, SecureMessagingStatus.OFF, OFF),
    ],
    ids=["auto", "off"],
)
def test_the_outline_and_the_audit_say_what_the_session_runs_on(
    card: HostileCard,
    mode: SecureMessagingMode,
    status: SecureMessagingStatus,
    text: str,
) -> None:
    hsm = _session(card, mode)
    assert hsm.secure_messaging.status is status
    assert read_outline(hsm).device.detail("Secure messaging") == text
    report = audit(hsm)
    assert report.secure_messaging == status.value
    assert report.to_dict()["secure_messaging"] == status.value
    assert report.to_dict()["secure_messaging_text"] == text
    assert f"Secure messaging: {text}" in report.to_text().splitlines()
    assert ("Secure messaging", text) in device_rows(report)
    rows = list(csv.DictReader(io.StringIO(audit_csv(report))))
    assert rows and {row["secure_messaging"] for row in rows} == {status.value}


def test_a_card_without_secure_messaging_is_used_in_the_clear(card: HostileCard) -> None:
    card.set_rules(NO_CHIP_AUTHENTICATION)
    hsm = _session(card, SecureMessagingMode.AUTO)
    state = hsm.secure_messaging
    assert state.status is SecureMessagingStatus.UNAVAILABLE
    assert "does not support chip authentication" in state.reason
    detail = read_outline(hsm).device.detail("Secure messaging")
    assert detail == state.text
    assert detail is not None and detail.startswith("unavailable (the card does not support")
    assert detail.endswith("PINs and shares cross the reader in the clear")
    # the session goes on in the clear, and works
    hsm.verify_pin(PIN)
    assert hsm.pin_status().state is PinState.VERIFIED
    assert card.log.replaced == 1  # only MSE SET AT was answered 6D00
    report = audit(hsm)
    assert report.secure_messaging == "unavailable"
    assert report.secure_messaging_text == state.text


@pytest.mark.parametrize(
    "spec",
    ["ins:58@flip:3", "ins:B1,p1p2:2F03@flip:3", "ins:20@sw:6988"],
    ids=["key-list", "token-info", "ended-by-card"],
)
def test_a_broken_channel_fails_the_read_and_the_next_read_opens_a_new_one(
    card: HostileCard, spec: str
) -> None:
    hsm = _session(card, SecureMessagingMode.AUTO)
    card.set_rules(spec)
    with pytest.raises(ChannelBroken) as raised:
        read_outline(hsm)
    problem = channel_problem(raised.value)
    assert problem is not None and problem.headline == BROKEN_HEADLINE
    assert problem.effect_unknown
    card.clear()
    outline = read_outline(hsm)
    assert outline.device.detail("Secure messaging") == ACTIVE
    assert not [node for node in outline.nodes() if node.node_id.startswith("notice:")]
