"""The custodians area: public key authentication (PKA) in the Card menu.

* **Register custodian key…** (a PKA device, its PKA node, or a slot to replace): a
  ``.pka`` file dialog, then :class:`~keymanager.gui.dialogs.custodians.RegisterCustodianDialog`
  (the file's custodian key and device, the slot), then
  :func:`keymanager.workflows.pka.register_custodian`; the result names the custodian
  (CHR and device serial) and the slot it went into.
* **Authenticate custodians…** (a PKA device with keys registered):
  :class:`~keymanager.gui.pka_wizard.AuthenticateWizard`.
* **Create custodian key…** (any initialised card, acting as a custodian's card):
  :class:`~keymanager.gui.dialogs.custodians.CreateCustodianKeyDialog`, a save dialog
  for the ``.pka`` file, then :func:`keymanager.workflows.pka.create_custodian_key`.

Each is greyed where it cannot run, with the reason as tooltip (no PKA on the card,
every slot taken on a card that keeps its keys, nothing registered yet, unlocked
already, a blank card).  All card I/O runs on the worker thread through the workflows.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from keymanager.gui.actions import MENU_CARD, MenuAction, uninitialised_refused
from keymanager.gui.areas.host import AreaHost
from keymanager.gui.dialogs.custodians import CreateCustodianKeyDialog, RegisterCustodianDialog
from keymanager.gui.pka_wizard import AuthenticateWizard
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import NodeKind, OutlineNode
from keymanager.workflows.outline_pka import PKA_NODE_ID, PkaInfo

PKA_KINDS = frozenset({NodeKind.DEVICE, NodeKind.PKA, NodeKind.CUSTODIAN_KEY})
NO_PKA_REASON = (
    "the card was not initialised for public key authentication (Initialise device… "
    "with custodian keys)"
)
SLOT_NOT_REPLACEABLE = (
    "the card was initialised without “registered keys may be replaced”: this slot's key stays"
)


def pka_info(node: OutlineNode) -> PkaInfo | None:
    """The PKA state shown by ``node``'s device (``None``: the card has no PKA)."""
    device = node
    while device.kind is not NodeKind.DEVICE and device.parent is not None:
        device = device.parent
    found = device.find(PKA_NODE_ID) if device.kind is NodeKind.DEVICE else None
    data = found.data if found is not None else None
    return data if isinstance(data, PkaInfo) else None


def slot_of(node: OutlineNode) -> int | None:
    """The slot a custodian-key node shows."""
    if node.kind is not NodeKind.CUSTODIAN_KEY:
        return None
    slot = getattr(node.data, "slot", None)
    return slot if isinstance(slot, int) else None


def register_refused(node: OutlineNode) -> str | None:
    info = pka_info(node)
    if info is None:
        return NO_PKA_REASON
    slot = slot_of(node)
    if slot is not None and getattr(node.data, "chr", None) is not None:
        return SLOT_NOT_REPLACEABLE if info.replaceable is False else None
    return info.register_refused()


def authenticate_refused(node: OutlineNode) -> str | None:
    info = pka_info(node)
    if info is None:
        return NO_PKA_REASON
    return info.authenticate_refused()


def registration_lines(result: object) -> list[str]:
    """What a registration did, in lines: which custodian went into which slot."""
    status = getattr(result, "status", None)
    slot = getattr(result, "slot", None)
    where = f"slot {slot}" if slot is not None else "the next free slot"
    lines = [
        f"Custodian key {getattr(result, 'chr', '?')} of the custodian device "
        f"{getattr(result, 'device_serial', '?')} is registered in {where}."
    ]
    replaced = getattr(result, "replaced", None)
    if replaced:
        lines.append(f"It replaced {replaced}.")
    if status is not None:
        lines.append(f"The device now: {status.text}.")
    return lines


def register_custodian(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the ``.pka`` file, then the slot; register on the worker."""
    info = pka_info(node)
    slot = slot_of(node)

    def chosen(path: Path) -> None:
        dialog = RegisterCustodianDialog(
            path, info, card=host.card_name(), slot=slot, parent=host.dialog_parent()
        )

        def start() -> None:
            replace = dialog.replace_slot()

            def run(context: JobContext) -> object:
                from keymanager.workflows.pka import register_custodian as register

                return register(context.hsm, context.interaction, path, slot=replace)

            def show(result: object) -> None:
                host.show_result("Custodian key registered", registration_lines(result))

            host.select_next(PKA_NODE_ID)
            host.submit("Registering the custodian key", run, changes_card=True, on_result=show)

        host.open_dialog(dialog, start)

    host.open_file_dialog(
        "Register custodian key",
        chosen,
        save=False,
        name_filter="Custodian keys (*.pka);;All files (*)",
        setting="pka",
    )


def authenticate_custodians(host: AreaHost, node: OutlineNode) -> AuthenticateWizard | None:
    """Open the wizard for the device of ``node``."""
    info = pka_info(node)
    if info is None:
        return None
    sources, device_key = host.card_sources()
    wizard = AuthenticateWizard(
        info,
        sources,
        device_key=device_key,
        submit=host.submit,
        announce=host.announce_dialog,
        parent=host.dialog_parent(),
    )
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.setWindowModality(Qt.WindowModality.WindowModal)
    wizard.show()
    host.announce_dialog(wizard)
    return wizard


def create_custodian_key(host: AreaHost, node: OutlineNode) -> None:
    """Label and curve, then where the ``.pka`` goes; the key is made on the worker."""
    dialog = CreateCustodianKeyDialog(host.card_name(), host.dialog_parent())

    def start() -> None:
        label, curve = dialog.label(), dialog.curve()

        def chosen(path: Path) -> None:
            def run(context: JobContext) -> object:
                from keymanager.workflows.pka import create_custodian_key as create

                return create(context.hsm, context.interaction, label=label, out=path, curve=curve)

            def show(result: object) -> None:
                host.show_result(
                    "Custodian key created",
                    [
                        f"Custodian key {getattr(result, 'chr', '?')} (“{label}”, {curve}) "
                        f"is key {getattr(result, 'key_ref', '?')} on this card.",
                        f"Its .pka file: {getattr(result, 'path', path)}",
                        "Hand the file to whoever registers it on the device to protect "
                        "(Card → Register custodian key…).",
                    ],
                )

            host.submit("Creating the custodian key", run, changes_card=True, on_result=show)

        host.open_file_dialog(
            "Save the custodian key's .pka file",
            chosen,
            save=True,
            name_filter="Custodian keys (*.pka)",
            default_name=dialog.default_file_name(),
            default_suffix="pka",
            setting="pka",
        )

    host.open_dialog(dialog, start)


def actions(host: AreaHost) -> list[MenuAction]:
    """Register custodian key…, Authenticate custodians…, Create custodian key…"""
    return [
        MenuAction(
            "pka-authenticate",
            "Authenticate custodians…",
            PKA_KINDS,
            gui=lambda node: (authenticate_custodians(host, node), None)[1],
            needs_card=True,
            disabled=authenticate_refused,
            description="M custodians unlock the device with their cards, one after another",
            menu=MENU_CARD,
            group="custodians",
        ),
        MenuAction(
            "pka-register",
            "Register custodian key…",
            PKA_KINDS,
            gui=lambda node: register_custodian(host, node),
            needs_card=True,
            disabled=register_refused,
            description="Register a custodian's .pka file on this device (or replace a slot's)",
            menu=MENU_CARD,
            group="custodians",
        ),
        MenuAction(
            "pka-create-key",
            "Create custodian key…",
            frozenset({NodeKind.DEVICE}),
            gui=lambda node: create_custodian_key(host, node),
            needs_card=True,
            disabled=uninitialised_refused,
            description="Make a key on this card for a custodian and save its .pka file",
            menu=MENU_CARD,
            group="custodians",
        ),
    ]
