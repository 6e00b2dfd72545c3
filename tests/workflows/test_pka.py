"""Public key authentication end to end on simulated cards (issue 16, both profiles).

A 2-of-3 device, three custodian cards each with a custodian key and its ``.pka`` file,
the three registered, two custodians unlock the device, and a workflow that needs the
user to be authenticated runs in that session without the PIN; combined mode still
asks it.  Bad input: a tampered chain, a key registered twice, an unregistered
custodian, a wrong custodian PIN, a custodian card that cannot be opened or goes away:
each a specific error, nothing changed on the device.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import InitOptions, PinState
from keymanager.card.keystore import KeyStore
from keymanager.card.pka import pka_status
from keymanager.card.pka_file import PkaFile
from keymanager.card.transport import LocalTransport
from keymanager.dkek.tlv import encode_tlv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.errors import (
    CustodianAlreadyRegistered,
    CustodianCardUnavailable,
    CustodianNotRegistered,
    CustodianPinWrong,
    NoFreePkaSlot,
    PkaFileRejected,
    PkaNotAvailable,
    PkaReplaceRefused,
    WorkflowError,
)
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.key_generation import KeyAlgorithm, generate_key
from keymanager.workflows.pka import (
    CustodianCard,
    authenticate_custodians,
    create_custodian_key,
    pka_overview,
    register_custodian,
)
from tests.support.custodians import CUSTODIAN_PINS, Custodian, make_custodian

PIN = "123456"
SO_PIN = bytes.fromhex("3537363231383830")


def make_device(
    total: int = 3, required: int = 2, options: InitOptions = InitOptions.RESET_RETRY_COUNTER
) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    card = SmartCardHsmSimulator(seed=b"protected device")
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(PIN, SO_PIN, options=options, public_key_auth=(total, required)))
    return card, SmartCardHsm.open(LocalTransport(card))


def register_all(hsm: SmartCardHsm, custodians: list[Custodian]) -> None:
    for custodian in custodians:
        register_custodian(hsm, ScriptedInteraction(), custodian.pka)


@pytest.fixture
def custodians(tmp_path: Path) -> list[Custodian]:
    return [make_custodian(tmp_path, number) for number in (1, 2, 3)]


def pin_answers(*custodians: Custodian) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    for custodian in custodians:
        interaction.answer("secret", custodian.pin)
    return interaction


def test_custodian_key_and_its_file(tmp_path: Path) -> None:
    custodian = make_custodian(tmp_path, 1, curve="prime256v1")
    hsm = custodian.session()
    pka = PkaFile.parse(custodian.pka.read_bytes())
    assert not pka.old_format
    assert pka.check().verdict.verified
    assert pka.chr == custodian.chr == f"{hsm.serial()}{1:05d}"
    assert pka.device_serial == hsm.serial()
    assert pka.request.certificate.car == pka.chr  # CAR = CHR (OpenSC issue #594)
    hsm.verify_pin(custodian.pin)
    [key] = KeyStore(hsm).list_keys()
    assert key.label == "custodian 1" and key.key_reference == 1


def test_custodian_key_refusals(tmp_path: Path) -> None:
    card = SmartCardHsmSimulator(seed=b"refusing custodian")
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(CUSTODIAN_PINS[0], SO_PIN))
    taken = tmp_path / "taken.pka"
    taken.write_bytes(b"an earlier file")
    for out, curve, words in (
        (taken, "brainpoolP256r1", "exists already"),
        (tmp_path / "new.pka", "secp384r1", "brainpoolP256r1 or P-256"),
    ):
        with pytest.raises(WorkflowError, match=words):
            create_custodian_key(hsm, ScriptedInteraction(), label="c", out=out, curve=curve)
    assert taken.read_bytes() == b"an earlier file"
    hsm.verify_pin(CUSTODIAN_PINS[0])
    assert KeyStore(hsm).list_keys() == []


def test_two_of_three_unlock_the_device(custodians: list[Custodian], tmp_path: Path) -> None:
    _card, hsm = make_device()
    serials = []
    for number, custodian in enumerate(custodians):
        result = register_custodian(hsm, ScriptedInteraction(), custodian.pka)
        assert result.slot == number and result.chr == custodian.chr
        assert result.device_serial == custodian.session().serial()
        assert result.status.registered == number + 1
        serials.append(result.device_serial)
    assert len(set(serials)) == 3
    overview = pka_overview(hsm)
    assert overview is not None
    assert overview.text == "3 of 3 keys registered, 0 authenticated (2 needed)"
    assert [key.chr for key in overview.keys] == [c.chr for c in custodians]
    assert hsm.pin_status().state is not PinState.VERIFIED

    interaction = pin_answers(custodians[0], custodians[2])
    status = authenticate_custodians(
        hsm,
        interaction,
        [custodians[0].as_card("first"), custodians[2].as_card("third")],
    )
    assert interaction.finished
    assert status.unlocked and status.authenticated == 2
    assert any("first" in text and custodians[0].chr in text for text in interaction.texts())
    overview = pka_overview(hsm)
    assert overview is not None
    assert [key.authenticated for key in overview.keys] == [True, False, True]
    assert hsm.pin_status().state is PinState.VERIFIED
    # a workflow that needs the user authenticated runs without asking for the PIN
    generated = generate_key(hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "k")
    assert [key.label for key in KeyStore(hsm).list_keys()] == [generated.label]
    # a new session (SELECT) starts locked again
    again = SmartCardHsm.open(LocalTransport(_card))
    fresh = pka_status(again)
    assert fresh is not None and fresh.authenticated == 0
    assert again.pin_status().state is not PinState.VERIFIED


def test_pka_and_pin_still_needs_the_pin(custodians: list[Custodian]) -> None:
    options = InitOptions.RESET_RETRY_COUNTER | InitOptions.REQUIRE_PKA_AND_PIN
    _card, hsm = make_device(options=options)
    register_all(hsm, custodians)
    status = authenticate_custodians(
        hsm,
        pin_answers(custodians[0], custodians[1]),
        [custodians[0].as_card("a"), custodians[1].as_card("b")],
    )
    assert status.unlocked
    assert hsm.pin_status().state is not PinState.VERIFIED
    overview = pka_overview(hsm)
    assert overview is not None and overview.pin_too is True
    interaction = ScriptedInteraction().answer("secret", PIN)
    generate_key(hsm, interaction, KeyAlgorithm.parse("ec:prime256v1"), "k")
    assert interaction.finished  # the PIN was asked and used


def test_old_layout_is_registered(custodians: list[Custodian], tmp_path: Path) -> None:
    """The layout of sc-hsm-tool before OpenSC 0.22: 30 { 67, 7F21 device, 7F21 DICA }."""
    pka = PkaFile.parse(custodians[0].pka.read_bytes())
    assert pka.issuer is not None
    old = tmp_path / "old.pka"
    old.write_bytes(encode_tlv(0x30, pka.request.raw + pka.device.raw + pka.issuer.raw))
    assert PkaFile.parse(old.read_bytes()).old_format
    _card, hsm = make_device()
    result = register_custodian(hsm, ScriptedInteraction(), old)
    assert result.slot == 0 and result.chr == custodians[0].chr


def test_tampered_chain_is_refused(custodians: list[Custodian], tmp_path: Path) -> None:
    pka = PkaFile.parse(custodians[0].pka.read_bytes())
    data = bytearray(custodians[0].pka.read_bytes())
    signature = pka.device.signature
    at = bytes(data).index(signature) + len(signature) // 2
    data[at] ^= 0x01
    bad = tmp_path / "tampered.pka"
    bad.write_bytes(bytes(data))
    _card, hsm = make_device()
    with pytest.raises(PkaFileRejected, match=r"tampered\.pka.*does not verify") as caught:
        register_custodian(hsm, ScriptedInteraction(), bad)
    assert caught.value.nothing_changed is True
    status = pka_status(hsm)
    assert status is not None and status.registered == 0


def test_registered_twice_no_free_slot_and_replace(
    custodians: list[Custodian], tmp_path: Path
) -> None:
    _card, hsm = make_device(total=2, required=1)
    register_custodian(hsm, ScriptedInteraction(), custodians[0].pka)
    with pytest.raises(CustodianAlreadyRegistered, match="slot 0 already"):
        register_custodian(hsm, ScriptedInteraction(), custodians[0].pka)
    register_custodian(hsm, ScriptedInteraction(), custodians[1].pka)
    with pytest.raises(NoFreePkaSlot, match="no free slot"):
        register_custodian(hsm, ScriptedInteraction(), custodians[2].pka)
    with pytest.raises(PkaReplaceRefused, match="--pka-replaceable"):
        register_custodian(hsm, ScriptedInteraction(), custodians[2].pka, slot=1)
    overview = pka_overview(hsm)
    assert overview is not None
    assert [key.chr for key in overview.keys] == [custodians[0].chr, custodians[1].chr]


def test_replace_where_allowed(custodians: list[Custodian]) -> None:
    options = InitOptions.RESET_RETRY_COUNTER | InitOptions.REPLACE_PKA_KEYS
    _card, hsm = make_device(total=2, required=1, options=options)
    register_all(hsm, custodians[:2])
    result = register_custodian(
        hsm, ScriptedInteraction().answer("confirm", True), custodians[2].pka, slot=1
    )
    assert result.slot == 1 and result.replaced == custodians[1].chr
    overview = pka_overview(hsm)
    assert overview is not None
    assert [key.chr for key in overview.keys] == [custodians[0].chr, custodians[2].chr]
    # the replaced custodian no longer unlocks it, the new one does
    with pytest.raises(CustodianNotRegistered, match="holds no key registered"):
        authenticate_custodians(hsm, ScriptedInteraction(), [custodians[1].as_card("old")])
    status = authenticate_custodians(
        hsm, pin_answers(custodians[2]), [custodians[2].as_card("new")]
    )
    assert status.unlocked


def test_unregistered_custodian(custodians: list[Custodian], tmp_path: Path) -> None:
    _card, hsm = make_device()
    register_all(hsm, custodians[:2])
    stranger = make_custodian(tmp_path, 4)
    tries = stranger.tries_left()
    interaction = pin_answers(custodians[0])
    with pytest.raises(CustodianNotRegistered, match="stranger") as caught:
        authenticate_custodians(
            hsm, interaction, [custodians[0].as_card("first"), stranger.as_card("stranger")]
        )
    assert "first" in str(caught.value) and "authenticated in this session" in str(caught.value)
    assert interaction.finished  # the stranger's PIN was never asked
    assert stranger.tries_left() == tries
    status = pka_status(hsm)
    assert status is not None and status.authenticated == 1 and status.registered == 2


def test_wrong_custodian_pin(custodians: list[Custodian]) -> None:
    _card, hsm = make_device()
    register_all(hsm, custodians)
    before = custodians[1].tries_left()
    assert before is not None
    interaction = (
        ScriptedInteraction().answer("secret", custodians[0].pin).answer("secret", "999999")
    )
    with pytest.raises(CustodianPinWrong, match=f"{before - 1} tries left") as caught:
        authenticate_custodians(
            hsm, interaction, [custodians[0].as_card("first"), custodians[1].as_card("second")]
        )
    assert caught.value.tries_left == before - 1
    assert "nothing was changed on the device" in str(caught.value)
    assert custodians[1].tries_left() == before - 1
    status = pka_status(hsm)
    assert status is not None and status.authenticated == 1 and not status.unlocked
    assert status.registered == 3


def test_custodian_card_that_cannot_be_opened(custodians: list[Custodian]) -> None:
    _card, hsm = make_device()
    register_all(hsm, custodians)
    gone = LocalTransport(custodians[1].card)
    gone.close()
    missing = CustodianCard("empty reader", lambda: SmartCardHsm.open(gone))
    interaction = pin_answers(custodians[0])
    with pytest.raises(CustodianCardUnavailable, match=r"empty reader.*cannot be opened"):
        authenticate_custodians(
            hsm, interaction, [custodians[0].as_card("first"), missing, custodians[2].as_card("x")]
        )
    status = pka_status(hsm)
    assert status is not None and status.authenticated == 1
    # the round can go on in the same session with the next custodian
    status = authenticate_custodians(hsm, pin_answers(custodians[2]), [custodians[2].as_card("x")])
    assert status.unlocked


def test_custodian_card_removed_during_its_turn(custodians: list[Custodian]) -> None:
    _card, hsm = make_device()
    register_all(hsm, custodians)
    custodians[1].card.faults.remove_on(bytes.fromhex("8068"))  # its SIGN
    with pytest.raises(CustodianCardUnavailable, match=r"second.*went away"):
        authenticate_custodians(
            hsm,
            pin_answers(custodians[0], custodians[1]),
            [custodians[0].as_card("first"), custodians[1].as_card("second")],
        )
    status = pka_status(hsm)
    assert status is not None and status.authenticated == 1


def test_device_without_pka(custodians: list[Custodian]) -> None:
    card = SmartCardHsmSimulator(seed=b"plain device")
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(PIN, SO_PIN))
    assert pka_overview(hsm) is None
    with pytest.raises(PkaNotAvailable, match="init --pka"):
        register_custodian(hsm, ScriptedInteraction(), custodians[0].pka)
    with pytest.raises(PkaNotAvailable):
        authenticate_custodians(hsm, ScriptedInteraction(), [custodians[0].as_card("c")])


def test_a_custodian_authenticated_already_is_not_asked_again(
    custodians: list[Custodian],
) -> None:
    _card, hsm = make_device()
    register_all(hsm, custodians)
    first = custodians[0].as_card("first")
    interaction = pin_answers(custodians[0], custodians[1])
    status = authenticate_custodians(hsm, interaction, [first, first, custodians[1].as_card("b")])
    assert interaction.finished  # two PINs for three turns
    assert status.authenticated == 2 and status.unlocked
    assert any("was authenticated already" in text for text in interaction.texts())
    tries = custodians[0].tries_left()
    again = ScriptedInteraction()
    status = authenticate_custodians(hsm, again, [first])  # a later round, same session
    assert again.questions == [] and status.authenticated == 2
    assert custodians[0].tries_left() == tries
