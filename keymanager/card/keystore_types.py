"""What the key store reports and refuses: file numbering, errors, key and certificate info.

File identifiers are ``prefix ‖ number`` (see :mod:`keymanager.card.keystore`).  Plain
data, no card I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509

from keymanager.card.errors import CardError
from keymanager.card.keystore_certificates import PublicKey, name_to_text
from keymanager.card.pkcs15 import (
    AccessFlags,
    CertificateDescription,
    DataObjectDescription,
    KeyKind,
    KeyUsage,
    PrivateKeyDescription,
)

if TYPE_CHECKING:
    from keymanager.dkek.keyblob import KeyType

KEY_PREFIX = 0xCC
PRKD_PREFIX = 0xC4
EE_CERTIFICATE_PREFIX = 0xCE
CD_PREFIX = 0xC8
CA_CERTIFICATE_PREFIX = 0xCA
DCOD_PREFIX = 0xC9
PROTECTED_DATA_PREFIX = 0xCD
DATA_PREFIX = 0xCF

DEVICE_KEY_REFERENCE = 0
MAX_KEY_REFERENCE = 0xFF
NO_DESCRIPTION_LABEL = "(no description)"
"""Label shown for a key whose ``C4xx`` is missing (OpenSC's PKCS#11 does not show it)."""

IMPORTED_KEY_ACCESS = AccessFlags.SENSITIVE
"""Access flags written for an unwrapped key: sensitive, but neither local nor
always-sensitive / never-extractable, since it existed outside the card."""


def fid(prefix: int, number: int) -> int:
    """The file identifier ``prefix ‖ number``."""
    return prefix << 8 | number


class KeyStoreError(CardError):
    """A key-store operation cannot be done as asked; the message says why."""


class KeyReferenceTaken(KeyStoreError):
    """The requested key reference already holds a key."""


class NoFreeKeyReference(KeyStoreError):
    """All key references 1 to 255 (or all CA certificate numbers) are in use."""


class KeyNotFound(KeyStoreError):
    """There is no key with that reference."""


class CertificateKind(enum.Enum):
    """What a key's ``CExx`` holds, told by its first byte."""

    X509 = "x509"
    """An X.509 certificate (``30``)."""
    CV_REQUEST = "cv-request"
    """The CV request the card returned when it generated the key (``67``)."""


# --- what the store reports ----------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """One key on the card and what its metadata says about it.

    :param described: whether the key has a readable PRKD; keys without one get the
        label :data:`NO_DESCRIPTION_LABEL` and are invisible to OpenSC's PKCS#11.
    :param certificate: the X.509 certificate from ``CExx``, if it holds one.
    :param cv_request: the card's CV request from ``CExx`` (after on-card generation).
    :param allowed_algorithms: known only right after an import (from the blob header)
        or a generation; the card does not tell them later.
    :param problems: readable descriptions of metadata that could not be decoded.
    :param has_certificate_file: whether ``CExx`` exists (certificate or CV request);
        when the listing did not read it, :meth:`KeyStore.load_certificate` does.
    :param key_domain: the key domain the key belongs to, as far as known: the card
        does not report it, so it comes from keymanager's key-domain registry
        (:mod:`keymanager.card.domain_registry`) or a WRAP probe.
    :param domain_source: how :attr:`key_domain` was learnt: ``"recorded"`` (the
        registry), ``"probed"`` (a WRAP probe) or ``"unknown"``.
    :param exportable: ``False`` when the key is sealed (its allowed-algorithm list
        lacks WRAP, so the card refuses to export it), ``True`` when it may be
        exported, ``None`` when not known.
    """

    key_reference: int
    label: str
    id: bytes | None
    kind: KeyKind | None
    size: int | None
    usage: KeyUsage | None
    described: bool
    description: PrivateKeyDescription | None = None
    certificate: x509.Certificate | None = None
    cv_request: bytes | None = None
    public_key: PublicKey | None = None
    allowed_algorithms: bytes | None = None
    key_domain: int | None = None
    problems: tuple[str, ...] = field(default=())
    has_certificate_file: bool = False
    domain_source: str = "unknown"
    exportable: bool | None = None

    @property
    def certificate_subject(self) -> str | None:
        """The certificate's subject (RFC 4514), from the certificate or the PRKD."""
        if self.certificate is not None:
            return self.certificate.subject.rfc4514_string()
        if self.description is not None and self.description.subject:
            return name_to_text(self.description.subject)
        return None

    @property
    def certificate_kind(self) -> CertificateKind | None:
        """What ``CExx`` holds; ``None`` if nothing usable, or not read yet (see
        :attr:`certificate_loaded`).  Only a read file tells: a subject in the PRKD
        does not prove that ``CExx`` holds an X.509 certificate."""
        if self.certificate is not None:
            return CertificateKind.X509
        if self.cv_request is not None:
            return CertificateKind.CV_REQUEST
        return None

    @property
    def certificate_loaded(self) -> bool:
        """Whether ``CExx`` was read (so :attr:`certificate` and :attr:`cv_request` are final)."""
        return (
            self.certificate is not None
            or self.cv_request is not None
            or not (self.has_certificate_file)
        )


@dataclass(frozen=True)
class CaCertificateInfo:
    """A CA certificate in ``CAxx`` and its description in ``C8xx``."""

    number: int
    label: str
    id: bytes | None
    certificate: x509.Certificate | None
    description: CertificateDescription | None
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DataObjectInfo:
    """A data object (``CDxx`` private or ``CFxx`` public) and its description ``C9xx``."""

    number: int
    fid: int | None
    label: str
    application: str
    private: bool
    description: DataObjectDescription | None
    problems: tuple[str, ...] = field(default=())


def numbers_of(fids: Iterable[int], prefix: int) -> set[int]:
    """The low bytes of the files in ``fids`` whose high byte is ``prefix``."""
    return {file & 0xFF for file in fids if file >> 8 == prefix}


def blob_key_kind(key_type: KeyType) -> KeyKind:
    """The PKCS#15 key kind of a key blob's type."""
    # here, not at the top: listing keys does not need the key-blob codec
    from keymanager.dkek.keyblob import KeyType

    if key_type in (KeyType.RSA, KeyType.RSA_CRT):
        return KeyKind.RSA
    if key_type is KeyType.EC:
        return KeyKind.EC
    return KeyKind.AES
