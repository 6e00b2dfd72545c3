"""XKEK key domains through the card layer against simulated cards, in both profiles.

Card A holds the group-signer key and signs memberships for A and B; both create the
domain, generate exchange keys and derive pairwise: the KCVs agree, and a key wrapped
on A unwraps on B and signs there.  Every host-side refusal (a membership for another
device, a peer of another group, a tampered peer request) is checked to leave the card
as it was: the same key domains, KCVs and files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.cvc import CvRequest
from keymanager.card.errors import ReferencedDataNotFound, SecurityStatusNotSatisfied
from keymanager.card.hsm import DEFAULT_SO_PIN, SmartCardHsm
from keymanager.card.hsm_types import Algorithm, EcKeySpec, InitParams, KeyDomainSlot
from keymanager.card.transport import LocalTransport
from keymanager.card.xkek import (
    DomainSlotInUse,
    ExchangeKey,
    Membership,
    MembershipForAnotherDevice,
    MembershipRefused,
    NotAnExchangeKey,
    NotAnXkekDomain,
    PeerCertificateInvalid,
    PeerNotInGroup,
    create_xkek_domain,
    derive_xkek,
    find_exchange_key,
    generate_exchange_key,
    generate_group_signer_key,
    group_uid_of_request,
    issue_membership,
    xkek_domains,
)
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.profiles import simulator_profile

__all__ = ["simulator_profile"]  # every test here runs in both profiles

PIN = "648219"
GSK_REF = 1
EXCHANGE_REF = 2
KEY_REF = 3
DOMAIN = 1


def card(seed: bytes, profile: str) -> SmartCardHsm:
    """An initialised card with three key-domain slots (0: a DKEK domain), PIN verified."""
    simulator = SmartCardHsmSimulator(seed=seed, profile=profile)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1, key_domains=3))
    hsm.verify_pin(PIN)
    return hsm


Snapshot = tuple[list[KeyDomainSlot], list[int]]


def snapshot(hsm: SmartCardHsm) -> Snapshot:
    """What a refusal must not change: every domain's status (KCV, UID) and every file."""
    return hsm.key_domains(), sorted(hsm.enumerate_objects())


def flipped(data: bytes, index: int) -> bytes:
    damaged = bytearray(data)
    damaged[index] ^= 0x01
    return bytes(damaged)


@dataclass
class Group:
    a: SmartCardHsm
    b: SmartCardHsm
    gsk_request: bytes
    membership_a: Membership
    membership_b: Membership
    exchange_a: ExchangeKey
    exchange_b: ExchangeKey

    @property
    def uid(self) -> bytes:
        return group_uid_of_request(self.gsk_request)


def member(signer: SmartCardHsm, hsm: SmartCardHsm, gsk_request: bytes) -> Membership:
    membership = issue_membership(signer, GSK_REF, gsk_request, hsm.device_certificate())
    # what the officer keeps is the encoded KDM: go through it
    return Membership.parse(membership.encode())


@pytest.fixture
def group(simulator_profile: str) -> Iterator[Group]:
    a = card(b"xkek card A", simulator_profile)
    b = card(b"xkek card B", simulator_profile)
    gsk_request = generate_group_signer_key(a, GSK_REF)
    membership_a = member(a, a, gsk_request)
    membership_b = member(a, b, gsk_request)
    for hsm, membership in ((a, membership_a), (b, membership_b)):
        created = create_xkek_domain(hsm, DOMAIN, membership)
        assert created.uid == group_uid_of_request(gsk_request)
        assert created.kcv is None  # no KEK derived yet
    exchange = {}
    for name, hsm in (("a", a), ("b", b)):
        request = generate_exchange_key(hsm, EXCHANGE_REF, DOMAIN)
        exchange[name] = ExchangeKey.parse(request, hsm.device_certificates())
    yield Group(a, b, gsk_request, membership_a, membership_b, exchange["a"], exchange["b"])
    a.transport.close()
    b.transport.close()


def derive_both(group: Group) -> bytes:
    on_a = derive_xkek(group.a, EXCHANGE_REF, group.exchange_b, group.uid)
    on_b = derive_xkek(group.b, EXCHANGE_REF, group.exchange_a, group.uid)
    assert on_a.kcv is not None
    assert on_a.kcv == on_b.kcv
    assert on_a.uid == on_b.uid == group.uid
    return on_a.kcv


def test_two_cards_derive_the_same_kcv_and_a_key_moves(group: Group) -> None:
    assert group.exchange_a.uid == group.exchange_b.uid == group.uid
    assert find_exchange_key(group.a, DOMAIN) == EXCHANGE_REF
    assert find_exchange_key(group.b, DOMAIN) == EXCHANGE_REF
    assert [index for index, _ in xkek_domains(group.a)] == [DOMAIN]
    kcv = derive_both(group)
    assert [status.kcv for _, status in xkek_domains(group.b)] == [kcv]

    request = group.a.generate_key_pair(KEY_REF, EcKeySpec("secp256r1"), key_domain=DOMAIN)
    group.b.unwrap_key(KEY_REF, group.a.wrap_key(KEY_REF))
    signature = group.b.sign(KEY_REF, Algorithm.ECDSA_SHA256, b"moved from A to B")
    public_key = CvRequest.parse(request).public_key.ec_public_key()
    assert public_key is not None
    public_key.verify(signature, b"moved from A to B", ec.ECDSA(hashes.SHA256()))


def test_a_third_card_derives_another_pairwise_kek(group: Group, simulator_profile: str) -> None:
    kcv = derive_both(group)
    c = card(b"xkek card C", simulator_profile)
    create_xkek_domain(c, DOMAIN, member(group.a, c, group.gsk_request))
    exchange_c = ExchangeKey.parse(
        generate_exchange_key(c, EXCHANGE_REF, DOMAIN), c.device_certificates()
    )
    on_c = derive_xkek(c, EXCHANGE_REF, group.exchange_a, group.uid)
    on_a = derive_xkek(group.a, EXCHANGE_REF, exchange_c, group.uid)
    assert on_c.kcv == on_a.kcv
    assert on_c.kcv != kcv


def test_the_group_signer_key_never_leaves_its_card(group: Group) -> None:
    # in no key domain: the card has no KEK to wrap it under
    with pytest.raises(ReferencedDataNotFound, match="WRAP KEY"):
        group.a.wrap_key(GSK_REF)


def test_membership_for_another_device_changes_nothing(group: Group) -> None:
    before = snapshot(group.b)
    with pytest.raises(DomainSlotInUse):
        create_xkek_domain(group.b, DOMAIN, group.membership_b)
    with pytest.raises(MembershipForAnotherDevice, match="nothing changed"):
        create_xkek_domain(group.b, 2, group.membership_a)
    # B's name on A's certificate and signature: the signature is A's, not B's
    forged = Membership(
        group.membership_b.dica,
        group.membership_b.device,
        group.gsk_request,
        group.membership_a.signature,
    )
    with pytest.raises(MembershipRefused, match="nothing changed"):
        create_xkek_domain(group.b, 2, forged)
    assert snapshot(group.b) == before


def test_the_user_pin_is_needed_to_create(group: Group, simulator_profile: str) -> None:
    c = card(b"xkek card C", simulator_profile)
    membership = member(group.a, c, group.gsk_request)
    c.logout()
    before = snapshot(c)
    with pytest.raises(SecurityStatusNotSatisfied):
        create_xkek_domain(c, DOMAIN, membership)
    assert snapshot(c) == before


def test_a_peer_of_another_group_changes_nothing(group: Group, simulator_profile: str) -> None:
    kcv = derive_both(group)
    c = card(b"xkek card C", simulator_profile)
    other_gsk = generate_group_signer_key(c, GSK_REF)
    create_xkek_domain(c, DOMAIN, member(c, c, other_gsk))
    outsider = ExchangeKey.parse(
        generate_exchange_key(c, EXCHANGE_REF, DOMAIN), c.device_certificates()
    )
    assert outsider.uid == group_uid_of_request(other_gsk) != group.uid
    before = snapshot(group.a)
    with pytest.raises(PeerNotInGroup, match="nothing was sent"):
        derive_xkek(group.a, EXCHANGE_REF, outsider, group.uid)
    with pytest.raises(NotAnXkekDomain, match="no XKEK domain"):
        derive_xkek(group.a, EXCHANGE_REF, outsider, outsider.uid)
    assert snapshot(group.a) == before
    assert before[0][DOMAIN].status is not None
    assert before[0][DOMAIN].status.kcv == kcv


def test_a_tampered_peer_request_changes_nothing(group: Group) -> None:
    kcv = derive_both(group)
    request = group.exchange_b.request
    outer = CvRequest.parse(request).outer_signature
    assert outer is not None
    in_outer_signature = request.rindex(outer) + 10
    in_uid = request.index(group.uid) + 30
    before = snapshot(group.a)
    for index in (in_outer_signature, in_uid):
        damaged = ExchangeKey.parse(flipped(request, index), group.exchange_b.device_chain)
        with pytest.raises(PeerCertificateInvalid, match="does not verify"):
            derive_xkek(group.a, EXCHANGE_REF, damaged, group.uid)
    # a request with B's chain but signed by A's device
    swapped = ExchangeKey.parse(group.exchange_a.request, group.exchange_b.device_chain)
    with pytest.raises(PeerCertificateInvalid):
        derive_xkek(group.a, EXCHANGE_REF, swapped, group.uid)
    assert snapshot(group.a) == before
    assert dict(xkek_domains(group.a))[DOMAIN].kcv == kcv


def test_the_card_refusals_map_to_typed_errors(group: Group) -> None:
    before = snapshot(group.a)
    with pytest.raises(NotAnXkekDomain):
        generate_exchange_key(group.a, 5, 0)  # domain 0 is a DKEK domain
    with pytest.raises(NotAnXkekDomain):
        generate_exchange_key(group.a, 5, 2)  # empty
    with pytest.raises(NotAnXkekDomain):
        find_exchange_key(group.a, 0)
    with pytest.raises(NotAnExchangeKey, match="nothing changed"):
        derive_xkek(group.a, GSK_REF, group.exchange_b, group.uid)  # the card says 6985
    assert snapshot(group.a) == before


def test_the_user_pin_is_needed_to_derive(group: Group) -> None:
    group.a.logout()
    before = snapshot(group.a)
    with pytest.raises(SecurityStatusNotSatisfied):
        derive_xkek(group.a, EXCHANGE_REF, group.exchange_b, group.uid)
    assert snapshot(group.a) == before
