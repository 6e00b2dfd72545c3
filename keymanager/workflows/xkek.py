"""Key-domain groups (XKEK): form a group, admit devices, derive the group KEK, leave.

A key-domain group lets keys move between SmartCard-HSMs without any DKEK share: each
member holds an XKEK domain whose KEK is derived on the card by ECDH with a peer
member's exchange key.  The security officer's steps (the card layer is
:mod:`keymanager.card.xkek`, the group file :mod:`keymanager.workflows.xkek_group`):

* :func:`create_group` — on the signer's card: a group-signer key (GSK, EC
  brainpoolP256r1, in no key domain and with an algorithm list of ECDSA only, so the
  card never exports it); its public point is the group UID.  The group file is written
  atomically (it refuses to overwrite one); a failure to write it deletes the GSK again.
* :func:`admit_member` — the signer's card signs a membership (KDM) for the member
  device (whose certificate chain is verified first); the member creates its XKEK
  domain from it (in the first free slot, or the one asked for), generates its exchange
  key in that domain, and the member is recorded in the group file and in the card's
  key-domain registry (:attr:`DomainPurpose.XKEK`).  A failure after the domain was made
  deletes the exchange key and the domain again.
* :func:`derive_kek` — the member derives its domain's KEK with a peer member's
  exchange key (the only other member, or the one named).  The KEK is **pairwise**:
  A with B's exchange key and B with A's give the same KCV; C with A another one.
* :func:`delete_xkek_domain` — the device leaves the group: its exchange key is deleted,
  then the domain (the card refuses while other keys are in it; they are named first and
  nothing is changed).  :func:`keymanager.workflows.device.delete_key_domain` comes here
  for an XKEK domain.

Copying a key to another member is :func:`keymanager.workflows.xkek_migrate.migrate_key`.
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.card.cvc import CvcError, DeviceCertificate
from keymanager.card.domain_registry import DomainPurpose, Registry
from keymanager.card.errors import (
    CardError,
    NoKeyDomainSupport,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    KeyStore,
    fid,
    parse_cv_request_public_key,
)
from keymanager.card.pkcs15 import (
    GENERATED_KEY_ACCESS,
    PrivateKeyDescription,
    default_usage,
    encode_prkd,
)
from keymanager.card.xkek import (
    ExchangeKey,
    create_xkek_domain,
    generate_exchange_key,
    generate_group_signer_key,
    group_uid_of_request,
    issue_membership,
)
from keymanager.dkek.dkek import format_kcv
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.interaction import Choice, Interaction
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.key_support import choose_reference, first_tlv
from keymanager.workflows.xkek_group import (
    AlreadyMember,
    GroupFile,
    GroupFileDamaged,
    GroupFileForeign,
    GroupMember,
    GroupSigner,
    KcvMismatch,
    KeyNotInXkekDomain,
    KeyNotProven,
    KeySealed,
    NotAMember,
    NotTheGroupSigner,
    TargetNotInGroup,
    XkekDomainMissing,
    XkekWorkflowError,
    derive_with_peer,
    exchange_key_of,
    group_domain,
)
from keymanager.workflows.xkek_leave import delete_xkek_domain
from keymanager.workflows.xkek_members import KnownMember, group_members_for
from keymanager.workflows.xkek_migrate import MigrationResult, migrate_key

if TYPE_CHECKING:
    pass

__all__ = [
    "EXCHANGE_KEY_LABEL",
    "GROUP_SIGNER_LABEL",
    "AlreadyMember",
    "DerivedKek",
    "GroupFile",
    "GroupFileDamaged",
    "GroupFileForeign",
    "GroupMember",
    "GroupSigner",
    "KcvMismatch",
    "KeyNotInXkekDomain",
    "KeyNotProven",
    "KeySealed",
    "KnownMember",
    "MigrationResult",
    "NotAMember",
    "NotTheGroupSigner",
    "TargetNotInGroup",
    "XkekDomainMissing",
    "XkekWorkflowError",
    "admit_member",
    "create_group",
    "delete_xkek_domain",
    "derive_kek",
    "derive_with_peer",
    "exchange_key_of",
    "group_domain",
    "group_members_for",
    "migrate_key",
]

GROUP_SIGNER_LABEL = "key-domain group signer"
"""The PKCS#15 label of the group-signer key."""
EXCHANGE_KEY_LABEL = "XKEK exchange key"
"""The PKCS#15 label of a member's exchange key (the domain number follows)."""


@dataclass(frozen=True)
class DerivedKek:
    """What :func:`derive_kek` did: the member's domain and its KCV after the derive."""

    serial: str
    domain: int
    peer_serial: str
    kcv: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "domain": self.domain,
            "peer": self.peer_serial,
            "kcv": self.kcv,
        }


# --- helpers -----------------------------------------------------------------------------


def _describe_generated(hsm: SmartCardHsm, reference: int, request: bytes, label: str) -> bytes:
    """Write ``CExx`` (the request) and a PRKD for a key the card layer generated; its ID."""
    facts = parse_cv_request_public_key(request)
    files = CardFiles.enumerate(hsm)
    files.forget(fid(EE_CERTIFICATE_PREFIX, reference))
    files.replace(fid(EE_CERTIFICATE_PREFIX, reference), request)
    description = PrivateKeyDescription(
        kind=facts.kind,
        label=label,
        id=facts.key_id,
        usage=default_usage(facts.kind),
        size=facts.size,
        key_reference=reference,
        access_flags=GENERATED_KEY_ACCESS,
    )
    files.replace(fid(PRKD_PREFIX, reference), encode_prkd(description))
    return facts.key_id


def _discard_key(hsm: SmartCardHsm, reference: int) -> None:
    with contextlib.suppress(CardError):
        KeyStore(hsm).delete_key(reference)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


# --- create -----------------------------------------------------------------------------


@ceremony_step("create key-domain group", witness=True)
def create_group(
    signer: SmartCardHsm,
    interaction: Interaction,
    path: Path,
    *,
    key_reference: int | None = None,
) -> GroupFile:
    """Make a group-signer key on ``signer`` and write the group file ``path``.

    :raises XkekWorkflowError: ``path`` exists (nothing changed), or it could not be
        written (the key made for it is deleted again).
    """
    if path.exists():
        raise XkekWorkflowError(f"{path} exists already; nothing was changed")
    serial = signer.serial()
    chain = signer.device_certificates()
    verify_user_pin(signer, interaction, "creating a key-domain group (its signer key)")
    reference = choose_reference(CardFiles.enumerate(signer), key_reference)
    request = generate_group_signer_key(signer, reference)
    try:
        key_id = _describe_generated(signer, reference, request, GROUP_SIGNER_LABEL)
        group = GroupFile(
            uid=group_uid_of_request(request),
            signer=GroupSigner(serial, reference, request, chain),
        )
        group.save(path, overwrite=False)
    except BaseException:
        _discard_key(signer, reference)
        raise
    record_quietly(
        signer,
        interaction,
        lambda registry: registry.record_key(reference, key_id, None, sealed=None),
    )
    interaction.inform(
        f"Key-domain group {group.short_uid} created: its signer key is key {reference} on "
        f"device {serial} (it never leaves the card); group file {path}."
    )
    return group


# --- admit ------------------------------------------------------------------------------


def _check_signer(signer: SmartCardHsm, group: GroupFile) -> None:
    serial = signer.serial()
    if serial != group.signer.serial:
        raise NotTheGroupSigner(
            f"device {serial} is not the signer of group {group.short_uid} (its signer is "
            f"device {group.signer.serial}); nothing was changed"
        )
    raw = CardFiles.enumerate(signer).read(fid(EE_CERTIFICATE_PREFIX, group.signer.key_ref))
    try:
        uid = group_uid_of_request(first_tlv(raw)) if raw else b""
    except (CardError, ValueError):
        uid = b""
    if uid != group.uid:
        raise NotTheGroupSigner(
            f"device {serial} no longer holds the signer key of group {group.short_uid} "
            f"(key {group.signer.key_ref} is another key or gone); nothing was changed"
        )


def _free_slot(hsm: SmartCardHsm, wanted: int | None) -> int:
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        raise XkekWorkflowError(
            "the device has no key domains (initialise it with key-domain slots); nothing "
            "was changed"
        ) from None
    if wanted is not None:
        slot = next((s for s in slots if s.index == wanted), None)
        if slot is None:
            raise XkekWorkflowError(
                f"the device has no key domain {wanted} (it has {len(slots)} slot(s)); "
                "nothing was changed"
            )
        if slot.status is not None:
            raise XkekWorkflowError(
                f"key domain {wanted} is in use on this device; choose a free slot; nothing "
                "was changed"
            )
        return wanted
    free = next((s.index for s in slots if s.status is None), None)
    if free is None:
        raise XkekWorkflowError(
            "every key-domain slot of the device is in use (delete one first); nothing was changed"
        )
    return free


@ceremony_step("admit device to group", witness=True)
def admit_member(
    signer: SmartCardHsm,
    member: SmartCardHsm,
    interaction: Interaction,
    path: Path,
    *,
    domain: int | None = None,
    signer_interaction: Interaction | None = None,
) -> GroupMember:
    """Admit ``member`` to the group of ``path``: membership, XKEK domain, exchange key.

    :param signer_interaction: asks for the signer card's PIN (default ``interaction``,
        which asks for the member's).
    :raises NotTheGroupSigner: ``signer`` does not hold the group's signer key.
    :raises AlreadyMember: the device holds a key domain of the group already (an entry in
        the group file whose domain is gone from the card is replaced).
    :raises XkekWorkflowError: no free slot, or the group file cannot be written (the
        message says what was made on the card then).
    """
    group = GroupFile.load(path)
    asked = signer_interaction or interaction
    _check_signer(signer, group)
    serial = member.serial()
    recorded = group.member(serial)
    on_card = group_domain(member, group.uid)
    if on_card is not None:
        raise AlreadyMember(
            f"device {serial} is a member of group {group.short_uid} already (key domain "
            f"{on_card[0]} on the card); nothing was changed"
        )
    if recorded is not None:
        # the group file still lists the device, but its domain of this group is gone
        # (deleted without the group file): admitting it again replaces the stale entry
        interaction.inform(
            f"The group file lists device {serial} (key domain {recorded.domain}), but the "
            "card holds no key domain of this group any more: admitting it again replaces "
            "that entry."
        )
    slot = _free_slot(member, domain)
    chain_raw = member.device_certificates()
    try:
        chain = DeviceCertificate.parse(chain_raw)
    except CvcError as error:
        raise XkekWorkflowError(
            f"the certificate chain of device {serial} cannot be read ({error}); nothing "
            "was changed"
        ) from None
    verify_user_pin(signer, asked, f"signing the group membership of device {serial}")
    membership = issue_membership(signer, group.signer.key_ref, group.signer.request, chain)
    verify_user_pin(member, interaction, f"joining key-domain group {group.short_uid}")

    def note_domain(registry: Registry) -> None:
        registry.forget_domain(slot)  # entries of an earlier domain in this slot
        registry.record_domain(slot, DomainPurpose.XKEK, "group admit")

    record_quietly(member, interaction, note_domain)
    create_xkek_domain(member, slot, membership)
    reference: int | None = None
    try:
        reference = choose_reference(CardFiles.enumerate(member), None)
        request = generate_exchange_key(member, reference, slot)
        key_id = _describe_generated(member, reference, request, f"{EXCHANGE_KEY_LABEL} {slot}")
        exchange = ExchangeKey.parse(request, chain_raw)
        if exchange.uid != group.uid:
            raise XkekWorkflowError("the card's exchange key names another group")
    except BaseException:
        if reference is not None:
            _discard_key(member, reference)
        with contextlib.suppress(CardError):
            member.delete_key_domain(slot)
        with contextlib.suppress(CardError):
            record_quietly(member, interaction, lambda registry: registry.forget_domain(slot))
        raise
    exchange_ref = reference
    record_quietly(
        member,
        interaction,
        lambda registry: registry.record_key(exchange_ref, key_id, slot, sealed=None),
    )
    admitted = GroupMember(
        serial=serial,
        device_chr=chain.chr,
        domain=slot,
        membership=membership.encode(),
        exchange_key_ref=exchange_ref,
        exchange_key=request,
        device_chain=chain_raw,
        admitted=_now(),
    )
    group.add(admitted)
    try:
        group.save(path)
    except XkekWorkflowError as error:
        error.nothing_changed = False
        raise XkekWorkflowError(
            f"device {serial} joined the group on the card (key domain {slot}, exchange key "
            f"{exchange_ref}), but {error}: admit it again after deleting that domain"
        ) from None
    interaction.inform(
        f"Device {serial} admitted to group {group.short_uid}: XKEK domain {slot}, "
        f"exchange key {exchange_ref}. Derive its KEK with a peer member next."
    )
    return admitted


# --- derive -----------------------------------------------------------------------------


def _choose_peer(
    group: GroupFile, serial: str, interaction: Interaction, peer_serial: str | None
) -> GroupMember:
    others = [m for m in group.members if m.serial != serial]
    if peer_serial is not None:
        peer = group.member(peer_serial)
        if peer is None or peer_serial == serial:
            known = ", ".join(m.serial for m in others) or "none"
            raise NotAMember(
                f"device {peer_serial} is not another member of group {group.short_uid} "
                f"(the other members: {known}); nothing was changed"
            )
        return peer
    if not others:
        raise NotAMember(
            f"group {group.short_uid} has no other member to derive the KEK with: admit "
            "another device first; nothing was changed"
        )
    if len(others) == 1:
        return others[0]
    return interaction.ask_choice(
        "Derive the group KEK with the exchange key of which member?",
        [Choice(m, m.serial, f"key domain {m.domain}") for m in others],
    )


@ceremony_step("derive group KEK")
def derive_kek(
    member: SmartCardHsm,
    interaction: Interaction,
    path: Path,
    *,
    peer_serial: str | None = None,
) -> DerivedKek:
    """Derive the KEK of ``member``'s XKEK domain with a peer member's exchange key.

    :raises NotAMember: the device, or the peer, is not in the group file.
    :raises XkekDomainMissing: the device holds no XKEK domain of the group.
    """
    group = GroupFile.load(path)
    serial = member.serial()
    me = group.member(serial)
    if me is None:
        raise NotAMember(
            f"device {serial} is not a member of group {group.short_uid} (admit it first); "
            "nothing was changed"
        )
    peer = _choose_peer(group, serial, interaction, peer_serial)
    found = group_domain(member, group.uid)
    if found is None:
        raise XkekDomainMissing(
            f"device {serial} holds no XKEK domain of group {group.short_uid} (deleted?); "
            "nothing was changed"
        )
    slot = found[0]
    exchange = exchange_key_of(member, slot)
    if exchange is None:
        raise XkekDomainMissing(
            f"key domain {slot} of device {serial} holds no exchange key; nothing was changed"
        )
    verify_user_pin(member, interaction, f"deriving the KEK of group {group.short_uid}")
    kcv = derive_with_peer(member, slot, exchange[0], peer.exchange(), group.uid)
    interaction.inform(
        f"Key domain {slot} of device {serial}: KEK derived with the exchange key of device "
        f"{peer.serial}, KCV {format_kcv(kcv)}. The KEK is pairwise: device {peer.serial} "
        "shows the same KCV once it derives with this device's exchange key."
    )
    return DerivedKek(serial, slot, peer.serial, format_kcv(kcv))
