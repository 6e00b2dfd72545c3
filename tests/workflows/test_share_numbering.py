"""Shares are asked for as the key domain counts them (issue 13).

A domain of three shares that holds one already asks for "share 2 of 3" and "share 3
of 3" (not "1 of 2"), reports each outcome with that number, and a partial import
(``count=1``) asks for share 2 of 3 as its last one.
"""

from __future__ import annotations

import hashlib

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.interaction import PaperKeyShareInput, ScriptedInteraction

PIN = "648219"
SHARES = [hashlib.sha256(f"numbering custodian {n}".encode()).digest() for n in (1, 2, 3)]


def _domain_of_three_with_one_imported() -> SmartCardHsm:
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(seed=b"numbering")))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=3))
    hsm.verify_pin(PIN.encode())
    status = hsm.import_dkek_share(SHARES[0], 0)
    assert (status.shares_total, status.shares_outstanding) == (3, 2)
    return hsm


def _paperkey(share: bytes) -> PaperKeyShareInput:
    return PaperKeyShareInput(list(encode_paperkey(share).lines))


def test_a_domain_of_three_with_one_imported_asks_for_share_2_and_3_of_3() -> None:
    hsm = _domain_of_three_with_one_imported()
    interaction = ScriptedInteraction().answer("secret", PIN)
    interaction.answer("share", _paperkey(SHARES[1])).answer("share", _paperkey(SHARES[2]))
    result = import_shares(hsm, interaction, 0)
    asked = [question for question in interaction.questions if question.startswith("share:")]
    assert asked == ["share: share 2 of 3", "share: share 3 of 3"]
    outcomes = interaction.share_outcomes
    assert [(o.request.number, o.request.total, o.request.last_number) for o in outcomes] == [
        (2, 3, 3),
        (3, 3, 3),
    ]
    assert all(o.accepted and o.request.into_card for o in outcomes)
    assert [o.shares_accepted for o in outcomes] == [2, 3]
    assert [o.fingerprint for o in outcomes] == [
        format_kcv(share_fingerprint(share)) for share in SHARES[1:]
    ]
    assert not outcomes[0].complete and outcomes[1].complete
    assert outcomes[1].running_kcv == Dkek.from_shares(SHARES).kcv()
    assert [step.number for step in result.imported] == [2, 3]
    assert any("Share 2 of 3 imported" in text for text in interaction.texts())


def test_a_partial_import_ends_at_its_last_share() -> None:
    hsm = _domain_of_three_with_one_imported()
    interaction = ScriptedInteraction().answer("secret", PIN)
    interaction.answer("share", _paperkey(SHARES[1]))
    result = import_shares(hsm, interaction, 0, count=1)
    (outcome,) = interaction.share_outcomes
    assert (outcome.request.number, outcome.request.total, outcome.request.last_number) == (
        2,
        3,
        2,
    )
    assert outcome.complete  # the last share asked for now
    assert result.shares_outstanding == 1


def test_a_refused_share_is_reported_with_its_number_and_asked_again() -> None:
    hsm = _domain_of_three_with_one_imported()
    lines = list(encode_paperkey(SHARES[1]).lines)
    wrong_checksum = [
        *lines[:3],
        lines[3][:-2] + ("A" if lines[3][-2] != "A" else "B") + lines[3][-1],
    ]
    interaction = ScriptedInteraction().answer("secret", PIN)
    interaction.answer("share", PaperKeyShareInput(wrong_checksum))
    interaction.answer("share", _paperkey(SHARES[1]))
    import_shares(hsm, interaction, 0, count=1)
    refused, accepted = interaction.share_outcomes
    assert not refused.accepted and refused.request.number == 2 and refused.problem
    assert refused.shares_accepted == 1
    assert accepted.accepted and accepted.request.number == 2
