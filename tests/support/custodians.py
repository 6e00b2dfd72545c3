"""Custodians for the public key authentication tests: a simulated custodian card with a
custodian key on it and the key's ``.pka`` file (workflow and GUI tests share them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitParams
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.pka import CustodianCard, create_custodian_key
from keymanager.workflows.pka_keys import DEFAULT_CUSTODIAN_CURVE

CUSTODIAN_SO_PIN = bytes.fromhex("3537363231383830")
CUSTODIAN_PINS = ("111111", "222222", "333333", "444444")


@dataclass
class Custodian:
    """A custodian's card, its user PIN, the ``.pka`` file and the key's CHR."""

    card: SmartCardHsmSimulator
    pin: str
    pka: Path
    chr: str

    def session(self) -> SmartCardHsm:
        return SmartCardHsm.open(LocalTransport(self.card))

    def as_card(self, name: str) -> CustodianCard:
        return CustodianCard(name, self.session)

    def tries_left(self) -> int | None:
        return self.session().pin_status().tries_left


def make_custodian(
    tmp_path: Path,
    number: int,
    *,
    curve: str = DEFAULT_CUSTODIAN_CURVE,
    profile: str | None = None,
    in_file: bool = False,
) -> Custodian:
    """Custodian ``number`` (1 to 4): its card initialised with its PIN, a custodian key
    labelled ``custodian N`` and the ``.pka`` file in ``tmp_path``.

    :param profile: the simulator profile (``None``: the suite's).
    :param in_file: keep the card's state in ``tmp_path`` (a card a simulator source
        opens by its path).
    """
    path = tmp_path / f"custodian-{number}.json" if in_file else None
    card = SmartCardHsmSimulator(path, seed=f"custodian {number}".encode(), profile=profile)
    pin = CUSTODIAN_PINS[number - 1]
    SmartCardHsm.open(LocalTransport(card)).initialize(InitParams(pin, CUSTODIAN_SO_PIN))
    out = tmp_path / f"custodian-{number}.pka"
    key = create_custodian_key(
        SmartCardHsm.open(LocalTransport(card)),
        ScriptedInteraction().answer("secret", pin),
        label=f"custodian {number}",
        out=out,
        curve=curve,
    )
    return Custodian(card, pin, out, key.chr)
