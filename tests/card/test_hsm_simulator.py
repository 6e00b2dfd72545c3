"""The session against the software SmartCard-HSM, end to end through LocalTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keymanager.card.cvc import CvRequest, Genuineness
from keymanager.card.errors import (
    DkekMismatch,
    PinBlocked,
    SecurityStatusNotSatisfied,
    WrongPin,
)
from keymanager.card.hsm import (
    DEFAULT_SO_PIN,
    Algorithm,
    EcKeySpec,
    InitParams,
    KeyDomainSlot,
    PinState,
    RsaKeySpec,
    SmartCardHsm,
)
from keymanager.card.transport import LocalTransport, Transport
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import decode_key, encode_key
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.secure_messaging import secure_messaging

__all__ = ["secure_messaging"]  # every test here runs on a channel and in the clear

PIN = "648219"
SHARES = (bytes(range(32)), bytes(range(100, 132)))


class ShortOnlyTransport(LocalTransport):
    """A local transport that behaves like a reader without extended length."""

    @property
    def supports_extended_length(self) -> bool:
        return False


@pytest.fixture
def simulator() -> SmartCardHsmSimulator:
    return SmartCardHsmSimulator(seed=b"card session tests")


@pytest.fixture
def hsm(
    simulator: SmartCardHsmSimulator, card_transport: Callable[[object], Transport]
) -> Iterator[SmartCardHsm]:
    """An initialised card with a complete two-share DKEK, PIN verified.

    Runs over the in-process transport and through pyscard, pcscd and vpcd.
    """
    session = SmartCardHsm.open(card_transport(simulator))
    session.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=2))
    session.verify_pin(PIN)
    for share in SHARES:
        session.import_dkek_share(share)
    yield session
    session.transport.close()


def _ec_public_key(request: bytes) -> ec.EllipticCurvePublicKey:
    parsed = CvRequest.parse(request)
    key = parsed.public_key.ec_public_key()
    assert key is not None
    return key


def test_blank_card_open_and_pin_flow(
    simulator: SmartCardHsmSimulator, card_transport: Callable[[object], Transport]
) -> None:
    hsm = SmartCardHsm.open(card_transport(simulator))
    assert hsm.info.version == (4, 0)
    assert hsm.pin_status().state is PinState.NOT_INITIALISED
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, retry_counter=3))
    assert hsm.pin_status().tries_left == 3
    with pytest.raises(WrongPin) as caught:
        hsm.verify_pin("000000")
    assert caught.value.tries_left == 2
    hsm.verify_pin(PIN)
    assert hsm.pin_status().verified
    hsm.change_pin(PIN, "12345678")
    hsm.logout()
    assert hsm.pin_status().state is PinState.NOT_VERIFIED
    for _ in range(3):
        with pytest.raises(WrongPin):
            hsm.verify_pin("000000")
    assert hsm.pin_status().blocked
    with pytest.raises(PinBlocked):
        hsm.verify_pin("12345678")
    hsm.reset_retry_counter(DEFAULT_SO_PIN, PIN)
    hsm.verify_pin(PIN)
    assert hsm.key_domains() == []  # initialised without a DKEK


def test_device_chain_is_the_simulators(
    simulator: SmartCardHsmSimulator, hsm: SmartCardHsm
) -> None:
    chain = hsm.device_certificate()
    assert chain.verify_chain() is Genuineness.UNVERIFIED_SIMULATOR
    assert hsm.serial() == simulator.serial
    assert hsm.device_certificates() == simulator.device_certificates()


def test_shares_give_the_kcv_keymanager_dkek_computes(hsm: SmartCardHsm) -> None:
    status = hsm.key_domain_status()
    assert status is not None
    assert status.complete
    assert status.kcv == Dkek.from_shares(SHARES).kcv()
    assert hsm.key_domains() == [KeyDomainSlot(0, status)]


def test_ec_key_generation_and_signature(hsm: SmartCardHsm) -> None:
    request = hsm.generate_key_pair(1, EcKeySpec("secp256r1"))
    parsed = CvRequest.parse(request)
    assert parsed.chr == hsm.serial() + "00001"
    assert parsed.verify_self_signature()
    chain = hsm.device_certificate()
    assert parsed.verify_outer_signature(chain.device.public_key, chain.device_domain())
    signature = hsm.sign(1, Algorithm.ECDSA_SHA256, b"message")
    _ec_public_key(request).verify(signature, b"message", ec.ECDSA(hashes.SHA256()))
    assert 0xCC01 in hsm.enumerate_objects()
    assert hsm.read_file(0xCE01) == request


def test_rsa_key_generation_and_signature(hsm: SmartCardHsm) -> None:
    request = CvRequest.parse(hsm.generate_key_pair(2, RsaKeySpec(1024)))
    assert request.public_key.is_rsa
    public = request.public_key.rsa_public_key()
    assert public.key_size == 1024
    signature = hsm.sign(2, Algorithm.RSA_PKCS1_SHA256, b"data")
    public.verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())
    ciphertext = public.encrypt(b"secret", padding.PKCS1v15())
    assert hsm.decipher(2, ciphertext, Algorithm.RSA_DECRYPT_PKCS1) == b"secret"


def test_ecdh_gives_x_and_y_of_the_shared_point(hsm: SmartCardHsm) -> None:
    card_key = _ec_public_key(hsm.generate_key_pair(3, EcKeySpec("secp256r1")))
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_point = peer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    result = hsm.ecdh(3, peer_point)
    assert len(result) == 64
    assert result[:32] == peer.exchange(ec.ECDH(), card_key)


def test_wrap_unwrap_round_trip(hsm: SmartCardHsm) -> None:
    public = _ec_public_key(hsm.generate_key_pair(1, EcKeySpec("secp256r1")))
    blob = hsm.wrap_key(1)
    with Dkek.from_shares(SHARES) as dkek:
        decoded = decode_key(dkek, blob)
    assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
    assert decoded.private_key.public_key().public_numbers() == public.public_numbers()
    hsm.unwrap_key(5, blob)
    hsm.unwrap_key(6, blob, via_ef_2f10=True)
    for key_ref in (5, 6):
        signature = hsm.sign(key_ref, Algorithm.ECDSA_SHA256, b"restored")
        public.verify(signature, b"restored", ec.ECDSA(hashes.SHA256()))


def test_unwrap_under_another_dkek_is_a_dkek_mismatch(hsm: SmartCardHsm) -> None:
    key = rsa.generate_private_key(65537, 1024)
    with Dkek.from_value(bytes(32)) as other:
        blob = encode_key(other, key)
    with pytest.raises(DkekMismatch):
        hsm.unwrap_key(7, blob)


def test_files_through_extended_and_short_transports(
    simulator: SmartCardHsmSimulator, hsm: SmartCardHsm
) -> None:
    content = bytes(i % 253 for i in range(3000))
    hsm.write_file(0xCF01, content)
    assert hsm.read_file(0xCF01) == content
    short = SmartCardHsm.open(ShortOnlyTransport(simulator))
    short.verify_pin(PIN)
    assert short.read_file(0xCF01) == content
    short.write_file(0xCF02, content[:700])
    short.generate_key_pair(1, EcKeySpec("brainpoolP256r1"))
    blob = short.wrap_key(1)
    short.unwrap_key(9, blob)  # > 255 bytes: command chaining
    assert {0xCC01, 0xCC09, 0xCF01, 0xCF02} <= set(short.enumerate_objects())
    assert len(short.get_challenge(600)) == 600
    # the first session again: on secure messaging it opens a new channel, which ends
    # the second session's channel and login on the card
    assert hsm.read_file(0xCF02) == content[:700]
    short.verify_pin(PIN)
    short.delete_file(0xCF02)
    short.delete_key(9)
    assert not {0xCC09, 0xCF02} & set(hsm.enumerate_objects())


def test_get_challenge(hsm: SmartCardHsm) -> None:
    first, second = hsm.get_challenge(2000), hsm.get_challenge(2000)
    assert len(first) == len(second) == 2000
    assert first != second


def test_key_domains(
    simulator: SmartCardHsmSimulator, card_transport: Callable[[object], Transport]
) -> None:
    hsm = SmartCardHsm.open(card_transport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1, key_domains=3))
    slots = hsm.key_domains()
    assert [slot.index for slot in slots] == [0, 1, 2]
    assert slots[0].status is not None
    assert slots[0].status.shares_outstanding == 1
    assert slots[1].status is None
    assert hsm.key_domain_status(1) is None
    with pytest.raises(SecurityStatusNotSatisfied):
        hsm.create_dkek_domain(1, 1)
    hsm.verify_pin(PIN)
    assert hsm.create_dkek_domain(1, 1).shares_outstanding == 1
    status = hsm.import_dkek_share(SHARES[0], domain=1)
    assert status.complete
    assert status.kcv == Dkek.from_shares([SHARES[0]]).kcv()
    cleared = hsm.delete_kek(1)
    assert cleared is not None
    assert cleared.shares_outstanding == 1
    hsm.delete_key_domain(1)
    assert hsm.key_domain_status(1) is None
