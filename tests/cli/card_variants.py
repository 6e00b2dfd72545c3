"""Simulated cards that answer some commands as other SmartCard-HSM implementations do.

``keymanager-cli --simulator STATE`` builds its card from
``keymanager.simulator.SmartCardHsmSimulator``; :func:`use_card_variant` replaces that
class for one test with a subclass that

* runs under the test's simulator profile with some behaviours changed
  (``domain_delete_answers_6a88=True``: the card answers ``6A88`` to a DELETE KEY DOMAIN
  it carried out, as Pico HSM does), and
* answers commands whose APDU starts with a given header with a status word without
  carrying them out (:class:`Refusal`), as a card refuses them.

Every other command reaches the simulated card unchanged: nothing succeeds here that
the card did not do.  Headers are those of plain APDUs: a variant with refusals runs its
sessions in the clear (``KEYMANAGER_SECURE_MESSAGING=off`` for the test), where secure
messaging would wrap them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

import keymanager.simulator
from keymanager.card.secure_messaging import MODE_VARIABLE
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.profiles import current_profile

READ_DEVICE_CERTIFICATES = bytes.fromhex("00B12F02")
"""READ BINARY of EF 2F02 (the device certificate, which tells the serial)."""
INITIALIZE = bytes.fromhex("80500000")
DELETE_KEY_DOMAIN = bytes.fromhex("805203")
RESET_RETRY_COUNTER_UNBLOCK = bytes.fromhex("002C0181")
"""RESET RETRY COUNTER without a new PIN (P1 01)."""
RESET_RETRY_COUNTER_NEW_PIN = bytes.fromhex("002C0081")
"""RESET RETRY COUNTER with a new PIN (P1 00)."""


@dataclass(frozen=True)
class Refusal:
    """Answer APDUs starting with ``header`` with ``sw``, not carried out.

    :param until: refuse only until an APDU starting with these bytes was answered
        ``9000`` on this card object (``b""``: always).
    """

    header: bytes
    sw: int
    until: bytes = b""


class CardVariant(SmartCardHsmSimulator):
    """What :func:`use_card_variant` returns: the class of the variant's cards."""

    refused: ClassVar[list[bytes]] = []
    """The headers of the APDUs refused so far, by every card of this variant."""
    refusals: list[Refusal]


def use_card_variant(
    monkeypatch: pytest.MonkeyPatch,
    *,
    refusals: Sequence[Refusal] = (),
    **profile_changes: Any,
) -> type[CardVariant]:
    """Make every simulated card the CLI (or the test) opens from now on this variant."""

    class Variant(CardVariant):
        refused: ClassVar[list[bytes]] = []

        def __init__(self, state_path: Path | str | None = None, **kwargs: Any) -> None:
            if profile_changes and kwargs.get("profile") is None:
                kwargs["profile"] = dataclasses.replace(current_profile(), **profile_changes)
            super().__init__(state_path, **kwargs)
            self.refusals = list(refusals)

        def process_apdu(self, apdu: bytes) -> bytes:
            for refusal in self.refusals:
                if bytes(apdu).startswith(refusal.header):
                    self.refused.append(bytes(apdu[:4]))
                    return refusal.sw.to_bytes(2, "big")
            response = super().process_apdu(apdu)
            if response[-2:] == b"\x90\x00":
                self.refusals = [
                    refusal
                    for refusal in self.refusals
                    if not (refusal.until and bytes(apdu).startswith(refusal.until))
                ]
            return response

    monkeypatch.setattr(keymanager.simulator, "SmartCardHsmSimulator", Variant)
    if refusals:  # the headers are those of plain APDUs
        monkeypatch.setenv(MODE_VARIABLE, "off")
    return Variant
