"""The group file of a key-domain group (XKEK), the XKEK workflows' errors and card helpers.

A key-domain group is kept by its security officer in one JSON file (``GROUP.json``)::

    {"format": "keymanager-xkek-group", "version": 1, "uid": "<128 hex>", "created": "<iso>",
     "signer": {"serial": "...", "key_ref": 3, "request": "<hex 67>",
                "device_chain": "<hex EF 2F02>"},
     "members": [{"serial": "...", "device_chr": "...", "domain": 1,
                  "membership": "<hex KDM>", "exchange_key_ref": 4,
                  "exchange_key": "<hex 67>", "device_chain": "<hex>",
                  "admitted": "<iso>"}]}

Everything in it is public: the group signer's authenticated public-key request (its
point is the group UID), each member's membership (KDM: certificates and a signature),
exchange-key request and device certificate chain.  No KEK, PIN or private key is ever
written there; the KEKs exist only inside the cards.  The file is still written
atomically (a temporary file renamed over it), so a crash leaves the old or the new
file, never a torn one.

:meth:`GroupFile.load` checks the whole file before anything uses it: a file of another
program (or a newer format) raises :class:`GroupFileForeign`, a file that is ours but
cannot be read (bad JSON, a missing or malformed field, a membership or request that
does not belong to the group's UID) raises :class:`GroupFileDamaged`; both messages end
with "nothing was changed" (``reason`` holds the words before it).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keymanager.card.cvc import CvcError
from keymanager.card.errors import CardError, NoKeyDomainSupport
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import KeyDomainStatus
from keymanager.card.keystore import EE_CERTIFICATE_PREFIX, KEY_PREFIX, CardFiles, fid
from keymanager.card.xkek import (
    ExchangeKey,
    Membership,
    derive_xkek,
    find_exchange_key,
    group_uid_of_request,
    xkek_domains,
)
from keymanager.dkek.fileio import write_private_file
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.key_support import first_tlv

__all__ = [
    "GROUP_FORMAT",
    "GROUP_VERSION",
    "AlreadyMember",
    "GroupFile",
    "GroupFileDamaged",
    "GroupFileForeign",
    "GroupFileUnusable",
    "GroupMember",
    "GroupSigner",
    "KcvMismatch",
    "KeyNotInXkekDomain",
    "KeyNotProven",
    "KeySealed",
    "NotAMember",
    "NotTheGroupSigner",
    "TargetNotInGroup",
    "XkekDomainMissing",
    "XkekWorkflowError",
    "default_peer",
    "derive_with_peer",
    "exchange_key_of",
    "group_domain",
    "short_uid",
]

GROUP_FORMAT = "keymanager-xkek-group"
GROUP_VERSION = 1
UID_LENGTH = 64


# --- errors ------------------------------------------------------------------------------


class XkekWorkflowError(WorkflowError):
    """A key-domain group step failed; ``nothing_changed`` says whether every card and
    the group file are as before (``True`` unless the message says otherwise)."""

    nothing_changed: bool = True


class GroupFileUnusable(XkekWorkflowError):
    """The group file cannot be used: the message is the reason and "; nothing was
    changed" (nothing is done with a file before it was read whole); ``reason`` is the
    reason alone, for a summary that is not a refusal."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; nothing was changed")
        self.reason = reason


class GroupFileDamaged(GroupFileUnusable):
    """The group file is keymanager's but cannot be read (torn, edited, truncated)."""


class GroupFileForeign(GroupFileUnusable):
    """The file is not a keymanager key-domain group file (or a newer format of one)."""


class NotTheGroupSigner(XkekWorkflowError):
    """The card given as the group signer does not hold the group's signer key."""


class AlreadyMember(XkekWorkflowError):
    """The device is a member of the group already."""


class NotAMember(XkekWorkflowError):
    """The device (or the peer asked for) is not a member recorded in the group file."""


class XkekDomainMissing(XkekWorkflowError):
    """The card has no XKEK domain of the group (deleted, or another card)."""


class KeyNotInXkekDomain(XkekWorkflowError):
    """The key to migrate is in no XKEK domain (or its domain is not known)."""


class TargetNotInGroup(XkekWorkflowError):
    """The target device is not a member of the key's group."""


class KeySealed(XkekWorkflowError):
    """The key to migrate is sealed: the card refuses to export it."""


class KcvMismatch(XkekWorkflowError):
    """The two devices derived different KEKs (their KCVs differ): no key was copied."""


class KeyNotProven(XkekWorkflowError):
    """The copied key's test signature did not verify on the host (the copy was removed)."""

    nothing_changed = False


# --- the file ----------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class GroupSigner:
    """The card holding the group-signer key (GSK) and its public request."""

    serial: str
    key_ref: int
    request: bytes
    device_chain: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "key_ref": self.key_ref,
            "request": self.request.hex().upper(),
            "device_chain": self.device_chain.hex().upper(),
        }


@dataclass(frozen=True)
class GroupMember:
    """A device admitted to the group: its XKEK domain, membership and exchange key."""

    serial: str
    device_chr: str
    domain: int
    membership: bytes
    exchange_key_ref: int
    exchange_key: bytes
    device_chain: bytes
    admitted: str

    def exchange(self) -> ExchangeKey:
        """The member's exchange key as the card layer checks and sends it."""
        return ExchangeKey.parse(self.exchange_key, self.device_chain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "device_chr": self.device_chr,
            "domain": self.domain,
            "membership": self.membership.hex().upper(),
            "exchange_key_ref": self.exchange_key_ref,
            "exchange_key": self.exchange_key.hex().upper(),
            "device_chain": self.device_chain.hex().upper(),
            "admitted": self.admitted,
        }


@dataclass
class GroupFile:
    """A key-domain group: its UID (the GSK's point X‖Y), signer and members."""

    uid: bytes
    signer: GroupSigner
    created: str = field(default_factory=_now)
    members: list[GroupMember] = field(default_factory=list)

    @property
    def uid_hex(self) -> str:
        """The UID in upper-case hex (128 digits)."""
        return self.uid.hex().upper()

    @property
    def short_uid(self) -> str:
        """The first 16 hex digits of the UID, as the outline and audit show it."""
        return short_uid(self.uid)

    def member(self, serial: str) -> GroupMember | None:
        """The member with this serial, if admitted."""
        return next((m for m in self.members if m.serial == serial), None)

    def add(self, member: GroupMember) -> None:
        """Add (or replace, by serial) a member."""
        self.members = [m for m in self.members if m.serial != member.serial] + [member]

    def remove(self, serial: str) -> None:
        """Drop a member (its XKEK domain was deleted)."""
        self.members = [m for m in self.members if m.serial != serial]

    def with_member(self, member: GroupMember) -> GroupFile:
        """A copy with ``member`` added (or replaced)."""
        copy = replace(self, members=list(self.members))
        copy.add(member)
        return copy

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": GROUP_FORMAT,
            "version": GROUP_VERSION,
            "uid": self.uid_hex,
            "created": self.created,
            "signer": self.signer.to_dict(),
            "members": [member.to_dict() for member in self.members],
        }

    def encode(self) -> bytes:
        """The file's content (JSON, UTF-8, one trailing newline)."""
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode()

    def save(self, path: Path, *, overwrite: bool = True) -> None:
        """Write the file atomically (temporary file, fsync, rename).

        :raises XkekWorkflowError: the file exists and ``overwrite`` is false, or it
            cannot be written (the old file, if any, is unchanged).
        """
        try:
            write_private_file(path, self.encode(), overwrite=overwrite)
        except FileExistsError:
            raise XkekWorkflowError(f"{path} exists already; nothing was written") from None
        except OSError as error:
            raise XkekWorkflowError(
                f"cannot write the group file {path}: {error.strerror or error}"
            ) from None

    @classmethod
    def load(cls, path: Path) -> GroupFile:
        """Read and check a group file.

        :raises GroupFileForeign: not a keymanager group file, or a newer format.
        :raises GroupFileDamaged: ours, but unreadable or inconsistent.
        :raises XkekWorkflowError: the file cannot be read at all (missing, no access).
        """
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise XkekWorkflowError(
                f"cannot read the group file {path}: {error.strerror or error}; nothing was changed"
            ) from None
        return cls.decode(raw, str(path))

    @classmethod
    def decode(cls, raw: bytes, name: str = "the group file") -> GroupFile:
        """:meth:`load` on bytes (``name`` says which file in the messages)."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if raw.lstrip()[:1] in (b"{", b"["):
                raise GroupFileDamaged(
                    f"{name} is damaged: it is not valid JSON ({error})"
                ) from None
            raise GroupFileForeign(
                f"{name} is not a keymanager key-domain group file (it is not JSON)"
            ) from None
        if not isinstance(data, dict) or data.get("format") != GROUP_FORMAT:
            raise GroupFileForeign(
                f"{name} is not a keymanager key-domain group file (format "
                f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}, "
                f"not {GROUP_FORMAT!r})"
            )
        version = data.get("version")
        if version != GROUP_VERSION:
            raise GroupFileForeign(
                f"{name} is a key-domain group file of format version {version!r}; this "
                f"keymanager reads version {GROUP_VERSION}"
            )
        try:
            return _decode(data, name)
        except (KeyError, TypeError, ValueError, CardError) as error:
            if isinstance(error, GroupFileDamaged):
                raise
            what = f"field {error}" if isinstance(error, KeyError) else str(error)
            raise GroupFileDamaged(f"{name} is damaged: {what} is missing or malformed") from None


def default_peer(group: GroupFile, serial: str) -> GroupMember | None:
    """The peer ``group derive`` takes without ``--peer``: the first member, in the
    file's order, other than ``serial`` that has an exchange key (``None``: no other)."""
    return next((m for m in group.members if m.serial != serial and m.exchange_key), None)


def short_uid(uid: bytes) -> str:
    """``0123456789ABCDEF…``: the first 16 hex digits of a group UID."""
    return uid.hex().upper()[:16] + "…"


def _hex(value: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} (not a hex string)")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} (not hex)") from None
    if length is not None and len(data) != length:
        raise ValueError(f"{what} ({len(data)} bytes, not {length})")
    if not data:
        raise ValueError(f"{what} (empty)")
    return data


def _int(value: object, what: str, maximum: int = 255) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ValueError(f"{what} (not a number from 0 to {maximum})")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} (not text)")
    return value


def _decode(data: dict[str, Any], name: str) -> GroupFile:
    uid = _hex(data["uid"], "uid", UID_LENGTH)
    signer_data = data["signer"]
    if not isinstance(signer_data, dict):
        raise ValueError("signer (not an object)")
    signer = GroupSigner(
        serial=_text(signer_data["serial"], "signer serial"),
        key_ref=_int(signer_data["key_ref"], "signer key_ref"),
        request=_hex(signer_data["request"], "signer request"),
        device_chain=_hex(signer_data["device_chain"], "signer device_chain"),
    )
    try:
        signer_uid = group_uid_of_request(signer.request)
    except (CardError, ValueError):
        raise ValueError("signer request (not a public-key request)") from None
    if signer_uid != uid:
        raise GroupFileDamaged(
            f"{name} is damaged: its uid is not the point of its signer's key request"
        )
    members_data = data.get("members", [])
    if not isinstance(members_data, list):
        raise ValueError("members (not a list)")
    group = GroupFile(uid=uid, signer=signer, created=_text(data["created"], "created"))
    for number, entry in enumerate(members_data, 1):
        if not isinstance(entry, dict):
            raise ValueError(f"member {number} (not an object)")
        member = GroupMember(
            serial=_text(entry["serial"], f"member {number} serial"),
            device_chr=_text(entry["device_chr"], f"member {number} device_chr"),
            domain=_int(entry["domain"], f"member {number} domain"),
            membership=_hex(entry["membership"], f"member {number} membership"),
            exchange_key_ref=_int(entry["exchange_key_ref"], f"member {number} exchange_key_ref"),
            exchange_key=_hex(entry["exchange_key"], f"member {number} exchange_key"),
            device_chain=_hex(entry["device_chain"], f"member {number} device_chain"),
            admitted=_text(entry["admitted"], f"member {number} admitted"),
        )
        _check_member(member, uid, number, name)
        if group.member(member.serial) is not None:
            raise GroupFileDamaged(f"{name} is damaged: member {member.serial} is listed twice")
        group.members.append(member)
    return group


def _check_member(member: GroupMember, uid: bytes, number: int, name: str) -> None:
    try:
        membership = Membership.parse(member.membership)
    except (CvcError, CardError, ValueError):
        raise ValueError(f"member {number} membership (not a key-domain membership)") from None
    if membership.group_uid != uid:
        raise GroupFileDamaged(
            f"{name} is damaged: the membership of {member.serial} was issued for another group"
        )
    try:
        verifies = membership.signature_verifies_for(membership.device_certificate.public_key.point)
    except (CvcError, CardError, ValueError):
        verifies = False
    if not verifies:
        raise GroupFileDamaged(
            f"{name} is damaged: the membership of {member.serial} does not verify under the "
            "group's signer key"
        )
    if membership.device_chr != member.device_chr:
        raise GroupFileDamaged(
            f"{name} is damaged: the membership of {member.serial} names device "
            f"{membership.device_chr}, not {member.device_chr}"
        )
    try:
        exchange = member.exchange()
    except (CvcError, CardError, ValueError):
        raise ValueError(f"member {number} exchange_key (not an exchange-key request)") from None
    if exchange.uid != uid:
        raise GroupFileDamaged(
            f"{name} is damaged: the exchange key of {member.serial} is for another group"
        )


# --- the cards: a group's domain and exchange key, the derive -------------------------


def group_domain(hsm: SmartCardHsm, uid: bytes) -> tuple[int, KeyDomainStatus] | None:
    """The card's XKEK domain of the group ``uid`` (slot and status), if it has one."""
    try:
        domains = xkek_domains(hsm)
    except NoKeyDomainSupport:
        return None
    return next(((slot, status) for slot, status in domains if status.uid == uid), None)


def exchange_key_of(hsm: SmartCardHsm, domain: int) -> tuple[int, ExchangeKey] | None:
    """The exchange key in ``domain`` (its reference, request and the card's chain).

    The card layer's :func:`find_exchange_key` looks at the ``CExx`` files ENUMERATE
    lists; a card that lists none (Pico HSM) is asked by reading each key's ``CExx``.
    """
    status = hsm.key_domain_status(domain)
    if status is None or not status.uid:
        return None
    files = CardFiles.enumerate(hsm)
    found = find_exchange_key(hsm, domain)
    candidates = [found] if found is not None else sorted(files.numbers(KEY_PREFIX))
    for reference in candidates:
        raw = files.read(fid(EE_CERTIFICATE_PREFIX, reference))
        if not raw or not raw.startswith(b"\x67"):
            continue
        try:
            exchange = ExchangeKey.parse(first_tlv(raw), hsm.device_certificates())
        except CardError:
            continue
        if exchange.uid == status.uid:
            return reference, exchange
    return None


def derive_with_peer(
    hsm: SmartCardHsm, domain: int, exchange_key_ref: int, peer: ExchangeKey, uid: bytes
) -> bytes:
    """Derive ``domain``'s KEK with ``peer``'s exchange key (PIN verified by the caller).

    :returns: the domain's KCV afterwards.
    :raises XkekWorkflowError: the card shows no KCV after the derive.
    """
    status = derive_xkek(hsm, exchange_key_ref, peer, uid)
    if status.kcv is None:
        status = hsm.key_domain_status(domain) or status
    if status.kcv is None:
        raise XkekWorkflowError(
            f"the card derived the KEK of key domain {domain} but shows no KCV for it"
        )
    return status.kcv
