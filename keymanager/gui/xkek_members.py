"""The members of an XKEK key domain's group, in the domain's details in the outline.

The card knows its XKEK domain's group UID, not who else is in the group: the group file
(``GROUP.json``, public) does.  The window remembers the group file used last
(:func:`keymanager.gui.areas.xkek.last_group_file`); when its UID is the domain's,
:func:`add_group_members` adds to that domain's node a ``Members`` line (how many, and
which is this device) and one ``Member N`` line per member (serial, key-domain slot,
exchange key, "this device"; from
:func:`keymanager.workflows.xkek_members.group_members_for`).  Without a group file of
that group the ``Members`` line says how to get them listed.  Only reads a small public
file; no card I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.workflows.outline import Detail, NodeKind, Outline, OutlineNode
from keymanager.workflows.xkek_members import KnownMember, group_members_for

if TYPE_CHECKING:
    from keymanager.workflows.xkek_group import GroupFile

MEMBERS_LABEL = "Members"
GROUP_FILE_LABEL = "Group file"
MEMBERS_UNKNOWN = (
    "not known here: open the group file (Derive group KEK… or Admit a device to the "
    "group…) to list them"
)
THIS_DEVICE = "this device"


def member_text(member: KnownMember) -> str:
    """``UTSIM0001, key domain 0, exchange key 2 (this device)``."""
    key = (
        f"exchange key {member.exchange_key_ref}"
        if member.exchange_key_ref is not None
        else "no exchange key"
    )
    text = f"{member.serial}, key domain {member.domain}, {key}"
    return f"{text} ({THIS_DEVICE})" if member.this_device else text


def members_details(
    uid: bytes, group: GroupFile | None, path: Path | None, this_serial: str
) -> list[Detail]:
    """The lines added to the details of the XKEK domain of group ``uid`` (``group``:
    the group file known here, if any; another group's file lists no member)."""
    if group is None or path is None or group.uid != uid:
        return [Detail(MEMBERS_LABEL, MEMBERS_UNKNOWN, copyable=False)]
    members = group_members_for(uid, group, this_serial)
    count = f"{len(members)} in the group file" if members else "none in the group file yet"
    if any(member.this_device for member in members):
        count += f", {THIS_DEVICE} among them"
    details = [Detail(MEMBERS_LABEL, count, copyable=False)]
    details += [
        Detail(f"Member {number}", member_text(member))
        for number, member in enumerate(members, start=1)
    ]
    details.append(Detail("Group signer", group.signer.serial))
    details.append(Detail(GROUP_FILE_LABEL, str(path)))
    return details


def read_group(path: Path | None) -> GroupFile | None:
    """The group file at ``path`` (``None``: none given, or it does not read as one)."""
    if path is None:
        return None
    from keymanager.workflows.xkek_group import GroupFile, XkekWorkflowError

    try:
        return GroupFile.load(path)
    except (XkekWorkflowError, OSError):
        return None


def add_group_members(outline: Outline, path: Path | None) -> None:
    """Add the members lines to each XKEK domain node of ``outline`` (in place)."""
    domains = [
        node
        for node in outline.nodes(NodeKind.KEY_DOMAIN)
        if node.detail("Type") == "XKEK" and node.detail("Group UID")
    ]
    if not domains:
        return
    group = read_group(path)
    this_serial = outline.device.detail("Serial") or ""
    for node in domains:
        uid = bytes.fromhex(node.detail("Group UID") or "")
        _insert_after_kcv(node, members_details(uid, group, path, this_serial))


def _insert_after_kcv(node: OutlineNode, lines: list[Detail]) -> None:
    details = list(node.details)
    labels = [item.label for item in details]
    where = labels.index("KCV") + 1 if "KCV" in labels else len(details)
    node.details = tuple(details[:where] + lines + details[where:])
