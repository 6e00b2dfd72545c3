"""Helpers of the PKCS#12 import tests: host keys (made once per session), PKCS#12 files,
initialised simulated cards, and checks of what the card holds."""

from __future__ import annotations

import datetime
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import Algorithm
from keymanager.card.transport import LocalTransport
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import PaperKeyShareInput

SO_PIN = bytes.fromhex("3537363231383830")
PIN = "648219"
P12_PASSWORD = "p12 container password"


@functools.cache
def host_key(kind: str) -> PrivateKeyTypes:
    """A host key of ``kind``, generated once per test session (RSA 4096 is slow)."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    curves = {
        "p256": ec.SECP256R1(),
        "p384": ec.SECP384R1(),
        "bp256": ec.BrainpoolP256R1(),
        "p224": ec.SECP224R1(),
    }
    if kind in curves:
        return ec.generate_private_key(curves[kind])
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "dsa":
        return dsa.generate_private_key(key_size=2048)
    raise ValueError(kind)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(
    subject: str,
    public_key: Any,
    issuer: str,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, algorithm)
    )


@dataclass(frozen=True)
class Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey


@functools.cache
def ca_chain() -> Chain:
    """A root CA and an intermediate CA (P-256), made once per session."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    root = certificate("Test Root CA", root_key.public_key(), "Test Root CA", root_key, ca=True)
    intermediate = certificate(
        "Test Intermediate CA", intermediate_key.public_key(), "Test Root CA", root_key, ca=True
    )
    return Chain(root, intermediate, intermediate_key)


def write_p12(
    path: Path,
    key: PrivateKeyTypes | None,
    *,
    common_name: str | None = "Test Key",
    friendly_name: bytes | None = None,
    with_certificate: bool = True,
    with_chain: bool = False,
    password: str = P12_PASSWORD,
) -> x509.Certificate | None:
    """Write a PKCS#12 file; returns the end-entity certificate (``None`` without one).

    With ``with_chain`` the certificate is issued by the intermediate CA and the root
    and intermediate are added; otherwise it is self-signed.
    """
    chain = ca_chain()
    cert: x509.Certificate | None = None
    if with_certificate and key is not None:
        assert common_name is not None
        if with_chain:
            cert = certificate(
                common_name, key.public_key(), "Test Intermediate CA", chain.intermediate_key
            )
        else:
            cert = certificate(common_name, key.public_key(), common_name, key)  # type: ignore[arg-type]
    cas = [chain.intermediate, chain.root] if with_chain else None
    data = pkcs12.serialize_key_and_certificates(
        friendly_name,
        key,  # type: ignore[arg-type]
        cert,
        cas,
        BestAvailableEncryption(password.encode()),
    )
    path.write_bytes(data)
    return cert


def fresh_card(
    seed: bytes, *, key_domains: int = 4, hide_kcv_until_login: bool = False
) -> tuple[SmartCardHsmSimulator, bytes]:
    """A card initialised for one DKEK share in domain 0 (imported) and more empty slots.

    :returns: the simulator and the share (the DKEK = the share).
    """
    card = SmartCardHsmSimulator(seed=seed, hide_kcv_until_login=hide_kcv_until_login)
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(PIN, SO_PIN, dkek_shares=1, key_domains=key_domains))
    share = hashlib.sha256(b"custodian share " + seed).digest()
    hsm.import_dkek_share(share, 0)
    hsm.verify_pin(PIN)  # some devices lose a DKEK not followed by a VERIFY (Pico HSM)
    return card, share


def session(card: SmartCardHsmSimulator) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(card))


def paperkey_input(share: bytes) -> PaperKeyShareInput:
    return PaperKeyShareInput(list(encode_paperkey(share).lines))


def card_contents(card: SmartCardHsmSimulator) -> dict[str, Any]:
    """What matters of the card's state: files, keys and key domains (not PIN counters)."""
    state = card.state.to_json()
    return {name: state[name] for name in ("files", "keys", "key_domains", "initialised")}


def inconsistencies(card: SmartCardHsmSimulator) -> list[str]:
    """Keys without PRKD, PRKDs without key, CA certificates without description and back."""
    files = set(card.state.files) | {0xCC00 | kid for kid in card.state.keys}
    problems: list[str] = []
    for kid in card.state.keys:
        if kid and 0xC400 | kid not in files:
            problems.append(f"key CC{kid:02X} has no PRKD")
    for file in files:
        prefix, number = file >> 8, file & 0xFF
        if prefix in (0xC4, 0xCE) and number not in card.state.keys:
            problems.append(f"{file:04X} describes no key")
        if prefix == 0xCA and 0xC800 | number not in files:
            problems.append(f"CA{number:02X} has no description")
        if prefix == 0xC8 and 0xCA00 | number not in files:
            problems.append(f"C8{number:02X} describes no certificate")
    return problems


def domains_with_kek(card: SmartCardHsmSimulator) -> list[int]:
    """Key domains holding a complete DKEK (KEK present)."""
    domains = card.state.key_domains or []
    return [
        index
        for index, domain in enumerate(domains)
        if domain is not None and domain.total > 0 and domain.outstanding == 0
    ]


def check_signs(hsm: SmartCardHsm, reference: int, public_key: object, message: bytes) -> None:
    """The key at ``reference`` signs ``message`` (PKCS#1 v1.5 or ECDSA, SHA-256) and
    ``public_key`` verifies the signature."""
    if isinstance(public_key, rsa.RSAPublicKey):
        signature = hsm.sign(reference, Algorithm.RSA_PKCS1_SHA256, message)
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        signature = hsm.sign(reference, Algorithm.ECDSA_SHA256, message)
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
