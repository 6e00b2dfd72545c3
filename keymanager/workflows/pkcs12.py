"""Opening a PKCS#12 (``.p12`` / ``.pfx``) file and telling what a SmartCard-HSM can take from it.

The file's own password only decrypts the container on the host; it has nothing to do
with DKEK shares.  :func:`open_pkcs12` reads the file with :mod:`cryptography`
(``pkcs12.load_pkcs12``) and lists its entries:

* :class:`KeyEntry` - a private key with the certificate whose public key matches it
  (or none: a key without a certificate imports too), its friendly name (the
  certificate bag's, else the key bag's own: :func:`key_bag_friendly_name`) and, decided on
  the host before any APDU, whether the card can hold it (RSA 1024-4096 bits, EC on one
  of the twelve supported curves) or why not (Ed25519, Ed448, DSA, X25519, RSA above
  4096 bits, another curve…); the reasons are :mod:`keymanager.dkek.keyblob`'s own;
* :class:`CertificateEntry` - a certificate without a key (CA certificates, the chain),
  stored on the card as a CA certificate.

Errors are specific: :class:`Pkcs12WrongPassword` (also "no password given" for a
file that needs one), :class:`Pkcs12IntegrityError` (the password opens the contents
but the file's MAC fails: it was altered), :class:`Pkcs12Corrupt` (not PKCS#12,
truncated), :class:`Pkcs12UnsupportedContent` (an intact file holding a key this
program cannot read: a curve :mod:`cryptography` lacks, X25519…), :class:`Pkcs12Empty`,
:class:`Pkcs12TooLarge` (files above :data:`MAX_PKCS12_SIZE`, 1 MiB, are refused unread:
real PKCS#12 files are a few kilobytes, a chain of ten 4096-bit certificates stays below
30 KB) and :class:`Pkcs12Unreadable`.  A PKCS#12 MAC is keyed by the password, so a
failing MAC alone cannot tell a wrong password from an altered file; when the MAC fails,
the file is tried once more without its MAC: if the password then decrypts contents
that another password does not, the password is right and the file was altered.  The
contents of such a file are never used.

Two things the file may hold are not errors but warnings on the key entry (shown in
its :meth:`KeyEntry.detail`): no certificate of the file matches the key (it is
imported without one), and private keys that cannot be read (:mod:`cryptography`
reads only the first key of a file; the others are read from copies of the file that
hold one key each, :func:`single_key_variants`, when their key bags sit in plain
SafeContents, as with every common tool).

Private keys live in :mod:`cryptography` objects that cannot be overwritten; the
contents object drops its references when :meth:`Pkcs12Contents.forget` is called
(best effort, as everywhere in Python).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from keymanager.dkek.curves import SUPPORTED_CURVES, curve_by_cryptography_curve
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.errors import UnsupportedKey
from keymanager.dkek.keyblob import MAXIMUM_RSA_BITS, MINIMUM_RSA_BITS, encode_key
from keymanager.dkek.tlv import Tlv, TlvError, encode_tlv, iter_tlvs, read_tlv
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


class Pkcs12IntegrityError(Pkcs12Corrupt):
    """The password is right (it decrypts the contents) but the file's MAC fails: altered."""


class Pkcs12UnsupportedContent(Pkcs12Error):
    """The file holds a key (or uses an algorithm) this program cannot read."""


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
    warning: str | None = None
    """Something the user should know before importing (e.g. no certificate matches)."""

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
        text = f"{self.description} private key, {certificate}"
        return text if self.warning is None else f"{text}; warning: {self.warning}"


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


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


# --- a minimal look at the PFX structure (DER only; BER files are just not looked at) ---

_DATA_OID = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1, id-data
_KEY_BAG_OIDS = (
    bytes.fromhex("2a864886f70d010c0a0101"),  # keyBag
    bytes.fromhex("2a864886f70d010c0a0102"),  # pkcs8ShroudedKeyBag
)
_FRIENDLY_NAME_OID = bytes.fromhex("2a864886f70d010914")  # 1.2.840.113549.1.9.20
_OTHER_CURVE_NAMES = {
    "1.3.132.0.32": "secp224k1",
    "1.3.132.0.33": "secp224r1",
    "1.3.132.0.16": "sect283k1",
    "1.3.132.0.17": "sect283r1",
    "1.3.132.0.36": "sect409k1",
    "1.3.132.0.37": "sect409r1",
    "1.3.132.0.38": "sect571k1",
    "1.3.132.0.39": "sect571r1",
    "1.2.840.10045.3.1.1": "secp192r1",
}
_CURVE_OID = re.compile(r"\b(\d+(?:\.\d+){3,})\b")


def _children(data: bytes, tag: int | None = 0x30) -> list[Tlv]:
    """The TLVs inside one DER TLV of ``tag`` filling ``data`` (``TlvError`` if not)."""
    outer = read_tlv(data, 0, der=True)
    if outer.next_offset != len(data) or (tag is not None and outer.tag != bytes([tag])):
        raise TlvError("unexpected structure")
    return list(iter_tlvs(outer.value, der=True))


def _pfx_elements(data: bytes) -> list[Tlv] | None:
    """version, authSafe and (optional) macData of a DER PFX; ``None`` if not DER PFX."""
    try:
        elements = _children(data)
    except TlvError:
        return None
    return elements if len(elements) in (2, 3) else None


def _without_mac(data: bytes) -> bytes | None:
    """The PFX with its macData removed (``None``: no MAC, or not a DER PFX)."""
    elements = _pfx_elements(data)
    if elements is None or len(elements) != 3:
        return None
    return encode_tlv(0x30, b"".join(encode_tlv(e.tag, e.value) for e in elements[:2]))


def _data_content(content_info: bytes) -> bytes | None:
    """The OCTET STRING content of an id-data ContentInfo (``None`` for other types)."""
    content_type, *rest = _children(content_info)
    if content_type.tag != b"\x06" or content_type.value != _DATA_OID or len(rest) != 1:
        return None
    [octets] = _children(encode_tlv(rest[0].tag, rest[0].value), 0xA0)
    return octets.value if octets.tag == b"\x04" else None


def _plain_key_bags(data: bytes) -> list[Tlv] | None:
    """The private-key SafeBags of the file's unencrypted SafeContents, in file order.

    Key bags inside encrypted SafeContents are not seen (most tools shroud each key
    and put it in plain SafeContents).  ``None`` when the structure is not DER.
    """
    elements = _pfx_elements(data)
    if elements is None:
        return None
    try:
        authenticated_safe = _data_content(encode_tlv(elements[1].tag, elements[1].value))
        if authenticated_safe is None:
            return None
        bags: list[Tlv] = []
        for content_info in _children(authenticated_safe):
            safe_contents = _data_content(encode_tlv(content_info.tag, content_info.value))
            if safe_contents is None:
                continue  # encrypted: not visible without the password
            for bag in _children(safe_contents):
                bag_type = next(iter_tlvs(bag.value, der=True), None)
                if bag_type is not None and bag_type.value in _KEY_BAG_OIDS:
                    bags.append(bag)
    except (TlvError, ValueError):
        return None
    return bags


def count_key_bags(data: bytes) -> int | None:
    """How many private-key bags the file's unencrypted SafeContents hold.

    Key bags inside encrypted SafeContents are not seen (most tools shroud each key
    and put it in plain SafeContents).  ``None`` when the structure is not DER.
    """
    bags = _plain_key_bags(data)
    return None if bags is None else len(bags)


def _bag_friendly_name(bag: Tlv) -> str | None:
    """The friendlyName attribute of one SafeBag (``None``: none, or not DER)."""
    try:
        fields = list(iter_tlvs(bag.value, der=True))
        attributes = [field for field in fields[2:] if field.tag == b"\x31"]
        for attribute_set in attributes:
            for attribute in iter_tlvs(attribute_set.value, der=True):
                attribute_id, *values = iter_tlvs(attribute.value, der=True)
                if attribute_id.value != _FRIENDLY_NAME_OID or len(values) != 1:
                    continue
                for value in iter_tlvs(values[0].value, der=True):
                    if value.tag == b"\x1e":  # BMPString: UTF-16 big-endian
                        return _friendly(value.value.decode("utf-16-be").encode())
                    if value.tag == b"\x0c":  # UTF8String, written by a few tools
                        return _friendly(value.value)
    except (TlvError, ValueError):
        return None
    return None


def key_bag_friendly_name(data: bytes) -> str | None:
    """The friendlyName attribute of the file's first private-key bag, if it has one.

    :mod:`cryptography` tells the friendly names of certificates only; a key's own name
    sits in the attributes of its key bag (``SafeBag ::= SEQUENCE { bagId, [0] bagValue,
    bagAttributes SET OF Attribute OPTIONAL }``), a BMPString.  This is where
    ``openssl pkcs12 -name`` and ``pkcs12.serialize_key_and_certificates(name=...)`` put
    the name of a key exported without a certificate.  The first bag is the key
    :mod:`cryptography` (OpenSSL) reads.  ``None``: no name, the key bag is inside
    encrypted SafeContents, or the structure is not DER.
    """
    bags = _plain_key_bags(data)
    if not bags:
        return None
    return _bag_friendly_name(bags[0])


def key_bag_friendly_names(data: bytes) -> list[str | None]:
    """The friendlyName of every private-key bag of the plain SafeContents, in file order."""
    return [_bag_friendly_name(bag) for bag in _plain_key_bags(data) or []]


def single_key_variants(data: bytes) -> list[bytes] | None:
    """One PFX per private-key bag of the plain SafeContents, in which it is the only key.

    :mod:`cryptography` (OpenSSL's ``PKCS12_parse``) reads only the first private key of
    a file.  Each variant keeps everything else (the certificates, encrypted
    SafeContents) and drops the other key bags, so that reading it gives the next key.
    The variants carry no MAC: the caller checks the whole file's MAC first.  ``None``
    when the file is not DER or holds fewer than two visible key bags.
    """
    elements = _pfx_elements(data)
    if elements is None:
        return None
    try:
        authenticated_safe = _data_content(encode_tlv(elements[1].tag, elements[1].value))
        if authenticated_safe is None:
            return None
        content_infos = [encode_tlv(info.tag, info.value) for info in _children(authenticated_safe)]
        plain = [_data_content(info) for info in content_infos]
        bags_of = [None if safe is None else _children(safe) for safe in plain]
        key_bags = [
            (info_index, bag_index)
            for info_index, bags in enumerate(bags_of)
            for bag_index, bag in enumerate(bags or [])
            if (kind := next(iter_tlvs(bag.value, der=True), None)) is not None
            and kind.value in _KEY_BAG_OIDS
        ]
    except (TlvError, ValueError, StopIteration):
        return None
    if len(key_bags) < 2:
        return None
    variants: list[bytes] = []
    for kept in key_bags:
        infos: list[bytes] = []
        for info_index, info in enumerate(content_infos):
            bags = bags_of[info_index]
            if bags is None:
                infos.append(info)  # encrypted SafeContents: kept as they are
                continue
            safe = b"".join(
                encode_tlv(bag.tag, bag.value)
                for bag_index, bag in enumerate(bags)
                if (info_index, bag_index) == kept or (info_index, bag_index) not in key_bags
            )
            content = encode_tlv(0x04, encode_tlv(0x30, safe))
            infos.append(encode_tlv(0x30, encode_tlv(0x06, _DATA_OID) + encode_tlv(0xA0, content)))
        safe_octets = encode_tlv(0x04, encode_tlv(0x30, b"".join(infos)))
        auth_safe = encode_tlv(0x30, encode_tlv(0x06, _DATA_OID) + encode_tlv(0xA0, safe_octets))
        version = encode_tlv(elements[0].tag, elements[0].value)
        variants.append(encode_tlv(0x30, version + auth_safe))
    return variants


def _curve_name(oid: str) -> str:
    for curve in SUPPORTED_CURVES:
        if curve.oid == oid:
            return curve.name
    return _OTHER_CURVE_NAMES.get(oid, f"OID {oid}")


def _unsupported_content(error: Exception, source: str) -> Pkcs12UnsupportedContent:
    """The error for an intact file whose key or algorithm cryptography cannot read."""
    text = str(error)
    if isinstance(error, TypeError):
        return Pkcs12UnsupportedContent(
            f"{source} holds a private key of a type this program cannot read and the "
            "SmartCard-HSM cannot hold (such as X25519 or X448); it holds RSA and EC keys"
        )
    found = _CURVE_OID.search(text) if "curve" in text.lower() else None
    if found is not None:
        oid = found.group(1)
        name = _curve_name(oid)
        supported = any(curve.oid == oid for curve in SUPPORTED_CURVES)
        verdict = (
            "the SmartCard-HSM could hold it, but this program cannot read keys on it "
            "(export the key on another curve, or wrap it with Smart Card Shell)"
            if supported
            else "the SmartCard-HSM cannot hold keys on it"
        )
        return Pkcs12UnsupportedContent(
            f"{source} holds a key on the elliptic curve {name}: {verdict}"
        )
    return Pkcs12UnsupportedContent(
        f"{source} uses an algorithm this program cannot read ({text}); re-export it "
        "with AES encryption"
    )


def _opens_without_mac(data: bytes, password: bytes) -> bool:
    """Whether ``password`` decrypts the file's contents once its MAC is removed, while
    another password does not: then the password is right and the MAC (the file) is bad."""
    stripped = _without_mac(data)
    if stripped is None:
        return False
    try:
        pkcs12.load_pkcs12(stripped, password)
    except Exception:  # any failure: the password does not open it either
        return False
    probe = os.urandom(16).hex().encode()
    try:
        pkcs12.load_pkcs12(stripped, probe)
    except Exception:
        return True
    return False  # the contents are not encrypted: no password can be told right


def _load_error(data: bytes, password: bytes | None, error: Exception, source: str) -> Pkcs12Error:
    """The specific error for a file ``pkcs12.load_pkcs12`` refused."""
    if isinstance(error, UnsupportedAlgorithm | TypeError):
        return _unsupported_content(error, source)
    if "password" not in str(error).lower():
        return Pkcs12Corrupt(
            f"{source} is not a readable PKCS#12 file: it is damaged, truncated, or not "
            "a PKCS#12 file at all"
        )
    if not password:
        return Pkcs12WrongPassword(
            f"{source} is protected by a password, and none was given (or its integrity "
            "check fails)"
        )
    if _opens_without_mac(data, password):
        return Pkcs12IntegrityError(
            f"the password opens {source}, but its integrity check (MAC) fails: the file "
            "was altered or damaged after it was made; nothing in it is used"
        )
    return Pkcs12WrongPassword(
        f"the PKCS#12 password is wrong for {source} (or the file was altered: its "
        "integrity check fails)"
    )


MAX_ITERATIONS = 10_000_000
"""The largest key-derivation or MAC iteration count a file may ask for.

Real exports use 1 to a few hundred thousand (OpenSSL 2,048, Windows 2,000, recent
OpenSSL and NSS PBKDF2 600,000); a damaged or hostile count of 2³¹ would keep the
parser busy for many minutes, uninterruptibly.
"""


def _iteration_counts(data: bytes, depth: int = 0) -> list[int]:
    """Every iteration count visible without a password in a DER PFX.

    MacData, PKCS#12 PBE parameters and PBKDF2 parameters all hold a salt (OCTET
    STRING) directly followed by the count (INTEGER): every such pair in any SEQUENCE
    is taken, descending into OCTET STRINGs that hold DER (the authenticated safe and
    plain SafeContents).  Parts that do not parse are skipped.
    """
    counts: list[int] = []
    if depth > 32:
        return counts
    try:
        children = list(iter_tlvs(data, der=True))
    except (TlvError, ValueError):
        return counts
    for index, child in enumerate(children):
        following = children[index + 1] if index + 1 < len(children) else None
        tag = child.tag[0] if child.tag else 0
        if tag == 0x04 and following is not None and following.tag == b"\x02":
            # an absurdly long INTEGER counts as absurdly large without converting it
            count = following.value[:64]
            counts.append(
                int.from_bytes(count, "big", signed=True) if len(following.value) <= 64 else 2**512
            )
        if tag & 0x20 or tag == 0x04:  # constructed, or an OCTET STRING that may hold DER
            counts += _iteration_counts(child.value, depth + 1)
    return counts


def _check_iterations(data: bytes, source: str) -> None:
    excessive = [count for count in _iteration_counts(data) if count > MAX_ITERATIONS]
    if excessive:
        raise Pkcs12Corrupt(
            f"{source} asks for {max(excessive):,} key-derivation iterations; files above "
            f"{MAX_ITERATIONS:,} are refused as damaged (reading it would take minutes)"
        )


def _load(
    data: bytes, password: bytes | bytearray | None, source: str
) -> pkcs12.PKCS12KeyAndCertificates:
    attempts: list[bytes | None] = [bytes(password) if password is not None else None]
    if not password:
        attempts = [None, b""]
    failure: Exception | None = None
    for attempt in attempts:
        try:
            return pkcs12.load_pkcs12(data, attempt)
        except Exception as error:  # ValueError, UnsupportedAlgorithm, TypeError…
            failure = error if failure is None or not isinstance(error, ValueError) else failure
    assert failure is not None
    raise _load_error(data, attempts[0], failure, source) from None


def parse_pkcs12(
    data: bytes, password: bytes | bytearray | None, source: str = "the PKCS#12 file"
) -> Pkcs12Contents:
    """The entries of a PKCS#12 file's bytes.

    An empty password also tries "no password" (files exported without one).

    :raises Pkcs12TooLarge: more than :data:`MAX_PKCS12_SIZE` bytes.
    :raises Pkcs12WrongPassword: the password is wrong or missing (or the file's MAC
        fails and the password cannot be told right).
    :raises Pkcs12IntegrityError: the password is right but the file's MAC fails.
    :raises Pkcs12Corrupt: the bytes are not a readable PKCS#12 structure.
    :raises Pkcs12UnsupportedContent: the file holds a key this program cannot read.
    :raises Pkcs12Empty: the file holds no key and no certificate.
    """
    if len(data) > MAX_PKCS12_SIZE:
        raise Pkcs12TooLarge(
            f"{source} has {len(data)} bytes; PKCS#12 files above {MAX_PKCS12_SIZE} bytes "
            "are refused"
        )
    _check_iterations(bytes(data), source)
    loaded = _load(bytes(data), password, source)

    certificates = [
        (item.certificate, _friendly(item.friendly_name))
        for item in ([loaded.cert] if loaded.cert is not None else []) + loaded.additional_certs
    ]
    keys: list[KeyEntry] = []
    private_keys: list[PrivateKeyTypes] = [] if loaded.key is None else [loaded.key]
    key_names: list[str | None] = [key_bag_friendly_name(bytes(data))]
    variants = single_key_variants(bytes(data)) if loaded.key is not None else None
    if variants is not None:
        # every key of the file (cryptography reads the first only); the whole file's
        # MAC was checked above, the variants carry none
        try:
            every_key = [_load(variant, password, source).key for variant in variants]
        except Pkcs12Error:
            every_key = []  # a copy does not read: the first key only, with the warning
        if every_key and all(key is not None for key in every_key):
            private_keys = [key for key in every_key if key is not None]
            key_names = key_bag_friendly_names(bytes(data))
    hidden_keys = count_key_bags(bytes(data)) or 0
    for number, key in enumerate(private_keys, start=1):
        matched = next(
            (index for index, (cert, _n) in enumerate(certificates) if _matches(key, cert)),
            None,
        )
        certificate, name = (None, None) if matched is None else certificates.pop(matched)
        # a key without certificate has its name only in its key bag (cryptography does
        # not tell it); with a certificate, the certificate bag's name as before
        bag_name = key_names[number - 1] if number <= len(key_names) else None
        name = name or bag_name
        keys.append(
            KeyEntry(
                number=number,
                private_key=key,
                certificate=certificate,
                friendly_name=name,
                unsupported=key_support(key),
                description=describe_key(key),
            )
        )
    strangers = [cert for cert, _n in certificates if not _is_ca(cert)]
    for entry in keys:
        warnings: list[str] = []
        if entry.certificate is None and strangers:
            subjects = ", ".join(
                cert.subject.rfc4514_string() or "(empty subject)" for cert in strangers
            )
            warnings.append(
                f"the file's certificate ({subjects}) does not match this key: the key is "
                "imported without a certificate"
            )
        if hidden_keys > len(keys):
            warnings.append(
                f"the file holds {hidden_keys} private keys; only {len(keys)} can be read "
                "(export each key to a file of its own)"
            )
        entry.warning = "; ".join(warnings) or None
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
