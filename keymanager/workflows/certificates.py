"""Importing the certificate a CA issued for a key on the card.

:func:`import_certificate` stores it as the key's certificate (``CExx``, replacing the
CV request of a key generated on the card, or an older certificate; the PRKD gets its
subject, as OpenSC does) after checking that it is for that key:

* where the card tells the key's public key (from its CV request or certificate), the
  certificate's public key must be the same;
* where it does not (a key imported without certificate), the card signs a test message
  with the key and the certificate's public key must verify that signature.

A certificate for another key is refused with :class:`CertificateMismatch` and nothing
on the card changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import CertificateKind, KeyInfo, KeyStore
from keymanager.card.pkcs15 import KeyKind, key_kind_and_size
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.csr import sign_on_card
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.keys import find_key

PROOF_MESSAGE = b"keymanager: does this certificate belong to key "
"""The start of the test message the card signs when it does not tell the public key."""


class CertificateMismatch(WorkflowError):
    """The certificate is not for the key's public key (nothing was changed)."""


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM file (one or a chain) or a DER file.

    :raises WorkflowError: neither holds a certificate.
    """
    try:
        if b"-----BEGIN" in data:
            certificates = x509.load_pem_x509_certificates(data)
        else:
            certificates = [x509.load_der_x509_certificate(data)]
        for certificate in certificates:
            certificate.public_key()
    except ValueError as error:
        raise WorkflowError(f"the file holds no readable X.509 certificate: {error}") from None
    return certificates


@dataclass(frozen=True)
class ImportedCertificate:
    """A certificate :func:`import_certificate` stored for a key."""

    key_reference: int
    label: str
    subject: str
    issuer: str
    replaced: str | None
    """What ``CExx`` held before: ``"cv-request"``, ``"certificate"`` or ``None``."""
    ignored: tuple[str, ...] = field(default=())
    """Subjects of other certificates in the file (a chain), not stored."""
    proven_by_signature: bool = False
    """The card did not tell the public key: a test signature proved the match."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "subject": self.subject,
            "issuer": self.issuer,
            "replaced": self.replaced,
            "ignored": list(self.ignored),
            "proven_by_signature": self.proven_by_signature,
        }

    def summary(self) -> str:
        """One line for a status bar."""
        return f"Certificate {self.subject} stored for key {self.key_reference} ({self.label})"


def _verifies(public_key: CertificatePublicKeyTypes, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _kind(public_key: CertificatePublicKeyTypes) -> tuple[KeyKind, int] | None:
    try:
        return key_kind_and_size(public_key)
    except ValueError:
        return None


def _proven(
    hsm: SmartCardHsm, key: KeyInfo, certificates: list[x509.Certificate]
) -> list[x509.Certificate]:
    """The certificates whose public key verifies a test signature of the key (PIN verified)."""
    candidates = [
        c
        for c in certificates
        if (found := _kind(c.public_key())) is not None
        and (key.kind is None or found[0] is key.kind)
        and (key.size is None or found[1] == key.size)
    ]
    if not candidates:
        return []
    kind = key.kind or key_kind_and_size(candidates[0].public_key())[0]
    message = (
        PROOF_MESSAGE
        + str(key.key_reference).encode()
        + b"? "
        + hashlib.sha256(b"".join(c.fingerprint(hashes.SHA256()) for c in candidates))
        .hexdigest()
        .encode()
    )
    signature = sign_on_card(hsm, key.key_reference, kind, message)
    return [c for c in candidates if _verifies(c.public_key(), signature, message)]


@ceremony_step("import certificate")
def import_certificate(
    hsm: SmartCardHsm, interaction: Interaction, key_reference: int, data: bytes
) -> ImportedCertificate:
    """Store the certificate in ``data`` (PEM or DER) as key ``key_reference``'s certificate.

    From a chain, the certificate for the key is taken (see the module docstring for how
    it is recognised).

    :raises CertificateMismatch: no certificate in ``data`` is for the key.
    :raises WorkflowError: no such key, an AES key, or the file holds no certificate.
    """
    certificates = read_certificates(data)
    key = KeyStore(hsm).load_certificate(find_key(hsm, key_reference))
    if key.kind is KeyKind.AES:
        raise WorkflowError(
            f"key {key_reference} ({key.label}) is an AES key: no certificate belongs to it"
        )
    purpose = f"storing the certificate of {key.label!r}"
    proven = key.public_key is None
    if key.public_key is not None:
        wanted = _spki(key.public_key)
        matching = [c for c in certificates if _spki(c.public_key()) == wanted]
    else:
        verify_user_pin(hsm, interaction, purpose)
        matching = _proven(hsm, key, certificates)
    if not matching:
        subject = certificates[0].subject.rfc4514_string() or "(empty subject)"
        how = (
            "a test signature of the key does not verify with it"
            if proven
            else ("its public key is not that of the key")
        )
        raise CertificateMismatch(
            f"the certificate ({subject}) is for another key: {how} (key {key_reference}, "
            f"{key.label}); nothing was changed"
        )
    certificate = matching[0]
    replaced = {
        CertificateKind.CV_REQUEST: "cv-request",
        CertificateKind.X509: "certificate",
        None: None,
    }[key.certificate_kind]
    verify_user_pin(hsm, interaction, purpose)
    try:
        KeyStore(hsm).store_certificate(key_reference, certificate)
    except ValueError as error:
        raise WorkflowError(f"{error}; nothing was changed") from None
    subject = certificate.subject.rfc4514_string()
    interaction.inform(f"Certificate {subject} stored for key {key_reference} ({key.label}).")
    return ImportedCertificate(
        key_reference,
        key.label,
        subject,
        certificate.issuer.rfc4514_string(),
        replaced,
        tuple(c.subject.rfc4514_string() for c in certificates if c is not certificate),
        proven,
    )
