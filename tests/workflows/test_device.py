"""Device initialisation and key-domain management against the simulated card."""

from __future__ import annotations

import pytest

from keymanager.card.errors import CardRemoved
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, EcKeySpec, InitOptions, InitParams, PinState
from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import decode_tokeninfo
from keymanager.card.transport import LocalTransport
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.device import (
    FID_TOKEN_INFO,
    DkekScheme,
    InitPlan,
    clear_kek,
    create_key_domain,
    delete_key_domain,
    initialize_device,
)
from keymanager.workflows.errors import DomainNotReady, WorkflowError, WrongPinEntered
from keymanager.workflows.interaction import (
    Cancelled,
    MessageLevel,
    PaperKeyShareInput,
    ScriptedInteraction,
)
from tests.support.profiles import current_profile

SO_PIN = DEFAULT_SO_PIN.hex()
PIN = "648219"


def blank() -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=b"device")
    return simulator, SmartCardHsm.open(LocalTransport(simulator))


def answers(
    *, pin: str | None = PIN, confirm: bool = True, so_pin: str = SO_PIN
) -> ScriptedInteraction:
    script = ScriptedInteraction().answer("secret", so_pin)
    if pin is not None:
        script.answer("secret", pin)
    return script.answer("confirm", confirm)


@pytest.mark.parametrize(
    ("plan", "expected_domains"),
    [
        (InitPlan(DkekScheme.NO_DKEK), []),
        (InitPlan(DkekScheme.RANDOM_DKEK), [(0, 0)]),
        (InitPlan(DkekScheme.DKEK_SHARES, shares=3), [(3, 3)]),
        (InitPlan(DkekScheme.KEY_DOMAINS, key_domains=4), [None, None, None, None]),
    ],
)
def test_every_scheme(plan: InitPlan, expected_domains: list[tuple[int, int] | None]) -> None:
    _simulator, hsm = blank()
    interaction = answers()
    result = initialize_device(hsm, interaction, plan)
    assert interaction.finished
    domains = [
        None if slot.status is None else (slot.status.shares_total, slot.status.shares_outstanding)
        for slot in hsm.key_domains()
    ]
    assert domains == expected_domains
    assert result.card.serial is not None and result.card.serial.startswith("UTSIM")
    (question,) = [q for q in interaction.questions if q.startswith("confirm")]
    assert result.card.serial in question and "Simulated card" in question and "ERASES" in question
    assert hsm.pin_status().verified  # verified at once after INITIALIZE
    if plan.scheme is DkekScheme.RANDOM_DKEK:
        assert result.domain_kcv is not None


def test_label_random_pin_retry_counter_and_options() -> None:
    simulator, hsm = blank()
    plan = InitPlan(
        DkekScheme.DKEK_SHARES,
        shares=1,
        random_pin=True,
        retry_counter=5,
        unblock_only=True,
        label="Team HSM",
    )
    interaction = ScriptedInteraction().answer("secret", SO_PIN).answer("confirm", True)
    result = initialize_device(hsm, interaction, plan)
    ((title, text),) = interaction.shown_secrets
    assert "shown once" in title
    pin = text.split("User PIN: ")[1].split()[0]
    assert len(pin) == 8 and pin.isdigit()
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.verify_pin(pin)
    if simulator.profile.token_label_write_fails:  # Pico HSM (pcsc-testing item 11)
        assert not result.label_written
        assert any("label was not written" in text for text in interaction.texts())
    else:
        assert decode_tokeninfo(hsm.read_file(FID_TOKEN_INFO)).label == "Team HSM"
        assert result.label_written
    assert result.random_pin_shown
    assert simulator.state.user_pin_max == 5
    assert simulator.state.options == int(
        InitOptions.RESET_RETRY_COUNTER | InitOptions.RRC_UNBLOCK_ONLY
    )
    assert not any(pin in message for message in interaction.texts())


def test_transport_pin_and_new_so_pin() -> None:
    simulator, hsm = blank()
    plan = InitPlan(DkekScheme.NO_DKEK, transport_pin=True, change_so_pin=True, label="x")
    interaction = (
        ScriptedInteraction()
        .answer("secret", SO_PIN)
        .answer("secret", "0011223344556677")
        .answer("secret", PIN)
        .answer("confirm", True)
    )
    result = initialize_device(hsm, interaction, plan)
    assert result.so_pin_changed and not result.label_written
    assert any("label was not written" in w for w in interaction.texts(MessageLevel.WARNING))
    assert hsm.pin_status().state is PinState.TRANSPORT_PIN
    assert simulator.state.so_pin == bytes.fromhex("0011223344556677")


def test_not_confirmed_or_bad_values_change_nothing() -> None:
    simulator, hsm = blank()
    with pytest.raises(Cancelled):
        initialize_device(hsm, answers(confirm=False), InitPlan(DkekScheme.RANDOM_DKEK))
    assert not simulator.state.initialised
    with pytest.raises(WorkflowError, match="16 hex"):
        initialize_device(hsm, ScriptedInteraction().answer("secret", "1234"), InitPlan())
    with pytest.raises(WorkflowError, match="retry counter"):
        initialize_device(
            hsm,
            ScriptedInteraction().answer("secret", SO_PIN).answer("secret", PIN),
            InitPlan(retry_counter=5),
        )
    assert not simulator.state.initialised
    with pytest.raises(ValueError):
        InitPlan(DkekScheme.DKEK_SHARES, shares=0)


def test_wrong_so_pin_keeps_the_card() -> None:
    _simulator, hsm = blank()
    initialize_device(hsm, answers(), InitPlan(DkekScheme.DKEK_SHARES, shares=2))
    wrong = ScriptedInteraction()
    for so_pin in ("0011223344556677", "0011223344556678", "0011223344556679"):
        wrong.answer("secret", so_pin)
    with pytest.raises(WrongPinEntered) as raised:  # asked three times, then it stops
        initialize_device(hsm, wrong, InitPlan(DkekScheme.NO_DKEK))
    assert raised.value.tries_left == 12
    assert "SO-PIN" in str(raised.value)
    assert wrong.finished  # no user PIN and no confirmation were asked
    status = hsm.key_domain_status(0)
    assert status is not None and status.shares_total == 2


def test_card_removed_at_each_apdu_of_initialisation() -> None:
    plan = InitPlan(DkekScheme.DKEK_SHARES, shares=2, change_so_pin=True, label="L")

    def script() -> ScriptedInteraction:
        return (
            ScriptedInteraction()
            .answer("secret", SO_PIN)
            .answer("secret", "0011223344556677")
            .answer("secret", PIN)
            .answer("confirm", True)
        )

    simulator, hsm = blank()
    simulator.faults.clear()
    initialize_device(hsm, script(), plan)
    fault_points = simulator.faults.apdus_seen
    for k in range(1, fault_points + 1):
        simulator, hsm = blank()
        simulator.faults.remove_at(k)
        with pytest.raises(CardRemoved):
            initialize_device(hsm, script(), plan)
        simulator.insert()
        hsm = SmartCardHsm.open(LocalTransport(simulator))
        if not simulator.state.initialised:
            assert simulator.state.so_pin == DEFAULT_SO_PIN
            continue
        # initialised: the new PIN works, the domain is as planned, the SO-PIN is one of the two
        hsm.verify_pin(PIN)
        status = hsm.key_domain_status(0)
        assert status is not None and status.shares_total == 2
        assert simulator.state.so_pin in (DEFAULT_SO_PIN, bytes.fromhex("0011223344556677"))
        if 0x2F03 in simulator.state.files:
            assert decode_tokeninfo(simulator.state.files[0x2F03]).label == "L"
    print(f"initialisation: {fault_points} fault points")


# --- key domains --------------------------------------------------------------------------


def slots_card() -> SmartCardHsm:
    _simulator, hsm = blank()
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, key_domains=3))
    return hsm


def test_create_clear_and_delete_domains() -> None:
    hsm = slots_card()
    created = create_key_domain(hsm, ScriptedInteraction().answer("secret", PIN), 1)
    assert (created.domain, created.shares_total, created.shares_outstanding) == (0, 1, 1)
    second = create_key_domain(hsm, ScriptedInteraction(), 0, domain=2)  # PIN already verified
    # a 0-share domain has a random DKEK; on Pico HSM none (pcsc-testing item 10)
    has_dkek = current_profile().zero_share_domain_has_dkek
    assert second.domain == 2 and (second.kcv is not None) is has_dkek
    with pytest.raises(DomainNotReady, match="in use"):
        create_key_domain(hsm, ScriptedInteraction(), 1, domain=2)
    share = bytes(range(32))
    import_shares(
        hsm,
        ScriptedInteraction()
        .answer("secret", PIN)
        .answer("share", PaperKeyShareInput(list(encode_paperkey(share).lines))),
        0,
    )
    cleared = clear_kek(hsm, ScriptedInteraction().answer("confirm", True), 0)
    assert (cleared.shares_total, cleared.shares_outstanding, cleared.kcv) == (1, 1, None)
    with pytest.raises(Cancelled):
        delete_key_domain(hsm, ScriptedInteraction().answer("confirm", False), 2)
    deleted = delete_key_domain(hsm, ScriptedInteraction().answer("confirm", True), 2)
    assert deleted.state == "empty" and hsm.key_domain_status(2) is None
    with pytest.raises(DomainNotReady, match="empty"):
        delete_key_domain(hsm, ScriptedInteraction(), 2)


def test_a_domain_with_keys_is_not_deleted() -> None:
    hsm = slots_card()
    create_key_domain(hsm, ScriptedInteraction().answer("secret", PIN), 0, domain=1)
    KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "in domain 1", key_domain=1)
    with pytest.raises(DomainNotReady, match="keys still belong to it"):
        delete_key_domain(hsm, ScriptedInteraction().answer("confirm", True), 1)
    assert hsm.key_domain_status(1) is not None


def test_no_slots_and_no_empty_slot() -> None:
    _simulator, hsm = blank()
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN))
    with pytest.raises(DomainNotReady, match="no key-domain slots"):
        create_key_domain(hsm, ScriptedInteraction(), 1)
    _simulator, hsm = blank()
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, key_domains=1, dkek_shares=0))
    with pytest.raises(DomainNotReady, match="No empty key domain"):
        create_key_domain(hsm, ScriptedInteraction(), 1)
