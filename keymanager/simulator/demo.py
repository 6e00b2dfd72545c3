"""The demo card: a simulated SmartCard-HSM with key domains, keys and certificates.

``keymanager`` without arguments opens the desktop app on this card, and the GUI tests,
screenshots and docs use it.  Everything is deterministic: the simulator is seeded,
host keys come from fixed seeds (RSA from the simulator's seeded prime search, EC
scalars from hashes), certificates are signed with deterministic ECDSA, and key
blobs use fixed randomisation bytes, so two builds give the same card.

What is on it (see ``docs/gui.md``):

* initialised with user PIN :data:`DEMO_PIN` (3 tries) and the default SO-PIN
  :data:`DEMO_SO_PIN`; EF.TokenInfo label :data:`DEMO_LABEL`;
* key domain 0: a DKEK of the two shares :data:`DEMO_SHARES` (complete);
* key domain 1: a DKEK domain of two shares, of which only
  ``DEMO_DOMAIN1_SHARES[0]`` is imported (waiting for one share);
* key domain 2: an empty slot;
* keys imported under domain 0's DKEK: RSA 2048, EC P-256 and brainpoolP256r1, each
  with an X.509 certificate issued by the demo CA, and an EC P-384 key without one; the
  RSA key is sealed (its algorithm list lacks WRAP), the others can be backed up;
* keymanager's key-domain registry: domain 0 labelled "Production DKEK", domain 1, and
  every key in domain 0;
* the demo CA's certificate as a CA certificate, and a public data object.

Not a secret store: the PINs and shares are published here on purpose.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from keymanager.card.domain_registry import (
    REGISTRY_FID,
    DomainPurpose,
    Registry,
    write_registry,
)
from keymanager.card.errors import CardError
from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, Algorithm
from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import (
    DataObjectDescription,
    TokenInfo,
    decode_tokeninfo,
    encode_dcod,
    encode_tokeninfo,
)
from keymanager.card.seal import is_sealed
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import encode_key
from keymanager.simulator.card import SmartCardHsmSimulator
from keymanager.simulator.crypto import Randomness, generate_rsa

DEMO_PIN = "648219"
DEMO_SO_PIN = DEFAULT_SO_PIN
"""``3537363231383830``, the initialisation code every new SmartCard-HSM has."""
DEMO_LABEL = "KeyManager demo card"
DEMO_SEED = b"keymanager demo card v1"
DEMO_SHARES = (
    hashlib.sha256(b"keymanager demo DKEK share 1 of 2, domain 0").digest(),
    hashlib.sha256(b"keymanager demo DKEK share 2 of 2, domain 0").digest(),
)
"""The two DKEK shares of key domain 0 (both imported)."""
DEMO_DOMAIN1_SHARES = (
    hashlib.sha256(b"keymanager demo DKEK share 1 of 2, domain 1").digest(),
    hashlib.sha256(b"keymanager demo DKEK share 2 of 2, domain 1").digest(),
)
"""The two DKEK shares of key domain 1; only the first is imported."""
DEMO_KEY_DOMAINS = 3
DEMO_DATA_OBJECT_FID = 0xCF01
DEMO_DATA_OBJECT_DESCRIPTION_FID = 0xC901
_VALID_FROM = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
_VALID_UNTIL = datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class DemoKey:
    """One key the demo card holds."""

    label: str
    curve: ec.EllipticCurve | None
    """``None``: RSA 2048."""
    certificate: bool
    allowed_algorithms: bytes


DEMO_KEYS = (
    DemoKey(
        "Code signing (RSA 2048)",
        None,
        True,
        bytes([Algorithm.RSA_PKCS1_SHA256, Algorithm.RSA_PSS_SHA256]),
    ),
    DemoKey(
        "TLS server (P-256)",
        ec.SECP256R1(),
        True,
        bytes([Algorithm.ECDSA_SHA256, Algorithm.WRAP]),
    ),
    DemoKey(
        "Document signing (brainpoolP256r1)",
        ec.BrainpoolP256R1(),
        True,
        bytes([Algorithm.ECDSA_SHA256, Algorithm.WRAP]),
    ),
    DemoKey("Key agreement (P-384, no certificate)", ec.SECP384R1(), False, b""),
)


def _seeded(label: str, length: int = 32) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(DEMO_SEED + label.encode() + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _ec_key(label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    # A scalar well below every supported curve's order, never zero.
    scalar = int.from_bytes(_seeded(label, 64), "big") % (1 << (curve.key_size - 8)) + 1
    return ec.derive_private_key(scalar, curve)


def _rsa_key(label: str) -> rsa.RSAPrivateKey:
    return generate_rsa(2048, 65537, Randomness(_seeded(label)))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KeyManager Demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def demo_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The demo CA's key and self-signed certificate (deterministic)."""
    key = _ec_key("demo CA", ec.SECP256R1())
    name = _name("KeyManager Demo Root CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(_seeded("CA serial", 8), "big") >> 1)
        .not_valid_before(_VALID_FROM)
        .not_valid_after(_VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return key, certificate


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
    subject: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(int.from_bytes(_seeded(f"serial {subject}", 8), "big") >> 1)
        .not_valid_before(_VALID_FROM)
        .not_valid_after(_VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )


def holds_demo(simulator: SmartCardHsmSimulator) -> bool:
    """Whether the simulated card is a finished demo card (its TokenInfo label says so)."""
    try:
        hsm = SmartCardHsm.open(LocalTransport(simulator))
        return decode_tokeninfo(hsm.read_file(0x2F03)).label == DEMO_LABEL
    except (CardError, ValueError):
        return False


def populate_demo_card(simulator: SmartCardHsmSimulator) -> None:
    """Initialise ``simulator`` and put the demo's domains, keys and objects on it."""
    hsm = SmartCardHsm.open(LocalTransport(simulator, name="Simulated card (demo)"))
    hsm.initialize(
        InitParams(
            user_pin=DEMO_PIN,
            so_pin=DEMO_SO_PIN,
            dkek_shares=len(DEMO_SHARES),
            key_domains=DEMO_KEY_DOMAINS,
        )
    )
    for share in DEMO_SHARES:
        hsm.import_dkek_share(share, 0)
    hsm.verify_pin(DEMO_PIN)
    hsm.create_dkek_domain(1, len(DEMO_DOMAIN1_SHARES))
    hsm.import_dkek_share(DEMO_DOMAIN1_SHARES[0], 1)
    dkek = Dkek.from_shares(DEMO_SHARES)
    store = KeyStore(hsm)
    ca_key, ca_certificate = demo_ca()
    sealed_references: set[int] = set()
    for demo in DEMO_KEYS:
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
            _rsa_key(demo.label) if demo.curve is None else _ec_key(demo.label, demo.curve)
        )
        certificate = (
            _issue(ca_key, ca_certificate, demo.label, key.public_key())
            if demo.certificate
            else None
        )
        blob = encode_key(
            dkek,
            key,
            allowed_algorithms=demo.allowed_algorithms or None,
            randomize=_seeded(f"randomize {demo.label}", 8),
        )
        imported = store.import_wrapped_key(
            blob,
            label=demo.label,
            certificate=certificate,
            public_key=None if certificate is not None else key.public_key(),
        )
        if is_sealed(demo.allowed_algorithms or None):
            sealed_references.add(imported.key_reference)
    store.store_ca_certificate(ca_certificate, "KeyManager Demo Root CA")
    hsm.write_file(
        DEMO_DATA_OBJECT_FID,
        b"This public data object belongs to the KeyManager demo card.\n",
    )
    hsm.write_file(
        DEMO_DATA_OBJECT_DESCRIPTION_FID,
        encode_dcod(
            DataObjectDescription(
                label="Demo notes",
                path=DEMO_DATA_OBJECT_FID.to_bytes(2, "big"),
                application="keymanager demo",
            )
        ),
    )
    registry = Registry()
    registry.record_domain(
        0, DomainPurpose.CUSTODIAN, "demo", label="Production DKEK", created=_VALID_FROM
    )
    registry.record_domain(1, DomainPurpose.CUSTODIAN, "demo", created=_VALID_FROM)
    for info in store.list_keys():
        if info.key_reference:
            sealed = info.key_reference in sealed_references
            registry.record_key(info.key_reference, info.id, 0, sealed=sealed)
    write_registry(hsm, registry)
    # Last: the label marks the card as a finished demo card.
    hsm.write_file(0x2F03, encode_tokeninfo(TokenInfo(label=DEMO_LABEL)))


def build_demo_card(state_path: Path | str) -> SmartCardHsmSimulator:
    """The demo card kept in ``state_path``: reused if the file holds it, built otherwise
    (also when it holds a demo card of an older keymanager, without the key-domain
    registry).

    A new card is built in a temporary file next to ``state_path`` and moved into place
    when complete, so an interrupted build never leaves half a demo behind.

    :raises ValueError: ``state_path`` holds another simulated card (it is not
        overwritten).
    """
    path = Path(state_path)
    if path.exists():
        simulator = SmartCardHsmSimulator(path)
        if not holds_demo(simulator):
            raise ValueError(
                f"{path} holds a simulated card that is not the demo card; "
                "remove it or choose another file"
            )
        if REGISTRY_FID in simulator.state.files:
            return SmartCardHsmSimulator(path)
        # a demo card built by an older keymanager (no key-domain registry): built anew
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.building-{os.getpid()}")
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        populate_demo_card(SmartCardHsmSimulator(temporary, seed=DEMO_SEED))
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return SmartCardHsmSimulator(path)
