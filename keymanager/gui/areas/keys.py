"""The keys area: generate, restore, back up and delete keys.

Each action opens its dialog (:mod:`keymanager.gui.dialogs`) and, once it is accepted,
runs the workflow of :mod:`keymanager.workflows.keys` on the card's worker; the
workflow asks the rest (PIN, confirmations) through the job's interaction.
"""

from __future__ import annotations

import re
from pathlib import Path

from keymanager.gui.actions import (
    MENU_KEYS,
    MenuAction,
    backup_refused,
    domain_slot,
    is_key,
    is_uninitialised,
    key_of,
)
from keymanager.gui.areas.host import AreaHost
from keymanager.gui.dialogs.delete_key import DeleteKeyDialog, LabelConfirmed
from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
from keymanager.gui.dialogs.restore_key import RestoreKeyDialog
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import NodeKind, Outline, OutlineNode

KEYS_KINDS = frozenset({NodeKind.DEVICE, NodeKind.KEY_GROUP})
KEY_KINDS = frozenset({NodeKind.KEY})

NOT_INITIALISED_REASON = "the device is not initialised yet: initialise it first"
"""Why key actions are disabled on a blank or uninitialised device."""


def device_not_ready(node: OutlineNode) -> str | None:
    """Keys need an initialised device (``None``: it is)."""
    return NOT_INITIALISED_REASON if is_uninitialised(node) else None


def domain_choices(outline: Outline | None) -> list[tuple[int, str]]:
    """The key domains a new key can be generated in: (number, description).

    DKEK domains, and XKEK domains (a key-domain group's: "XKEK, group 1A2B…, KCV …")."""
    if outline is None:
        return []
    choices = []
    for node in outline.nodes(NodeKind.KEY_DOMAIN):
        slot = domain_slot(node)
        if slot is None or slot.status is None:
            continue
        state = node.detail("KCV") or ""
        kind = "DKEK"
        if slot.status.uid:
            kind = f"XKEK, group {slot.status.uid.hex().upper()[:16]}…"
        choices.append((slot.number, f"{kind}, KCV {state}" if state else kind))
    return choices


def _select_key(host: AreaHost, result: object) -> None:
    reference = getattr(result, "key_reference", None)
    if reference is not None:
        host.select_next(f"key:{reference}")


def generate_key(host: AreaHost, node: OutlineNode) -> None:
    """Ask for label, algorithm and domain; generate on the worker thread."""
    dialog = GenerateKeyDialog(domain_choices(host.current_outline()), host.dialog_parent())

    def start() -> None:
        choices = dialog.choices()

        def run(context: JobContext) -> object:
            from keymanager.workflows.keys import KeyJournal, default_journal_dir
            from keymanager.workflows.keys import generate_key as generate

            return generate(
                context.hsm,
                context.interaction,
                choices.algorithm,
                choices.label,
                domain=choices.domain,
                allowed_algorithms=choices.allowed_algorithms,
                journal=KeyJournal(default_journal_dir()),
                seal=choices.seal,
            )

        host.submit(
            "Generating a key",
            run,
            changes_card=True,
            on_result=lambda result: _select_key(host, result),
        )

    host.open_dialog(dialog, start)


def delete_key(host: AreaHost, node: OutlineNode) -> None:
    """Confirm by typing the key's label; delete on the worker thread."""
    key = key_of(node)
    what = f"{key.kind.value} {key.size}" if key.kind is not None else ""
    dialog = DeleteKeyDialog(key.key_reference, key.label, what, host.dialog_parent())
    reference, label = key.key_reference, key.label

    def start() -> None:
        def run(context: JobContext) -> object:
            from keymanager.workflows.keys import delete_key as delete

            return delete(context.hsm, LabelConfirmed(context.interaction, label), reference)

        host.submit("Deleting a key", run, changes_card=True)

    host.open_dialog(dialog, start)


def backup_key(host: AreaHost, node: OutlineNode) -> None:
    """Ask where to save the ``.wky``; back the key up on the worker thread."""
    key = key_of(node)
    reference = key.key_reference
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", key.label).strip("-") or f"key-{reference}"

    def chosen(path: Path) -> None:
        def run(context: JobContext) -> object:
            from keymanager.workflows.keys import backup_key as backup

            # the file dialog asked before replacing an existing file
            return backup(context.hsm, context.interaction, reference, path, overwrite=True)

        host.submit("Backing up a key", run, changes_card=True)

    host.open_file_dialog(
        "Back up the key",
        chosen,
        save=True,
        name_filter="Key backups (*.wky)",
        default_name=f"{name}.wky",
        default_suffix="wky",
        setting="backups",
    )


def restore_key(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the ``.wky``, then whether to seal it; restore it on the worker thread."""

    def chosen(path: Path) -> None:
        dialog = RestoreKeyDialog(path, host.dialog_parent())

        def start() -> None:
            seal = dialog.seal()

            def run(context: JobContext) -> object:
                from keymanager.workflows.keys import KeyJournal, default_journal_dir
                from keymanager.workflows.keys import restore_key as restore

                return restore(
                    context.hsm,
                    context.interaction,
                    path,
                    journal=KeyJournal(default_journal_dir()),
                    seal=seal,
                )

            host.submit(
                "Restoring a key",
                run,
                changes_card=True,
                on_result=lambda result: _select_key(host, result),
            )

        host.open_dialog(dialog, start)

    host.open_file_dialog(
        "Restore a key",
        chosen,
        save=False,
        name_filter="Key backups (*.wky);;All files (*)",
        setting="backups",
    )


def actions(host: AreaHost) -> list[MenuAction]:
    """Generate key…, Restore key…, Back up…, Delete…"""
    return [
        MenuAction(
            "generate-key",
            "Generate key…",
            KEYS_KINDS,
            gui=lambda node: generate_key(host, node),
            needs_card=True,
            description="A new key on the card",
            disabled=device_not_ready,
            menu=MENU_KEYS,
            shortcut="Ctrl+N",
            group="new",
        ),
        MenuAction(
            "restore-key",
            "Restore key…",
            KEYS_KINDS,
            gui=lambda node: restore_key(host, node),
            needs_card=True,
            description="A key from a .wky backup",
            disabled=device_not_ready,
            menu=MENU_KEYS,
            group="new",
        ),
        MenuAction(
            "backup-key",
            "Back up…",
            KEY_KINDS,
            gui=lambda node: backup_key(host, node),
            needs_card=True,
            available=is_key,
            description="Save the key wrapped under its key domain's DKEK (.wky)",
            disabled=backup_refused,
            menu=MENU_KEYS,
            shortcut="Ctrl+B",
            group="key",
        ),
        MenuAction(
            "delete-key",
            "Delete…",
            KEY_KINDS,
            gui=lambda node: delete_key(host, node),
            needs_card=True,
            available=is_key,
            description="Delete the key with its certificate (confirm with its label)",
            menu=MENU_KEYS,
            shortcut="Del",
            destructive=True,
        ),
    ]
