"""Certificate requests signed by the card with one of its keys.

A key generated on the card has only the card's CV request in ``CExx``; a CA wants a
PKCS#10 request.  :func:`create_certificate_request` builds the
``CertificationRequestInfo`` (subject, the key's public key from its CV request or
certificate, and an extensionRequest with key usage, extended key usage and subject
alternative names), has the card sign it with the key (the user PIN is asked), checks
the signature on the host, and returns the request, which :mod:`cryptography` must
read and verify.  The certificate the CA issues is stored with
:func:`keymanager.workflows.certificates.import_certificate`.

Signatures: RSA PKCS#1 v1.5 with SHA-256, ECDSA with SHA-256.  The card is asked to
hash first (``33`` / ``73``, what keys with a restricted algorithm list usually
allow); a card or key that refuses that gets the hash from the host (``30`` with a
DigestInfo / ``70``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keymanager.card.errors import (
    ConditionsNotSatisfied,
    FunctionNotSupported,
    IncorrectParameters,
    WrongData,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import Algorithm
from keymanager.card.keystore import KeyInfo, KeyStore, PublicKey
from keymanager.card.pkcs15 import KeyKind
from keymanager.workflows import der
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.keys import find_key

OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
OID_SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"

HASH_ON_CARD_LIMIT = 900
"""Longest request body the card is asked to hash itself (it must fit one APDU)."""

KEY_USAGES: dict[str, str] = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}
"""Key usage names (RFC 5280) and the :class:`x509.KeyUsage` arguments they set."""

EXTENDED_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
"""Extended key usage names and their OIDs (a dotted OID is accepted too)."""

SUBJECT_FIELDS: tuple[tuple[str, str, x509.ObjectIdentifier], ...] = (
    ("CN", "Common name", NameOID.COMMON_NAME),
    ("O", "Organisation", NameOID.ORGANIZATION_NAME),
    ("OU", "Organisational unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("L", "Locality", NameOID.LOCALITY_NAME),
    ("ST", "State or province", NameOID.STATE_OR_PROVINCE_NAME),
    ("C", "Country (two letters)", NameOID.COUNTRY_NAME),
    ("emailAddress", "E-mail address", NameOID.EMAIL_ADDRESS),
)
"""The subject fields a form offers: RFC 4514 key, label, OID (in subject order)."""


# --- what the request says ----------------------------------------------------------------


@dataclass(frozen=True)
class RequestContent:
    """Subject and extensions of a certificate request."""

    subject: x509.Name
    key_usage: frozenset[str] = frozenset()
    """Names from :data:`KEY_USAGES`."""
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] = ()
    alternative_names: tuple[x509.GeneralName, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.key_usage) - set(KEY_USAGES))
        if unknown:
            raise ValueError(f"unknown key usage {', '.join(unknown)}")
        if not len(self.subject) and not self.alternative_names:
            raise ValueError("a certificate request needs a subject or an alternative name")

    def extensions(self) -> list[x509.Extension[x509.ExtensionType]]:
        """The requested extensions (key usage critical, the others not)."""
        result: list[x509.Extension[x509.ExtensionType]] = []
        if self.key_usage:
            flags = {argument: False for argument in KEY_USAGES.values()}
            for name in self.key_usage:
                flags[KEY_USAGES[name]] = True
            usage = x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)
            result.append(x509.Extension(usage.oid, True, usage))
        if self.extended_key_usage:
            extended = x509.ExtendedKeyUsage(list(self.extended_key_usage))
            result.append(x509.Extension(extended.oid, False, extended))
        if self.alternative_names:
            names = x509.SubjectAlternativeName(list(self.alternative_names))
            # RFC 5280: critical when the subject is empty
            result.append(x509.Extension(names.oid, not len(self.subject), names))
        return result


def parse_subject(text: str) -> x509.Name:
    """An RFC 4514 subject (``"CN=Signer,O=Example,C=DE"``).

    :raises ValueError: it does not parse (the message says what to write).
    """
    text = text.strip()
    if not text:
        return x509.Name([])
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as error:
        raise ValueError(
            f"the subject {text!r} is not an RFC 4514 name (e.g. CN=Signer,O=Example): {error}"
        ) from None


def subject_from_fields(fields: Mapping[str, str]) -> x509.Name:
    """A subject from form fields keyed as in :data:`SUBJECT_FIELDS` (empty ones left out).

    :raises ValueError: a country is not two letters, or a key is unknown.
    """
    known = {key: oid for key, _label, oid in SUBJECT_FIELDS}
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(f"unknown subject field {', '.join(unknown)}")
    attributes: list[x509.NameAttribute[str]] = []
    for key, _label, oid in SUBJECT_FIELDS:
        value = fields.get(key, "").strip()
        if not value:
            continue
        if key == "C" and (len(value) != 2 or not value.isascii() or not value.isalpha()):
            raise ValueError(f"a country is two letters (e.g. DE), not {value!r}")
        attributes.append(x509.NameAttribute(oid, value.upper() if key == "C" else value))
    # RFC 4514 text lists the most specific part first; the DER order is the reverse
    return x509.Name(list(reversed(attributes)))


_NAME_FORMS = "write dns:NAME, email:ADDRESS, ip:ADDRESS or uri:URI"


def parse_alternative_name(text: str) -> x509.GeneralName:
    """``dns:host.example``, ``email:a@example``, ``ip:192.0.2.1`` or ``uri:https://…``.

    :raises ValueError: no known prefix, or an empty or invalid value.
    """
    prefix, _colon, value = text.partition(":")
    value = value.strip()
    kind = prefix.strip().lower()
    if not value:
        raise ValueError(f"{text!r} is not an alternative name: {_NAME_FORMS}")
    if kind == "dns":
        if any(ch.isspace() for ch in value) or not value.isascii():
            raise ValueError(f"{value!r} is not a DNS name (ASCII, no spaces)")
        return x509.DNSName(value)
    if kind == "email":
        if "@" not in value or any(ch.isspace() for ch in value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return x509.RFC822Name(value)
    if kind == "ip":
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
    if kind == "uri":
        return x509.UniformResourceIdentifier(value)
    raise ValueError(f"{text!r} is not an alternative name: {_NAME_FORMS}")


def parse_key_usage(names: Iterable[str]) -> frozenset[str]:
    """Key usage names, case-insensitive (``digitalSignature``, ``keyencipherment``…).

    :raises ValueError: an unknown name (the message lists the known ones).
    """
    by_lower = {name.lower(): name for name in KEY_USAGES}
    result = set()
    for name in names:
        if not name.strip():
            continue
        found = by_lower.get(name.strip().lower())
        if found is None:
            raise ValueError(f"unknown key usage {name!r}; known: {', '.join(KEY_USAGES)}")
        result.add(found)
    return frozenset(result)


def parse_extended_key_usage(names: Iterable[str]) -> tuple[x509.ObjectIdentifier, ...]:
    """Extended key usage names (``serverAuth``…) or dotted OIDs.

    :raises ValueError: neither a known name nor an OID.
    """
    by_lower = {name.lower(): oid for name, oid in EXTENDED_KEY_USAGES.items()}
    result: list[x509.ObjectIdentifier] = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        found = by_lower.get(name.lower())
        if found is None:
            try:
                found = x509.ObjectIdentifier(name)
            except ValueError:
                raise ValueError(
                    f"unknown extended key usage {name!r}; known: "
                    f"{', '.join(EXTENDED_KEY_USAGES)} or a dotted OID"
                ) from None
        if found not in result:
            result.append(found)
    return tuple(result)


# --- the request's DER ----------------------------------------------------------------------


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certification_request_info(
    subject: x509.Name,
    public_key: PublicKey,
    extensions: Sequence[x509.Extension[x509.ExtensionType]] = (),
) -> bytes:
    """The DER ``CertificationRequestInfo`` (RFC 2986) the card signs."""
    attributes = b""
    if extensions:
        encoded = [
            der.sequence(
                der.oid(extension.oid.dotted_string),
                der.boolean(True) if extension.critical else b"",
                der.octet_string(extension.value.public_bytes()),
            )
            for extension in extensions
        ]
        attributes = der.sequence(
            der.oid(OID_EXTENSION_REQUEST), der.set_of([der.sequence(*encoded)])
        )
    return der.sequence(
        der.integer(0),
        subject.public_bytes(),
        _spki(public_key),
        der.context_constructed(0, attributes),
    )


def signature_algorithm(kind: KeyKind) -> bytes:
    """The DER AlgorithmIdentifier of the request's signature."""
    if kind is KeyKind.RSA:
        return der.sequence(der.oid(OID_SHA256_WITH_RSA), der.null())
    if kind is KeyKind.EC:
        return der.sequence(der.oid(OID_ECDSA_WITH_SHA256))
    raise ValueError(f"{kind.value} keys cannot sign a certificate request")


def assemble_request(info: bytes, algorithm: bytes, signature: bytes) -> bytes:
    """The DER ``CertificationRequest``: the signed info, the algorithm and the signature."""
    return der.sequence(info, algorithm, der.bit_string(signature))


def digest_info_sha256(message: bytes) -> bytes:
    """The PKCS#1 DigestInfo of SHA-256(``message``)."""
    digest = hashlib.sha256(message).digest()
    return der.sequence(der.sequence(der.oid(OID_SHA256), der.null()), der.octet_string(digest))


def sign_on_card(hsm: SmartCardHsm, key_reference: int, kind: KeyKind, message: bytes) -> bytes:
    """The card's SHA-256 signature of ``message`` with key ``key_reference`` (PIN verified).

    The card hashes (``33`` / ``73``) when the message fits an APDU; if it refuses, the
    host hashes (``30`` + DigestInfo / ``70`` + hash), and the other way round.
    """
    if kind is KeyKind.RSA:
        on_card = (Algorithm.RSA_PKCS1_SHA256, message)
        on_host = (Algorithm.RSA_PKCS1, digest_info_sha256(message))
    elif kind is KeyKind.EC:
        on_card = (Algorithm.ECDSA_SHA256, message)
        on_host = (Algorithm.ECDSA, hashlib.sha256(message).digest())
    else:
        raise WorkflowError(f"an {kind.value} key cannot sign a certificate request")
    attempts = [on_card, on_host] if len(message) <= HASH_ON_CARD_LIMIT else [on_host, on_card]
    first_error: Exception | None = None
    for algorithm, data in attempts:
        try:
            return hsm.sign(key_reference, algorithm, data)
        except (ConditionsNotSatisfied, IncorrectParameters, FunctionNotSupported, WrongData) as e:
            first_error = first_error or e
    raise WorkflowError(
        f"the card refused to sign with key {key_reference} ({first_error}): the key's "
        "allowed algorithms may exclude RSA PKCS#1 / ECDSA signatures, or its use counter "
        "is used up; nothing was written"
    )


def _check_signature(public_key: PublicKey, signature: bytes, message: bytes) -> None:
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WorkflowError(
            "the card's signature does not match the public key stored for the key "
            "(CExx does not belong to this key?); no request was made"
        ) from None


# --- the workflows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateRequest:
    """A request :func:`create_certificate_request` made."""

    key_reference: int
    label: str
    der: bytes
    subject: str

    @property
    def request(self) -> x509.CertificateSigningRequest:
        return x509.load_der_x509_csr(self.der)

    def encoded(self, *, pem: bool = True) -> bytes:
        """The request as PEM (``CERTIFICATE REQUEST``) or DER."""
        if not pem:
            return self.der
        return self.request.public_bytes(serialization.Encoding.PEM)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "subject": self.subject,
            "sha256": hashlib.sha256(self.der).hexdigest().upper(),
        }


def key_public_key(hsm: SmartCardHsm, key_reference: int) -> tuple[KeyInfo, PublicKey]:
    """The key and the public key its ``CExx`` (certificate or CV request) tells.

    :raises WorkflowError: no such key, an AES key, or no public key on the card.
    """
    key = KeyStore(hsm).load_certificate(find_key(hsm, key_reference))
    if key.kind is KeyKind.AES:
        raise WorkflowError(
            f"key {key_reference} ({key.label}) is an AES key: it has no public key, so no "
            "certificate belongs to it"
        )
    if key.public_key is None:
        raise WorkflowError(
            f"the card tells no public key for key {key_reference} ({key.label}): CE"
            f"{key_reference:02X} holds neither a certificate nor a CV request it can read"
        )
    return key, key.public_key


def create_certificate_request(
    hsm: SmartCardHsm, interaction: Interaction, key_reference: int, content: RequestContent
) -> CertificateRequest:
    """A PKCS#10 request for key ``key_reference``, signed by the card with that key.

    The signature is checked against the key's public key and the finished request
    against itself (with :mod:`cryptography`) before it is returned; nothing on the card
    changes.
    """
    key, public_key = key_public_key(hsm, key_reference)
    kind = KeyKind.RSA if isinstance(public_key, rsa.RSAPublicKey) else KeyKind.EC
    info = certification_request_info(content.subject, public_key, content.extensions())
    verify_user_pin(hsm, interaction, f"signing a certificate request with {key.label!r}")
    signature = sign_on_card(hsm, key_reference, kind, info)
    _check_signature(public_key, signature, info)
    encoded = assemble_request(info, signature_algorithm(kind), signature)
    try:
        request = x509.load_der_x509_csr(encoded)
        valid = request.is_signature_valid
    except ValueError as error:  # a bug here, not the user's: say so plainly
        raise WorkflowError(f"the certificate request does not decode: {error}") from None
    if not valid:
        raise WorkflowError("the certificate request's signature does not verify")
    interaction.inform(
        f"Certificate request for key {key_reference} ({key.label}) signed by the card."
    )
    return CertificateRequest(
        key_reference, key.label, encoded, content.subject.rfc4514_string() or "(empty)"
    )
