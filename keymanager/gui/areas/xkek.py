"""The key-domain group area (XKEK): groups of devices that share a key domain.

In the Key domains and shares menu (group "xkek"; the dialogs are in
:mod:`keymanager.gui.dialogs.xkek`):

* **Create key-domain group…** (the device): ``CreateGroupDialog`` (where
  ``GROUP.json`` goes), then :func:`keymanager.workflows.xkek.create_group`: this card
  makes the group-signer key and becomes the group's signer.
* **Admit a device to the group…** (the device): ``AdmitDeviceDialog`` (the group file,
  the device to admit: this card, or a second one in a reader or a simulated card file,
  the slot), then :func:`keymanager.workflows.xkek.admit_member`: this card, the
  signer, signs the membership; the member creates the XKEK domain and its exchange key.
* **Derive group KEK…** (the device, an XKEK domain): ``DeriveKekDialog`` (the group
  file, the peer), then :func:`keymanager.workflows.xkek.derive_kek`.

On a key of an XKEK domain (and in the Keys menu): **Copy key to another device of the
group…**: ``CopyKeyDialog`` (the target device, the group file), then
:func:`keymanager.workflows.xkek.migrate_key`; the result names the KCV both devices
agreed on, the key's reference on the target and the verified test signature.

Every card I/O runs on the window's worker thread: the second card (member, target)
is opened there, on its own transport, in the session's secure-messaging mode, and
closed when the job ends; each card's PIN is asked by the workflow through the window's
PIN dialog.  The group file last used is remembered (a path, public).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.secure_messaging import SecureMessagingMode
from keymanager.gui import settings
from keymanager.gui.actions import MENU_DOMAINS, MENU_KEYS, MenuAction, domain_slot, key_of
from keymanager.gui.areas.host import AreaHost
from keymanager.gui.areas.keys import device_not_ready
from keymanager.gui.dialogs.delegating import DelegatingInteraction
from keymanager.gui.dialogs.xkek import (
    AdmitDeviceDialog,
    CopyKeyDialog,
    CreateGroupDialog,
    DeriveKekDialog,
)
from keymanager.gui.worker import CardSource, JobContext
from keymanager.workflows.interaction import Interaction, SecretRequest
from keymanager.workflows.outline import NodeKind, OutlineNode

if TYPE_CHECKING:
    from keymanager.workflows.xkek import DerivedKek
    from keymanager.workflows.xkek_group import GroupFile, GroupMember
    from keymanager.workflows.xkek_migrate import MigrationResult

GROUP_FILE_SETTING = "xkek/group_file"
DEVICE = frozenset({NodeKind.DEVICE})
KEY = frozenset({NodeKind.KEY})
NO_XKEK_DOMAIN_REASON = (
    "this card holds no XKEK key domain: admit it to a group first (Admit a device to "
    "the group… on the group's signer)"
)
SEALED_REASON = "the key is sealed: the card refuses to export it"
EXCHANGE_KEY_REASON = (
    "this is the key domain's exchange key: each device of the group has its own, made "
    "when it was admitted"
)


# --- the state the actions read from the outline ---------------------------------------


def xkek_uid(node: OutlineNode) -> bytes:
    """The group UID of ``node``'s XKEK key domain (``b""``: not an XKEK domain)."""
    slot = domain_slot(node)
    return slot.status.uid if slot is not None and slot.status is not None else b""


def device_of(node: OutlineNode) -> OutlineNode:
    while node.kind is not NodeKind.DEVICE and node.parent is not None:
        node = node.parent
    return node


def xkek_domains(node: OutlineNode) -> list[OutlineNode]:
    """The XKEK key-domain nodes of ``node``'s device."""
    return [item for item in device_of(node).walk() if xkek_uid(item)]


def key_domain_node(node: OutlineNode) -> OutlineNode | None:
    """The key-domain node a key node stands under (``None``: under no domain)."""
    parent = node.parent
    return parent if parent is not None and parent.kind is NodeKind.KEY_DOMAIN else None


def is_xkek_key(node: OutlineNode) -> bool:
    """A key the outline places in an XKEK key domain."""
    if node.kind is not NodeKind.KEY or not hasattr(node.data, "key_reference"):
        return False
    domain = key_domain_node(node)
    return domain is not None and bool(xkek_uid(domain))


def derive_refused(node: OutlineNode) -> str | None:
    return device_not_ready(node) or (None if xkek_domains(node) else NO_XKEK_DOMAIN_REASON)


def copy_refused(node: OutlineNode) -> str | None:
    """The exchange key stays (each device has its own); a sealed key cannot go."""
    from keymanager.workflows.xkek import EXCHANGE_KEY_LABEL

    if getattr(node.data, "label", "").startswith(EXCHANGE_KEY_LABEL):
        return EXCHANGE_KEY_REASON
    if getattr(node.data, "exportable", None) is False:
        return SEALED_REASON
    return None


def serial_of(host: AreaHost) -> str | None:
    outline = host.current_outline()
    serial = outline.device.detail("Serial") if outline is not None else None
    return serial if serial and serial != "unknown" else None


def last_group_file() -> Path | None:
    """The group file used last (``None``: none yet, or it is gone)."""
    value = settings.open_settings().value(GROUP_FILE_SETTING, "")
    path = Path(str(value)) if value else None
    return path if path is not None and path.is_file() else None


def group_file_of(uid: bytes) -> Path | None:
    """The group file used last if it is the file of group ``uid`` (``None``: not known)."""
    from keymanager.gui.xkek_members import read_group

    path = last_group_file()
    group = read_group(path)
    return path if group is not None and group.uid == uid else None


def remember_group_file(path: Path) -> None:
    settings.save_value(GROUP_FILE_SETTING, str(path))


@contextmanager
def second_card(source: CardSource, mode: SecureMessagingMode | None) -> Iterator[SmartCardHsm]:
    """A session on the card of ``source`` (opened on the calling thread), closed after."""
    transport = source.open()
    try:
        yield SmartCardHsm.open(transport, secure_messaging=mode)
    finally:
        transport.close()


# --- what the results say ---------------------------------------------------------------


class OnCard(DelegatingInteraction):
    """Says which card a PIN is for: "… (the PIN of <card>)" after the workflow's purpose.

    The workflows of two cards ask both PINs through the window's one PIN dialog."""

    def __init__(self, inner: Interaction, card: str) -> None:
        super().__init__(inner)
        self.card = card

    def ask_secret(self, request: SecretRequest) -> bytearray:
        purpose = f"{request.purpose} (the PIN of {self.card})" if request.purpose else self.card
        return super().ask_secret(dataclasses.replace(request, purpose=purpose))


def group_created_lines(group: GroupFile, path: Path) -> list[str]:
    return [
        f"Key-domain group {group.short_uid} is created; this card ({group.signer.serial}) "
        f"is its signer: its group-signer key is key {group.signer.key_ref} (it never "
        "leaves the card).",
        f"Group file: {path}",
        "Next: Admit a device to the group… for each device of the group (this one too).",
    ]


def admitted_lines(member: GroupMember) -> list[str]:
    return [
        f"Device {member.serial} is a member of the group: XKEK key domain {member.domain}, "
        f"exchange key {member.exchange_key_ref}.",
        "Next: Derive group KEK… on each member with a peer member.",
    ]


def derived_lines(derived: DerivedKek) -> list[str]:
    return [
        f"Key domain {derived.domain} of device {derived.serial} holds the KEK derived with "
        f"the exchange key of device {derived.peer_serial}: KCV {derived.kcv}.",
        f"Device {derived.peer_serial} derives the same KEK (the same KCV) with this "
        "device's exchange key.",
    ]


def migrated_lines(result: MigrationResult) -> list[str]:
    return [
        f"Key {result.source_reference} (“{result.label}”) is copied to device "
        f"{result.target_serial}: it is key {result.target_reference} there, in its key "
        f"domain {result.target_domain}.",
        f"Both devices derived the group KEK with each other's exchange key: KCV {result.kcv}.",
        f"Proof on the target: {result.proof}.",
    ]


# --- the actions -------------------------------------------------------------------------


def create_group(host: AreaHost, node: OutlineNode) -> None:
    """Where the group file goes; the group is made on the worker (this card signs)."""
    dialog = CreateGroupDialog(
        host.card_name(), announce=host.announce_dialog, parent=host.dialog_parent()
    )

    def start() -> None:
        path = dialog.group_path()
        remember_group_file(path)

        def run(context: JobContext) -> object:
            from keymanager.workflows.xkek import create_group as create

            return create(context.hsm, context.interaction, path)

        def show(result: object) -> None:
            from keymanager.workflows.xkek_group import GroupFile

            assert isinstance(result, GroupFile)
            host.show_result("Key-domain group created", group_created_lines(result, path))

        host.submit("Creating a key-domain group", run, changes_card=True, on_result=show)

    host.open_dialog(dialog, start)


def admit_device(host: AreaHost, node: OutlineNode) -> None:
    """The group file, the device and its slot; admitted on the worker (this card signs)."""
    sources, device_key = host.card_sources()
    card = host.card_name()
    dialog = AdmitDeviceDialog(
        card,
        sources,
        device_key=device_key,
        path=last_group_file(),
        announce=host.announce_dialog,
        parent=host.dialog_parent(),
    )

    def start() -> None:
        path, source, domain = dialog.group_path(), dialog.member_source(), dialog.domain()
        remember_group_file(path)

        def run(context: JobContext) -> object:
            from keymanager.workflows.xkek import admit_member

            signer = OnCard(context.interaction, f"the group's signer, {card}")
            if source is None:
                return admit_member(context.hsm, context.hsm, signer, path, domain=domain)
            with second_card(source, context.hsm.secure_messaging.mode) as member:
                return admit_member(
                    context.hsm,
                    member,
                    OnCard(context.interaction, f"the device to admit, in {source.label}"),
                    path,
                    domain=domain,
                    signer_interaction=signer,
                )

        def show(result: object) -> None:
            from keymanager.workflows.xkek_group import GroupMember

            assert isinstance(result, GroupMember)
            host.show_result("Device admitted to the group", admitted_lines(result))

        if source is None and domain is not None:
            host.select_next(f"domain:{domain}")
        host.submit("Admitting a device to the group", run, changes_card=True, on_result=show)

    host.open_dialog(dialog, start)


def derive_kek(host: AreaHost, node: OutlineNode) -> None:
    """The group file and the peer; the KEK is derived on the worker."""
    dialog = DeriveKekDialog(
        host.card_name(),
        serial=serial_of(host),
        path=last_group_file(),
        announce=host.announce_dialog,
        parent=host.dialog_parent(),
    )

    def start() -> None:
        path, peer = dialog.group_path(), dialog.peer_serial()
        remember_group_file(path)

        def run(context: JobContext) -> object:
            from keymanager.workflows.xkek import derive_kek as derive

            return derive(context.hsm, context.interaction, path, peer_serial=peer)

        def show(result: object) -> None:
            from keymanager.workflows.xkek import DerivedKek

            assert isinstance(result, DerivedKek)
            host.show_result("Group KEK derived", derived_lines(result))

        host.submit("Deriving the group KEK", run, changes_card=True, on_result=show)

    host.open_dialog(dialog, start)


def copy_key(host: AreaHost, node: OutlineNode) -> None:
    """The target device and the group file; the key is copied on the worker."""
    key = key_of(node)
    reference = key.key_reference
    sources, device_key = host.card_sources()
    card = host.card_name()
    dialog = CopyKeyDialog(
        reference,
        key.label,
        card,
        sources,
        device_key=device_key,
        path=last_group_file(),
        announce=host.announce_dialog,
        parent=host.dialog_parent(),
    )

    def start() -> None:
        target, path = dialog.target_source(), dialog.group_path()
        if path is not None:
            remember_group_file(path)

        def run(context: JobContext) -> object:
            from keymanager.workflows.xkek import migrate_key

            with second_card(target, context.hsm.secure_messaging.mode) as target_hsm:
                return migrate_key(
                    context.hsm,
                    target_hsm,
                    OnCard(context.interaction, f"the source device, {card}"),
                    reference,
                    group_path=path,
                    target_interaction=OnCard(
                        context.interaction, f"the target device, in {target.label}"
                    ),
                )

        def show(result: object) -> None:
            from keymanager.workflows.xkek import MigrationResult

            assert isinstance(result, MigrationResult)
            host.show_result("Key copied to another device of the group", migrated_lines(result))

        host.select_next(f"key:{reference}")
        host.submit(
            "Copying a key to another device of the group",
            run,
            changes_card=True,
            on_result=show,
        )

    host.open_dialog(dialog, start)


def actions(host: AreaHost) -> list[MenuAction]:
    """Create key-domain group…, Admit a device…, Derive group KEK…, Copy key to …"""
    return [
        MenuAction(
            "xkek-create-group",
            "Create key-domain group…",
            DEVICE,
            gui=lambda node: create_group(host, node),
            needs_card=True,
            disabled=device_not_ready,
            description="This card becomes the signer of a new group of devices sharing an "
            "XKEK key domain (saves GROUP.json)",
            menu=MENU_DOMAINS,
            group="xkek",
        ),
        MenuAction(
            "xkek-admit",
            "Admit a device to the group…",
            DEVICE,
            gui=lambda node: admit_device(host, node),
            needs_card=True,
            disabled=device_not_ready,
            description="This card, the group's signer, admits a device (itself or another "
            "card): the device creates the group's XKEK key domain and its exchange key",
            menu=MENU_DOMAINS,
            group="xkek",
        ),
        MenuAction(
            "xkek-derive",
            "Derive group KEK…",
            DEVICE | frozenset({NodeKind.KEY_DOMAIN}),
            gui=lambda node: derive_kek(host, node),
            needs_card=True,
            available=lambda node: node.kind is NodeKind.DEVICE or bool(xkek_uid(node)),
            disabled=derive_refused,
            description="Derive the XKEK key domain's KEK with a peer member's exchange key",
            menu=MENU_DOMAINS,
            group="xkek",
        ),
        MenuAction(
            "xkek-copy-key",
            "Copy key to another device of the group…",
            KEY,
            gui=lambda node: copy_key(host, node),
            needs_card=True,
            available=is_xkek_key,
            disabled=copy_refused,
            description="Wrap the key under the group KEK and unwrap it on another member "
            "device (same label and certificate; a test signature there is verified)",
            menu=MENU_KEYS,
            group="key",
        ),
    ]
