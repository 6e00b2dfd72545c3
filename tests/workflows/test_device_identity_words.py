"""Status, diagnose, audit and the GUI outline say the same words about the device."""

from __future__ import annotations

from pathlib import Path

import pytest

from keymanager.card.cvc import DeviceCertificate
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.cli.card_commands import collect_status
from keymanager.diagnostics import probe_card
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.audit import audit
from keymanager.workflows.outline import read_outline
from tests.card.scripted import unhex

VECTORS = Path(__file__).parents[1] / "card" / "vectors"
PICO_DV2 = unhex((VECTORS / "pico-hsm-ef2f02-dv00002.hex").read_text())


def _words(simulator: SmartCardHsmSimulator) -> dict[str, str]:
    status = collect_status(SmartCardHsm.open(LocalTransport(simulator)), "Sim")
    diagnosis = probe_card(LocalTransport(simulator, name="Sim"))
    report = audit(SmartCardHsm.open(LocalTransport(simulator)))
    outline = read_outline(SmartCardHsm.open(LocalTransport(simulator)))
    device = outline.device
    authenticity = device.detail("Authenticity")
    assert authenticity is not None
    assert diagnosis.device_certificate is not None
    assert diagnosis.device_verdict == status["device_verdict"]
    return {
        "status": status["genuine"],
        "diagnose": diagnosis.device_certificate,
        "audit": report.device,
        "outline": authenticity,
        "title": device.title,
    }


@pytest.fixture
def simulator() -> SmartCardHsmSimulator:
    card = SmartCardHsmSimulator(seed=b"identity words")
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(user_pin="648219", so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    return card


def test_the_simulator_is_named_the_same_everywhere(simulator: SmartCardHsmSimulator) -> None:
    words = _words(simulator)
    title = words.pop("title")
    assert set(words.values()) == {"unverified (simulator)"}
    assert title.endswith(", unverified (simulator))")


def test_a_pico_chain_is_named_the_same_everywhere(
    simulator: SmartCardHsmSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SmartCardHsm, "device_certificates", lambda self: PICO_DV2)
    words = _words(simulator)
    title = words.pop("title")
    expected = DeviceCertificate.parse(PICO_DV2).identity().text
    assert expected == "Pico HSM (device certificate from Pico's PKI)"
    assert set(words.values()) == {expected}
    assert title.endswith(", Pico HSM)")
