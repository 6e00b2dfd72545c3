"""The card the secure messaging tests start from: an initialised simulator (the
suite's simulator profile), set up in the clear."""

from __future__ import annotations

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitParams
from keymanager.card.secure_messaging import SecureMessagingMode
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator

PIN = "648219"
SO_PIN = bytes.fromhex("3537363231383830")


def initialised() -> SmartCardHsmSimulator:
    """A simulated card initialised with :data:`PIN`, :data:`SO_PIN` and one DKEK share."""
    simulator = SmartCardHsmSimulator(None)
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=SecureMessagingMode.OFF)
    hsm.initialize(InitParams(user_pin=PIN, so_pin=SO_PIN, dkek_shares=1))
    return simulator
