"""keymanager's key-domain registry: which key belongs to which key domain, kept on the card.

A SmartCard-HSM does not tell which key domain a key belongs to, nor why a domain
exists.  keymanager records both in one small public data object it owns, so every
session and every workstation sees the same outline:

* the data lives in EF ``CFFE`` (a public data object: readable without the PIN, written
  with it, as every PKCS#15 file of the card), described by the DCOD entry ``C9FE``
  with label and application ``keymanager key domains``, so OpenSC's
  ``pkcs15-tool --list-data-objects`` shows it and ``--read-data-object`` reads it;
* reading costs one READ BINARY of a file whose name is known (never trusted to
  ENUMERATE, which some devices answer without data files); ``6A82`` means "nothing
  recorded yet".

The content is one BER-TLV (all lengths definite, unknown tags skipped)::

    30 L                         keymanager key-domain registry
       80 01 01                  format version 1
       A1 L                      key domains, one 30 per domain:
          30 L  80 01 domain  81 01 purpose  82 04 created (UNIX seconds, big-endian)
                83 n workflow (UTF-8)  84 n label (UTF-8, optional)
       A2 L                      keys, one 30 per key:
          30 L  80 01 key reference  81 n the first bytes of the key's PKCS#15 ID (<= 8)
                82 01 domain (absent: no domain)  83 01 flags
       8F 08                     SHA-256 of every byte before this TLV in the value, first 8

Purpose ``01`` custodian DKEK (shares held by custodians), ``02`` transient import
(a one-off DKEK whose KEK is deleted after the import), ``03`` random DKEK (the card
made it, nobody holds it), ``04`` a domain the card made without a DKEK (Pico HSM's
answer to a 0-share domain), ``05`` an XKEK domain of a key-domain group (its KEK is
derived with a peer device's exchange key), ``00`` unknown.  Key flags: bit ``01`` sealed (the key's
allowed-algorithm list lacks WRAP, so the card refuses to export it), bit ``02`` the
exportability is known (else bit ``01`` means nothing), bit ``04`` the domain was
learnt by a WRAP probe rather than recorded when keymanager made the key.

Trust: the registry is a display aid.  Anyone with the user PIN can rewrite it, and
other tools never update it.  It never decides whether a key can leave the card: the
seal (:data:`WRAP_ALGORITHM` left out of the allowed-algorithm list, enforced by the
card) does.  Entries are checked against the card when read (:func:`annotate_keys`):
an entry for a key reference that holds no key, or whose ID differs, is ignored.

Consistency: a workflow updates the registry in the same card session as the change
it records, domains before they are created (an entry for a slot that turns out empty
is ignored) and keys after their files are complete but before the workflow's journal
entry is closed (an interrupted workflow is rolled back at the next connection, key and
all).  A torn write (card pulled in the middle of a multi-APDU write) fails the checksum:
the registry then reads as damaged, its keys show as "domain not recorded", and the next
write replaces it.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from keymanager.card.errors import CardError, FileNotFound
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import KeyDomainStatus
from keymanager.card.keystore import KeyInfo
from keymanager.card.pkcs15 import (
    DataObjectDescription,
    KeyKind,
    Pkcs15Error,
    decode_dcod,
    encode_dcod,
)
from keymanager.dkek.tlv import Tlv, TlvError, encode_tlv, iter_tlvs, read_tlv

__all__ = [
    "REGISTRY_DESCRIPTION_FID",
    "REGISTRY_FID",
    "REGISTRY_LABEL",
    "DomainPurpose",
    "DomainRecord",
    "KeyRecord",
    "Registry",
    "RegistryDamaged",
    "RegistryFileInUse",
    "annotate_keys",
    "read_registry",
    "recorded_domain",
    "write_registry",
]

REGISTRY_FID = 0xCFFE
"""The public data object holding the registry."""

REGISTRY_DESCRIPTION_FID = 0xC9FE
"""Its DCOD entry, so OpenSC lists it as a data object."""

REGISTRY_LABEL = "keymanager key domains"
"""Label and application name of the data object."""

FORMAT_VERSION = 1
ID_PREFIX_LENGTH = 8
MAX_LABEL_BYTES = 64
MAX_WORKFLOW_BYTES = 32

_FLAG_SEALED = 0x01
_FLAG_EXPORTABILITY_KNOWN = 0x02
_FLAG_PROBED = 0x04


class RegistryDamaged(CardError):
    """The registry file exists but cannot be read (torn write, another program's data)."""


class DomainPurpose(enum.IntEnum):
    """Why a key domain exists, as keymanager recorded it."""

    UNKNOWN = 0
    CUSTODIAN = 1
    TRANSIENT = 2
    RANDOM = 3
    NO_DKEK = 4
    XKEK = 5

    @property
    def text(self) -> str:
        """How the outline and the audit name it."""
        return {
            DomainPurpose.UNKNOWN: "purpose not recorded",
            DomainPurpose.CUSTODIAN: "custodian DKEK",
            DomainPurpose.TRANSIENT: "transient import",
            DomainPurpose.RANDOM: "random DKEK",
            DomainPurpose.NO_DKEK: "domain without DKEK",
            DomainPurpose.XKEK: "XKEK group domain",
        }[self]


@dataclass(frozen=True)
class DomainRecord:
    """What keymanager recorded about one key domain."""

    domain: int
    purpose: DomainPurpose
    created: datetime.datetime
    workflow: str
    label: str = ""
    shares: int | None = None
    """The shares the domain was created for (``None``: not recorded): an entry whose
    slot now holds a domain of another share count is about an earlier domain."""

    def about(self, shares_total: int) -> bool:
        """Whether this entry can be about a domain of ``shares_total`` shares."""
        return self.shares is None or self.shares == shares_total

    def describe(self) -> str:
        """``transient import of 2026-12-01`` (plus the label, when one was given)."""
        text = f"{self.purpose.text} of {self.created.date().isoformat()}"
        return f"{self.label} ({text})" if self.label else text


@dataclass(frozen=True)
class KeyRecord:
    """What keymanager recorded about one key: its domain and whether it is sealed."""

    reference: int
    id_prefix: bytes
    domain: int | None
    sealed: bool | None = None
    probed: bool = False
    kind_size: bytes = b""
    """Key type (1 RSA, 2 EC, 3 AES) and size in bits (2 bytes), when recorded: an AES
    key's ID is its reference, so the ID alone cannot tell two AES keys apart."""

    def matches(self, key_id: bytes | None, kind_size: bytes = b"") -> bool:
        """Whether a key with PKCS#15 ID ``key_id`` (and type and size) is the key this
        entry was made for."""
        if (key_id or b"")[:ID_PREFIX_LENGTH] != self.id_prefix:
            return False
        return not (self.kind_size and kind_size and self.kind_size != kind_size)


@dataclass
class Registry:
    """The registry's content: domain and key entries by number."""

    domains: dict[int, DomainRecord] = field(default_factory=dict)
    keys: dict[int, KeyRecord] = field(default_factory=dict)
    damaged: str | None = None
    """Why the file on the card could not be read (it then reads as empty)."""

    # -- editing ----------------------------------------------------------------------

    def record_domain(
        self,
        domain: int,
        purpose: DomainPurpose,
        workflow: str,
        *,
        label: str = "",
        created: datetime.datetime | None = None,
        shares: int | None = None,
    ) -> DomainRecord:
        """Record (or replace) a domain entry; the keys recorded in it stay."""
        when = created or datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        record = DomainRecord(
            domain, purpose, when, _bounded(workflow, MAX_WORKFLOW_BYTES), label, shares
        )
        _check_label(label)
        self.domains[domain] = record
        return record

    def rename_domain(self, domain: int, label: str) -> DomainRecord:
        """Give a domain a label (a domain without entry gets one, purpose unknown)."""
        _check_label(label)
        record = self.domains.get(domain)
        if record is None:
            return self.record_domain(domain, DomainPurpose.UNKNOWN, "rename", label=label)
        record = replace(record, label=label)
        self.domains[domain] = record
        return record

    def forget_domain(self, domain: int) -> None:
        """Drop a domain entry and the key entries that name it."""
        self.domains.pop(domain, None)
        for reference in [r for r, k in self.keys.items() if k.domain == domain]:
            del self.keys[reference]

    def record_key(
        self,
        reference: int,
        key_id: bytes | None,
        domain: int | None,
        *,
        sealed: bool | None = None,
        probed: bool = False,
        kind: KeyKind | None = None,
        size: int | None = None,
    ) -> KeyRecord:
        """Record (or replace) the entry of the key in ``reference``."""
        record = KeyRecord(
            reference,
            (key_id or b"")[:ID_PREFIX_LENGTH],
            domain,
            sealed=sealed,
            probed=probed,
            kind_size=kind_size_bytes(kind, size),
        )
        self.keys[reference] = record
        return record

    def forget_key(self, reference: int) -> None:
        """Drop the entry of a key that is gone."""
        self.keys.pop(reference, None)

    def domain(self, index: int, status: KeyDomainStatus | None) -> DomainRecord | None:
        """The entry of slot ``index`` if it can be about the domain the card has there."""
        record = self.domains.get(index)
        if record is None or status is None or not record.about(status.shares_total):
            return None
        return record

    def keys_in(self, domain: int) -> list[KeyRecord]:
        """The key entries that name ``domain``, by reference."""
        return [self.keys[r] for r in sorted(self.keys) if self.keys[r].domain == domain]

    # -- encoding ---------------------------------------------------------------------

    def encode(self) -> bytes:
        """The file content (see the module docstring)."""
        domains = b"".join(_encode_domain(self.domains[d]) for d in sorted(self.domains))
        keys = b"".join(_encode_key(self.keys[r]) for r in sorted(self.keys))
        value = (
            encode_tlv(0x80, bytes([FORMAT_VERSION]))
            + encode_tlv(0xA1, domains)
            + encode_tlv(0xA2, keys)
        )
        return encode_tlv(0x30, value + encode_tlv(0x8F, _checksum(value)))

    @classmethod
    def decode(cls, data: bytes) -> Registry:
        """Read the file content; bytes after the first TLV are ignored.

        :raises RegistryDamaged: not a registry, a checksum mismatch, a newer format.
        """
        try:
            outer = read_tlv(data)
            if outer.tag != b"\x30":
                raise RegistryDamaged("the registry does not start with a SEQUENCE")
            parts = list(iter_tlvs(outer.value))
            if not parts or parts[-1].tag != b"\x8f":
                raise RegistryDamaged("the registry has no checksum")
            body_length = len(outer.value) - _encoded_length(parts[-1])
            if parts[-1].value != _checksum(bytes(outer.value[:body_length])):
                raise RegistryDamaged("the registry's checksum does not match (a torn write?)")
            fields = {bytes(part.tag): part.value for part in parts[:-1]}
            version = fields.get(b"\x80", b"")
            if len(version) != 1 or version[0] != FORMAT_VERSION:
                raise RegistryDamaged(
                    f"the registry has format {version.hex() or 'none'}; this keymanager "
                    f"reads format {FORMAT_VERSION}"
                )
            registry = cls()
            for entry in iter_tlvs(fields.get(b"\xa1", b"")):
                record = _decode_domain(entry)
                registry.domains[record.domain] = record
            for entry in iter_tlvs(fields.get(b"\xa2", b"")):
                key = _decode_key(entry)
                registry.keys[key.reference] = key
            return registry
        except (TlvError, ValueError, KeyError, IndexError) as error:
            if isinstance(error, RegistryDamaged):
                raise
            raise RegistryDamaged(f"the registry cannot be read: {error}") from None


# --- the card ------------------------------------------------------------------------


def read_registry(hsm: SmartCardHsm) -> Registry:
    """The registry on the card (one READ BINARY); an empty one if none was written.

    A damaged file reads as an empty registry with :attr:`Registry.damaged` set.
    Transport errors (card removed, reset) are raised.
    """
    try:
        data = hsm.read_file(REGISTRY_FID)
    except FileNotFound:
        return Registry()
    try:
        return Registry.decode(data)
    except RegistryDamaged as error:
        return Registry(damaged=str(error))


class RegistryFileInUse(CardError):
    """``CFFE`` or ``C9FE`` holds another program's data: keymanager does not write there."""


def write_registry(hsm: SmartCardHsm, registry: Registry) -> None:
    """Write the registry (and its DCOD entry the first time); needs the user PIN.

    The content is written from offset 0; a longer old content's tail stays behind the
    TLV and is ignored.  Files another program holds are never overwritten: a ``C9FE``
    with another label, or a ``CFFE`` without keymanager's description, raises
    :class:`RegistryFileInUse`.

    :raises RegistryFileInUse: see above (nothing is written).
    """
    _ensure_description(hsm)
    hsm.write_file(REGISTRY_FID, registry.encode())
    registry.damaged = None


@contextlib.contextmanager
def editing(hsm: SmartCardHsm) -> Iterator[Registry]:
    """Read the registry, let the caller change it, write it back (unless an error)."""
    registry = read_registry(hsm)
    yield registry
    write_registry(hsm, registry)


def _ensure_description(hsm: SmartCardHsm) -> None:
    try:
        raw: bytes | None = hsm.read_file(REGISTRY_DESCRIPTION_FID)
    except FileNotFound:
        raw = None
    if raw is not None:
        try:
            existing = decode_dcod(raw)
        except Pkcs15Error:
            raise RegistryFileInUse(
                "C9FE holds data keymanager cannot read; the key-domain registry is not "
                "written there"
            ) from None
        if existing.label != REGISTRY_LABEL:
            raise RegistryFileInUse(
                f"C9FE describes another program's data object ({existing.label!r}); the "
                "key-domain registry is not written there"
            )
        return
    try:
        hsm.read_file(REGISTRY_FID)
    except FileNotFound:
        pass
    else:
        raise RegistryFileInUse(
            "CFFE exists without keymanager's description; the key-domain registry is not "
            "written over it"
        )
    wanted = DataObjectDescription(
        label=REGISTRY_LABEL,
        path=REGISTRY_FID.to_bytes(2, "big"),
        application=REGISTRY_LABEL,
    )
    hsm.write_file(REGISTRY_DESCRIPTION_FID, encode_dcod(wanted))


# --- using it ------------------------------------------------------------------------


def recorded_domain(registry: Registry, key: KeyInfo) -> KeyRecord | None:
    """The registry entry of ``key`` if it is about this very key (reference and ID)."""
    record = registry.keys.get(key.key_reference)
    if record is None or not record.matches(key.id, kind_size_bytes(key.kind, key.size)):
        return None
    return record


def annotate_keys(keys: Iterable[KeyInfo], registry: Registry) -> list[KeyInfo]:
    """The keys with :attr:`KeyInfo.key_domain`, ``domain_source`` and ``exportable`` set
    from the registry, where it has an entry for that very key."""
    annotated: list[KeyInfo] = []
    for key in keys:
        record = recorded_domain(registry, key)
        if record is None:
            annotated.append(key)
            continue
        annotated.append(
            replace(
                key,
                key_domain=record.domain if record.domain is not None else key.key_domain,
                domain_source="probed" if record.probed else "recorded",
                exportable=None if record.sealed is None else not record.sealed,
            )
        )
    return annotated


# --- encoding helpers ----------------------------------------------------------------


_KIND_CODES = {KeyKind.RSA: 1, KeyKind.EC: 2, KeyKind.AES: 3}


def kind_size_bytes(kind: KeyKind | None, size: int | None) -> bytes:
    """Tag ``84`` of a key entry: type code and size in bits (empty when not known)."""
    if kind is None or size is None or not 0 < size <= 0xFFFF:
        return b""
    return bytes([_KIND_CODES[kind]]) + size.to_bytes(2, "big")


def _checksum(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()[:8]


def _encoded_length(element: Tlv) -> int:
    return len(encode_tlv(element.tag, element.value))


def _bounded(text: str, limit: int) -> str:
    encoded = text.encode()[:limit]
    return encoded.decode(errors="ignore")


def _check_label(label: str) -> None:
    if len(label.encode()) > MAX_LABEL_BYTES:
        raise ValueError(f"a key-domain label has at most {MAX_LABEL_BYTES} bytes")
    if any(ord(c) < 0x20 for c in label):
        raise ValueError("a key-domain label cannot hold control characters")


def _byte(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} {value} is out of range")
    return bytes([value])


def _encode_domain(record: DomainRecord) -> bytes:
    value = (
        encode_tlv(0x80, _byte(record.domain, "key domain"))
        + encode_tlv(0x81, _byte(int(record.purpose), "purpose"))
        + encode_tlv(0x82, int(record.created.timestamp()).to_bytes(4, "big"))
        + encode_tlv(0x83, record.workflow.encode())
    )
    if record.label:
        value += encode_tlv(0x84, record.label.encode())
    if record.shares is not None:
        value += encode_tlv(0x85, _byte(record.shares, "share count"))
    return encode_tlv(0x30, value)


def _encode_key(record: KeyRecord) -> bytes:
    flags = 0
    if record.sealed is not None:
        flags |= _FLAG_EXPORTABILITY_KNOWN | (_FLAG_SEALED if record.sealed else 0)
    if record.probed:
        flags |= _FLAG_PROBED
    value = encode_tlv(0x80, _byte(record.reference, "key reference")) + encode_tlv(
        0x81, record.id_prefix
    )
    if record.domain is not None:
        value += encode_tlv(0x82, _byte(record.domain, "key domain"))
    value += encode_tlv(0x83, bytes([flags]))
    if record.kind_size:
        value += encode_tlv(0x84, record.kind_size)
    return encode_tlv(0x30, value)


def _entry_fields(entry: Tlv, what: str) -> dict[bytes, bytes]:
    if entry.tag != b"\x30":
        raise RegistryDamaged(f"a {what} entry is not a SEQUENCE")
    return {bytes(part.tag): bytes(part.value) for part in iter_tlvs(entry.value)}


def _one_byte(fields: dict[bytes, bytes], tag: bytes, what: str) -> int:
    value = fields.get(tag)
    if value is None or len(value) != 1:
        raise RegistryDamaged(f"a registry entry lacks its {what}")
    return value[0]


def _decode_domain(entry: Tlv) -> DomainRecord:
    fields = _entry_fields(entry, "key-domain")
    purpose_value = _one_byte(fields, b"\x81", "purpose")
    try:
        purpose = DomainPurpose(purpose_value)
    except ValueError:
        purpose = DomainPurpose.UNKNOWN
    created = fields.get(b"\x82", b"")
    if len(created) != 4:
        raise RegistryDamaged("a key-domain entry lacks its creation time")
    return DomainRecord(
        domain=_one_byte(fields, b"\x80", "key domain"),
        purpose=purpose,
        created=datetime.datetime.fromtimestamp(int.from_bytes(created, "big"), datetime.UTC),
        workflow=fields.get(b"\x83", b"").decode(errors="replace"),
        label=fields.get(b"\x84", b"").decode(errors="replace"),
        shares=fields[b"\x85"][0] if len(fields.get(b"\x85", b"")) == 1 else None,
    )


def _decode_key(entry: Tlv) -> KeyRecord:
    fields = _entry_fields(entry, "key")
    flags = _one_byte(fields, b"\x83", "flags")
    domain = fields.get(b"\x82")
    if domain is not None and len(domain) != 1:
        raise RegistryDamaged("a key entry has a malformed key domain")
    return KeyRecord(
        reference=_one_byte(fields, b"\x80", "key reference"),
        id_prefix=fields.get(b"\x81", b"")[:ID_PREFIX_LENGTH],
        domain=None if domain is None else domain[0],
        sealed=bool(flags & _FLAG_SEALED) if flags & _FLAG_EXPORTABILITY_KNOWN else None,
        probed=bool(flags & _FLAG_PROBED),
        kind_size=fields.get(b"\x84", b"") if len(fields.get(b"\x84", b"")) == 3 else b"",
    )
