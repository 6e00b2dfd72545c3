"""Leave a key-domain group: delete an XKEK domain, its exchange key first.

:func:`delete_xkek_domain` (also what :func:`keymanager.workflows.device.delete_key_domain`
does for an XKEK domain): keys other than the exchange key recorded in the domain are
named and nothing is changed; otherwise, after a confirmation, the exchange key is
deleted, then the domain, and the registry forgets both.  With the group file the
device is dropped from its members as well.  The result (:class:`XkekDomainDeleted`)
says which exchange key went and whether the group file was changed (and why not).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keymanager.card.errors import FileExists, WrongData
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.xkek import find_exchange_key
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.device import KeyDomainResult
from keymanager.workflows.errors import DomainNotReady
from keymanager.workflows.interaction import Cancelled, Interaction
from keymanager.workflows.key_domains import keys_with_domains, record_quietly
from keymanager.workflows.xkek_group import (
    GroupFile,
    GroupFileUnusable,
    XkekWorkflowError,
    short_uid,
)

__all__ = ["XkekDomainDeleted", "delete_xkek_domain"]

_NOTHING_CHANGED = "; nothing was changed"


@dataclass(frozen=True)
class XkekDomainDeleted(KeyDomainResult):
    """An XKEK domain deleted (``state`` ``"empty"``): what went with it.

    ``exchange_key_ref`` is the exchange key deleted first (``None``: the domain held
    none); ``group_file`` the group file given, ``left_group_file`` whether the device
    was taken off its members, ``group_file_note`` why not (empty when it was, or when
    no file was given).
    """

    serial: str = ""
    group_uid: str = ""
    exchange_key_ref: int | None = None
    group_file: str | None = None
    left_group_file: bool = False
    group_file_note: str = ""

    @property
    def short_uid(self) -> str:
        """The group UID's first 16 hex digits, as the outline shows them."""
        return self.group_uid[:16] + "…"

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "serial": self.serial,
            "group_uid": self.group_uid,
            "exchange_key_ref": self.exchange_key_ref,
            "group_file": self.group_file,
            "left_group_file": self.left_group_file,
            "group_file_note": self.group_file_note or None,
        }


def _reason(error: XkekWorkflowError) -> str:
    """An error's words without its "nothing was changed" (the domain is gone)."""
    if isinstance(error, GroupFileUnusable):
        return error.reason
    return str(error).removesuffix(_NOTHING_CHANGED)


def _leave_group_file(path: Path, uid: bytes, serial: str) -> tuple[bool, str]:
    """Take ``serial`` off the group file ``path``: whether it was, and why not."""
    try:
        group = GroupFile.load(path)
    except XkekWorkflowError as error:
        return False, f"{path} was not changed: {_reason(error)}"
    if group.uid != uid:
        return False, (
            f"{path} is the file of group {group.short_uid}, not of group {short_uid(uid)}: "
            "it was not changed"
        )
    if group.member(serial) is None:
        return False, f"{path} did not list device {serial}: it was not changed"
    group.remove(serial)
    try:
        group.save(path)
    except XkekWorkflowError as error:
        return False, f"{_reason(error)}: {path} still lists device {serial}"
    return True, ""


@ceremony_step("delete XKEK domain", witness=True)
def delete_xkek_domain(
    hsm: SmartCardHsm,
    interaction: Interaction,
    domain: int,
    *,
    group_path: Path | None = None,
) -> KeyDomainResult:
    """Delete an XKEK domain: its exchange key first, then the domain (after a confirm).

    :param group_path: the group file, to drop the device from its members as well.
    :returns: what was deleted, and whether the device was taken off the group file.
    :raises DomainNotReady: not an XKEK domain, or keys other than the exchange key are
        recorded in it (nothing is changed).
    """
    status = hsm.key_domain_status(domain)
    if status is None or not status.uid:
        raise DomainNotReady(f"key domain {domain} is not an XKEK domain; nothing was changed")
    serial = hsm.serial()
    exchange_ref = find_exchange_key(hsm, domain)
    _registry, keys = keys_with_domains(hsm)
    others = [
        key
        for key in keys
        if key.key_domain == domain
        and key.domain_source != "unknown"
        and key.key_reference != exchange_ref
    ]
    if others:
        names = ", ".join(f"{key.key_reference} {key.label!r}" for key in others)
        raise DomainNotReady(
            f"key domain {domain} (XKEK, group {short_uid(status.uid)}) still holds key(s) "
            f"{names}: delete them (or copy them to another member first); nothing was changed"
        )
    unplaced = [key for key in keys if key.domain_source == "unknown"]
    doubt = (
        f" Key(s) {', '.join(str(k.key_reference) for k in unplaced)} have no recorded "
        "domain: if one is in this domain the card refuses the delete (the exchange key "
        "is gone then)."
        if unplaced
        else ""
    )
    exchange_text = (
        f"its exchange key (key {exchange_ref}) is deleted first, " if exchange_ref else ""
    )
    file_text = f" Device {serial} is taken off {group_path}." if group_path is not None else ""
    if not interaction.confirm(
        f"Delete key domain {domain} (XKEK, group {short_uid(status.uid)})? {exchange_text}"
        "the device leaves the group: keys can no longer be copied to or from it through "
        f"this domain.{file_text}{doubt}",
        destructive=True,
    ):
        raise Cancelled("not confirmed; nothing was changed")
    verify_user_pin(hsm, interaction, f"deleting key domain {domain}")
    if exchange_ref is not None:
        KeyStore(hsm).delete_key(exchange_ref)
        reference = exchange_ref
        record_quietly(hsm, interaction, lambda registry: registry.forget_key(reference))
    try:
        hsm.delete_key_domain(domain)
    except (FileExists, WrongData) as error:
        gone = " (its exchange key was deleted)" if exchange_ref is not None else ""
        raise DomainNotReady(
            f"the card refuses to delete key domain {domain} while keys still belong to it "
            f"(SW {error.sw:04X}){gone}: delete those keys first (audit lists them)"
        ) from None
    record_quietly(hsm, interaction, lambda registry: registry.forget_domain(domain))
    left, note = False, ""
    if group_path is not None:
        left, note = _leave_group_file(group_path, status.uid, serial)
    exchange_words = (
        f", its exchange key (key {exchange_ref}) with it" if exchange_ref is not None else ""
    )
    file_words = f"; device {serial} taken off {group_path}" if left else ""
    interaction.inform(
        f"Key domain {domain} (XKEK, group {short_uid(status.uid)}) deleted"
        f"{exchange_words}{file_words}." + (f" But {note}." if note else "")
    )
    return XkekDomainDeleted(
        domain,
        "empty",
        serial=serial,
        group_uid=status.uid.hex().upper(),
        exchange_key_ref=exchange_ref,
        group_file=str(group_path) if group_path is not None else None,
        left_group_file=left,
        group_file_note=note,
    )
