"""Opening a PKCS#12 (``.p12`` / ``.pfx``) file and telling what a SmartCard-HSM can take from it.

The file's own password only decrypts the container on the host; it has nothing to do
with DKEK shares.  :func:`open_pkcs12` reads the file with :mod:`cryptography`
(``pkcs12.load_pkcs12``) and lists its entries:

* :class:`KeyEntry` - a private key with the certificate whose public key matches it
  (or none: a key without a certificate imports too), its friendly name and, decided on
  the host before any APDU, whether the card can hold it (RSA 1024-4096 bits, EC on one
  of the twelve supported curves) or why not (Ed25519, Ed448, DSA, X25519, RSA above
  4096 bits, another curve…); the reasons are :mod:`keymanager.dkek.keyblob`'s own;
* :class:`CertificateEntry` - a certificate without a key (CA certificates, the chain),
  stored on the card as a CA certificate.

Errors are specific: :class:`Pkcs12WrongPassword`, :class:`Pkcs12Corrupt`,
:class:`Pkcs12Empty`, :class:`Pkcs12TooLarge` (files above :data:`MAX_PKCS12_SIZE`,
1 MiB, are refused unread: real PKCS#12 files are a few kilobytes, a chain of ten
4096-bit certificates stays below 30 KB).

Private keys live in :mod:`cryptography` objects that cannot be overwritten; the
contents object drops its references when :meth:`Pkcs12Contents.forget` is called
(best effort, as everywhere in Python).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from keymanager.dkek.curves import curve_by_cryptography_curve
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.errors import UnsupportedKey
from keymanager.dkek.keyblob import MAXIMUM_RSA_BITS, MINIMUM_RSA_BITS, encode_key
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Choice

MAX_PKCS12_SIZE = 1024 * 1024
"""Files larger than this (1 MiB) are refused before they are read."""

KEY_PREFIX = "key"
CERTIFICATE_PREFIX = "ca"


class Pkcs12Error(WorkflowError):
    """A PKCS#12 file cannot be used; the message says why."""


class Pkcs12WrongPassword(Pkcs12Error):
    """The password does not open the file (or its integrity check fails)."""


class Pkcs12Corrupt(Pkcs12Error):
    """The file is not a PKCS#12 file, is truncated, or uses an encryption we cannot read."""


class Pkcs12Empty(Pkcs12Error):
    """The file holds neither a private key nor a certificate."""


class Pkcs12TooLarge(Pkcs12Error):
    """The file is larger than :data:`MAX_PKCS12_SIZE`."""


class Pkcs12Unreadable(Pkcs12Error):
    """The file cannot be read from disk."""


class NothingToImport(Pkcs12Error):
    """Every entry of the file is one the card cannot hold (the message gives the reasons)."""


PrivateKey = PrivateKeyTypes
SupportedPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def key_support(key: object) -> str | None:
    """``None`` if a SmartCard-HSM can hold ``key``, else the reason it cannot.

    RSA keys of 1024 to 4096 bits (whole bytes) and EC keys on the twelve supported
    curves are accepted, exactly what :func:`keymanager.dkek.keyblob.encode_key`
    accepts; for any other type the reason is keyblob's own.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        bits = key.key_size
        if bits % 8 or not MINIMUM_RSA_BITS <= bits <= MAXIMUM_RSA_BITS:
            return (
                f"the SmartCard-HSM cannot hold a {bits}-bit RSA key: it holds RSA keys of "
                f"{MINIMUM_RSA_BITS} to {MAXIMUM_RSA_BITS} bits"
            )
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            curve_by_cryptography_curve(key.curve)
        except UnsupportedKey as error:
            return str(error)
        return None
    # Any other type: keyblob refuses it before encoding anything; take its reason.
    with Dkek() as scratch:
        try:
            encode_key(scratch, key)  # type: ignore[arg-type]  # checked at run time
        except UnsupportedKey as error:
            return str(error)
    return None  # pragma: no cover - keyblob only wraps the types handled above


def describe_key(key: object) -> str:
    """A short text such as ``RSA 2048-bit`` or ``EC secp256r1`` or ``Ed25519``."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
        return f"DSA {key.key_size}-bit"
    names = (
        (ed25519.Ed25519PrivateKey, "Ed25519"),
        (ed448.Ed448PrivateKey, "Ed448"),
        (x25519.X25519PrivateKey, "X25519"),
        (x448.X448PrivateKey, "X448"),
    )
    for kind, name in names:
        if isinstance(key, kind):
            return name
    return type(key).__name__


def common_name(certificate: x509.Certificate) -> str | None:
    """The certificate's subject CN, if it has one."""
    attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _friendly(name: bytes | None) -> str | None:
    if not name:
        return None
    text = name.decode("utf-8", "replace").strip()
    return text or None


def _spki(key: object) -> bytes | None:
    try:
        return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (AttributeError, ValueError, TypeError):
        return None


@dataclass(eq=False)
class KeyEntry:
    """A private key of the file, with its certificate when one matches it.

    :param number: 1-based position among the file's keys (for "Imported key N").
    :param unsupported: why the card cannot hold the key (``None``: it can).
    """

    number: int
    private_key: PrivateKey | None = field(repr=False)
    certificate: x509.Certificate | None
    friendly_name: str | None
    unsupported: str | None
    description: str

    @property
    def id(self) -> str:
        """The entry's choice value: ``key:N``."""
        return f"{KEY_PREFIX}:{self.number}"

    @property
    def label(self) -> str:
        """Friendly name, else the certificate's CN, else ``Imported key N``."""
        if self.friendly_name:
            return self.friendly_name
        if self.certificate is not None:
            name = common_name(self.certificate)
            if name:
                return name
        return f"Imported key {self.number}"

    @property
    def public_key(self) -> SupportedPublicKey | None:
        """The public key of a supported key (from the certificate when there is one)."""
        public: object
        if self.certificate is not None:
            public = self.certificate.public_key()
        elif self.private_key is not None:
            public = self.private_key.public_key()
        else:
            return None
        if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return public
        return None

    def detail(self) -> str:
        """What the choice shows beside the label."""
        certificate = (
            f"certificate {self.certificate.subject.rfc4514_string()}"
            if self.certificate is not None
            else "no certificate"
        )
        return f"{self.description} private key, {certificate}"


@dataclass(eq=False)
class CertificateEntry:
    """A certificate without a private key in the file (stored as a CA certificate)."""

    number: int
    certificate: x509.Certificate
    friendly_name: str | None

    @property
    def id(self) -> str:
        """The entry's choice value: ``ca:N``."""
        return f"{CERTIFICATE_PREFIX}:{self.number}"

    @property
    def label(self) -> str:
        """Friendly name, else the CN, else the whole subject."""
        if self.friendly_name:
            return self.friendly_name
        name = common_name(self.certificate)
        if name:
            return name
        subject = self.certificate.subject.rfc4514_string()
        return subject or f"CA certificate {self.number}"

    def detail(self) -> str:
        return (
            f"certificate without key, issued by {self.certificate.issuer.rfc4514_string()}; "
            "stored as a CA certificate"
        )


@dataclass(eq=False)
class Pkcs12Contents:
    """What a PKCS#12 file holds."""

    source: str
    keys: list[KeyEntry]
    certificates: list[CertificateEntry]

    @property
    def importable_keys(self) -> list[KeyEntry]:
        return [entry for entry in self.keys if entry.unsupported is None]

    def entry(self, entry_id: str) -> KeyEntry | CertificateEntry:
        """The entry with choice value ``entry_id``."""
        entries: list[KeyEntry | CertificateEntry] = [*self.keys, *self.certificates]
        for entry in entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def choices(self, exclude: Sequence[str] = ()) -> list[Choice[str]]:
        """One choice per entry; keys the card cannot hold are disabled with the reason."""
        choices: list[Choice[str]] = []
        for key in self.keys:
            if key.id not in exclude:
                choices.append(Choice(key.id, key.label, key.detail(), key.unsupported))
        for certificate in self.certificates:
            if certificate.id not in exclude:
                choices.append(Choice(certificate.id, certificate.label, certificate.detail()))
        return choices

    def check_importable(self) -> None:
        """Raise :class:`NothingToImport` when no entry can go onto the card."""
        if self.importable_keys or self.certificates:
            return
        reasons = "; ".join(
            f"{entry.label} ({entry.description}): {entry.unsupported}" for entry in self.keys
        )
        raise NothingToImport(f"{self.source}: nothing in it can go onto the card: {reasons}")

    def forget(self) -> None:
        """Drop the references to the private keys (best effort: Python cannot wipe them)."""
        for entry in self.keys:
            entry.private_key = None


def _matches(key: PrivateKey, certificate: x509.Certificate) -> bool:
    wanted = _spki(key.public_key())
    return wanted is not None and wanted == _spki(certificate.public_key())


def parse_pkcs12(
    data: bytes, password: bytes | bytearray | None, source: str = "the PKCS#12 file"
) -> Pkcs12Contents:
    """The entries of a PKCS#12 file's bytes.

    An empty password also tries "no password" (files exported without one).

    :raises Pkcs12WrongPassword: the password is wrong (or the file's MAC fails).
    :raises Pkcs12Corrupt: the bytes are not a readable PKCS#12 structure.
    :raises Pkcs12Empty: the file holds no key and no certificate.
    """
    if len(data) > MAX_PKCS12_SIZE:
        raise Pkcs12TooLarge(
            f"{source} has {len(data)} bytes; PKCS#12 files above {MAX_PKCS12_SIZE} bytes "
            "are refused"
        )
    attempts: list[bytes | None] = [bytes(password) if password is not None else None]
    if not password:
        attempts = [None, b""]
    loaded: pkcs12.PKCS12KeyAndCertificates | None = None
    failure = ""
    for attempt in attempts:
        try:
            loaded = pkcs12.load_pkcs12(data, attempt)
            break
        except ValueError as error:
            failure = str(error)
        except Exception as error:  # unsupported algorithms and the like
            failure = f"{type(error).__name__}: {error}"
    if loaded is None:
        if "password" in failure.lower():
            raise Pkcs12WrongPassword(
                f"the PKCS#12 password is wrong for {source} (or the file was altered: its "
                "integrity check fails)"
            )
        raise Pkcs12Corrupt(
            f"{source} is not a readable PKCS#12 file: it is damaged, truncated, or "
            "encrypted with an algorithm this build cannot read (re-export it with AES)"
        )

    certificates = [
        (item.certificate, _friendly(item.friendly_name))
        for item in ([loaded.cert] if loaded.cert is not None else []) + loaded.additional_certs
    ]
    keys: list[KeyEntry] = []
    key = loaded.key
    if key is not None:
        matched = next(
            (index for index, (cert, _n) in enumerate(certificates) if _matches(key, cert)),
            None,
        )
        certificate, name = (None, None) if matched is None else certificates.pop(matched)
        keys.append(
            KeyEntry(
                number=1,
                private_key=key,
                certificate=certificate,
                friendly_name=name,
                unsupported=key_support(key),
                description=describe_key(key),
            )
        )
    entries = [
        CertificateEntry(number, certificate, name)
        for number, (certificate, name) in enumerate(certificates, start=1)
    ]
    if not keys and not entries:
        raise Pkcs12Empty(f"{source} holds neither a private key nor a certificate")
    return Pkcs12Contents(source, keys, entries)


def open_pkcs12(path: Path, password: bytes | bytearray | None) -> Pkcs12Contents:
    """Open a ``.p12`` / ``.pfx`` file with its own password (the caller wipes it).

    :raises Pkcs12TooLarge: the file is above :data:`MAX_PKCS12_SIZE` (not read).
    :raises Pkcs12Unreadable: the file cannot be read.
    And see :func:`parse_pkcs12`.
    """
    try:
        size = path.stat().st_size
        if size > MAX_PKCS12_SIZE:
            raise Pkcs12TooLarge(
                f"{path.name} has {size} bytes; PKCS#12 files above {MAX_PKCS12_SIZE} bytes "
                "are refused"
            )
        data = path.read_bytes()
    except OSError as error:
        raise Pkcs12Unreadable(f"cannot read {path}: {error.strerror or error}") from None
    return parse_pkcs12(data, password, path.name)
