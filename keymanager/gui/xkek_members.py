"""The members of an XKEK key domain's group, in the domain's details in the outline.

The card knows its XKEK domain's group UID, not who else is in the group: the group file
(``GROUP.json``, public) does.  The window remembers the group file used last
(:func:`keymanager.gui.areas.xkek.last_group_file`); when its UID is the domain's,
:func:`add_group_members` adds to that domain's node a ``Members`` line (how many, and
which is this device) and one ``Member N`` line per member: serial, key-domain slot,
exchange key, "this device".  Without a group file of that group the ``Members`` line
says how to get them listed.  Only reads a small public file; no card I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.workflows.outline import Detail, NodeKind, Outline, OutlineNode

if TYPE_CHECKING:
    from keymanager.workflows.xkek_group import GroupFile, GroupMember

MEMBERS_LABEL = "Members"
GROUP_FILE_LABEL = "Group file"
MEMBERS_UNKNOWN = (
    "not known here: open the group file (Derive group KEK… or Admit a device to the "
    "group…) to list them"
)
THIS_DEVICE = "this device"


def member_text(member: GroupMember, this_serial: str) -> str:
    """``UTSIM0001, key domain 0, exchange key 2 (this device)``."""
    text = f"{member.serial}, key domain {member.domain}, exchange key {member.exchange_key_ref}"
    return f"{text} ({THIS_DEVICE})" if member.serial == this_serial else text


def members_details(group: GroupFile | None, path: Path | None, this_serial: str) -> list[Detail]:
    """The lines added to an XKEK domain's details (``group``: the group file, its UID
    the domain's; ``None``: no such file known)."""
    if group is None or path is None:
        return [Detail(MEMBERS_LABEL, MEMBERS_UNKNOWN, copyable=False)]
    serials = [member.serial for member in group.members]
    count = f"{len(serials)} in the group file" if serials else "none in the group file yet"
    if this_serial in serials:
        count += f", {THIS_DEVICE} among them"
    details = [Detail(MEMBERS_LABEL, count, copyable=False)]
    details += [
        Detail(f"Member {number}", member_text(member, this_serial))
        for number, member in enumerate(group.members, start=1)
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
        matches = group is not None and group.uid.hex().upper() == node.detail("Group UID")
        lines = members_details(group if matches else None, path, this_serial)
        _insert_after_kcv(node, lines)


def _insert_after_kcv(node: OutlineNode, lines: list[Detail]) -> None:
    details = list(node.details)
    labels = [item.label for item in details]
    where = labels.index("KCV") + 1 if "KCV" in labels else len(details)
    node.details = tuple(details[:where] + lines + details[where:])
