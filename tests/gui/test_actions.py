"""The built-in actions of the outline (``keymanager.gui.actions``): Copy KCV is offered
only for a KCV that is one, never for a domain without DKEK (issue 14)."""

from __future__ import annotations

import dataclasses

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import format_kcv, kcv_of
from keymanager.gui.actions import builtin_actions, has_kcv
from keymanager.simulator import PROFILES, SmartCardHsmSimulator
from keymanager.workflows.outline import (
    KCV_HIDDEN,
    KCV_PENDING,
    NO_DKEK_TEXT,
    OutlineNode,
    read_outline,
)

PIN = "648219"
SHARE = bytes(range(32))


def card_with_a_domain_without_dkek(profile: str) -> SmartCardHsm:
    """Domain 0 without DKEK (made with 0 shares by a card that then makes none, and
    not recorded by keymanager), domain 1 complete, domain 2 waiting for a share."""
    changed = dataclasses.replace(PROFILES[profile], zero_share_domain_has_dkek=False)
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(seed=b"a", profile=changed)))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, key_domains=3))
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(0, 0)
    hsm.create_dkek_domain(1, 1)
    hsm.import_dkek_share(SHARE, 1)
    hsm.create_dkek_domain(2, 1)
    hsm.verify_pin(PIN)
    return hsm


def copy_kcv_offered(node: OutlineNode) -> bool:
    copied: list[str] = []
    (action,) = [
        action
        for action in builtin_actions(refresh=lambda _node: None, copy_text=copied.append)
        if action.id == "copy-kcv"
    ]
    return action.applies_to(node)


@pytest.mark.parametrize("profile", ["genuine", "pico"])
def test_a_domain_without_dkek_offers_no_kcv_to_copy(profile: str) -> None:
    hsm = card_with_a_domain_without_dkek(profile)
    outline = read_outline(hsm)  # the PIN is verified: a zero KCV is no DKEK
    without, complete, waiting = (outline.find(f"domain:{n}") for n in range(3))
    assert without is not None and complete is not None and waiting is not None
    assert without.detail("KCV") == NO_DKEK_TEXT
    assert NO_DKEK_TEXT in without.title and KCV_HIDDEN not in without.title
    assert not any(d.copyable for d in without.details if d.label == "KCV")
    assert not has_kcv(without) and not copy_kcv_offered(without)

    assert complete.detail("KCV") == format_kcv(kcv_of(SHARE))
    assert has_kcv(complete) and copy_kcv_offered(complete)
    assert waiting.detail("KCV") == KCV_PENDING
    assert not has_kcv(waiting) and not copy_kcv_offered(waiting)


@pytest.mark.parametrize("profile", ["genuine", "pico"])
def test_without_the_pin_a_zero_kcv_may_be_hidden_only(profile: str) -> None:
    """Without the PIN and without keymanager's record the zero KCV is not decided (a
    Pico HSM shows zeros until login): hidden, and not offered for copying either."""
    hsm = card_with_a_domain_without_dkek(profile)
    hsm.select()  # SELECT logs out
    outline = read_outline(hsm)
    without = outline.find("domain:0")
    assert without is not None and without.detail("KCV") == KCV_HIDDEN
    assert not has_kcv(without)
