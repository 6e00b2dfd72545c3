"""Leave a key-domain group: delete an XKEK domain, its exchange key first.

:func:`delete_xkek_domain` (also what :func:`keymanager.workflows.device.delete_key_domain`
does for an XKEK domain): keys other than the exchange key recorded in the domain are
named and nothing is changed; otherwise, after a confirmation, the exchange key is
deleted, then the domain, and the registry forgets both.  With the group file the
device is dropped from its members as well.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.card.errors import FileExists, TransportError, WrongData
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.xkek import find_exchange_key
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import DomainNotReady
from keymanager.workflows.interaction import Cancelled, Interaction
from keymanager.workflows.key_domains import keys_with_domains, record_quietly
from keymanager.workflows.xkek_group import GroupFile, XkekWorkflowError, short_uid

if TYPE_CHECKING:
    from keymanager.workflows.device import KeyDomainResult

__all__ = ["delete_xkek_domain"]


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
    :raises DomainNotReady: not an XKEK domain, or keys other than the exchange key are
        recorded in it (nothing is changed).
    """
    from keymanager.workflows.device import KeyDomainResult

    status = hsm.key_domain_status(domain)
    if status is None or not status.uid:
        raise DomainNotReady(f"key domain {domain} is not an XKEK domain; nothing was changed")
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
    if not interaction.confirm(
        f"Delete key domain {domain} (XKEK, group {short_uid(status.uid)})? {exchange_text}"
        "the device leaves the group: keys can no longer be copied to or from it through "
        f"this domain.{doubt}",
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
    if group_path is not None:
        with contextlib.suppress(XkekWorkflowError, TransportError):
            group = GroupFile.load(group_path)
            if group.uid == status.uid:
                group.remove(hsm.serial())
                group.save(group_path)
    interaction.inform(f"Key domain {domain} (XKEK, group {short_uid(status.uid)}) deleted.")
    return KeyDomainResult(domain, "empty")
