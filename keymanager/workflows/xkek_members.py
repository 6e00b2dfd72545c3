"""The members of a key-domain group "as far as known": what a group file says.

A card knows only its own XKEK domain (its group UID and KCV), never the other members:
those are known from the security officer's group file (``GROUP.json``).
:func:`group_members_for` lists the file's members for an XKEK domain whose UID is the
file's (none for another group's domain), marking this device; ``status``/``audit``
``--group GROUP.json`` and the desktop outline show them under the domain.
:func:`with_group_members` puts them into an audit report.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keymanager.workflows.audit import AuditReport
    from keymanager.workflows.xkek_group import GroupFile

__all__ = ["KnownMember", "group_members_for", "with_group_members"]


@dataclass(frozen=True)
class KnownMember:
    """A member of the group as the group file records it."""

    serial: str
    domain: int
    """Its XKEK domain's slot on its own device."""
    exchange_key_ref: int | None
    """Its exchange key's reference; ``None``: the file holds no exchange key for it."""
    this_device: bool
    """Whether it is the device being looked at."""
    admitted: str

    @property
    def has_exchange_key(self) -> bool:
        return self.exchange_key_ref is not None

    @property
    def text(self) -> str:
        """``member device S: key domain N, exchange key R (this device)``."""
        key = (
            f"exchange key {self.exchange_key_ref}"
            if self.exchange_key_ref is not None
            else "no exchange key"
        )
        mark = " (this device)" if self.this_device else ""
        return f"member device {self.serial}: key domain {self.domain}, {key}{mark}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "domain": self.domain,
            "exchange_key_ref": self.exchange_key_ref,
            "exchange_key": self.has_exchange_key,
            "this_device": self.this_device,
            "admitted": self.admitted,
        }


def group_members_for(uid: bytes, group: GroupFile, this_serial: str) -> list[KnownMember]:
    """The members ``group`` records, in the file's order, if ``uid`` is its group's UID
    (an XKEK domain's :attr:`KeyDomainStatus.uid`); ``[]`` for another group (or a DKEK
    domain's empty UID).  ``this_serial`` marks this device.  No card is asked."""
    if not uid or uid != group.uid:
        return []
    return [
        KnownMember(
            serial=member.serial,
            domain=member.domain,
            exchange_key_ref=member.exchange_key_ref if member.exchange_key else None,
            this_device=member.serial == this_serial,
            admitted=member.admitted,
        )
        for member in group.members
    ]


def with_group_members(report: AuditReport, group: GroupFile) -> AuditReport:
    """``report`` with the members of ``group`` under its XKEK domain of that group."""
    domains = tuple(
        replace(
            domain,
            members=tuple(group_members_for(bytes.fromhex(domain.uid), group, report.serial or "")),
        )
        if domain.uid is not None and bytes.fromhex(domain.uid) == group.uid
        else domain
        for domain in report.domains
    )
    return replace(report, domains=domains)
