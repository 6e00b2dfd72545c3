"""The key domains and shares area: domains, DKEK share ceremonies, share import.

Create, rename, clear and delete key domains, find the domain of unrecorded keys
(:mod:`keymanager.workflows.device`, :mod:`keymanager.workflows.key_domains`), create a
DKEK share (the ceremony dialog, then the sheets with print / PDF) and import shares
into a waiting domain (:mod:`keymanager.workflows.ceremony`).
"""

from __future__ import annotations

from collections.abc import Callable

from keymanager.gui.actions import (
    MENU_DOMAINS,
    JobRun,
    MenuAction,
    domain_slot,
    is_empty_domain,
    is_used_domain,
    is_waiting_domain,
    share_import_refused,
    unrecorded_keys,
)
from keymanager.gui.areas.host import AreaHost
from keymanager.gui.areas.keys import device_not_ready
from keymanager.gui.dialogs.ceremony import ShareCeremonyDialog, SheetInteraction
from keymanager.gui.dialogs.rename_domain import RenameDomainDialog
from keymanager.gui.worker import JobContext
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.outline import NodeKind, OutlineNode, is_unrecorded

DEVICE = frozenset({NodeKind.DEVICE})
DOMAIN = frozenset({NodeKind.KEY_DOMAIN})


def _import_shares(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.ceremony import import_shares
    from keymanager.workflows.ceremony_session import current_session

    slot = domain_slot(node)
    assert slot is not None
    # in a ceremony each custodian's share is a step of its own (their name in the record)
    count = 1 if current_session() is not None else None
    return import_shares(context.hsm, context.interaction, slot.number, count=count)


def _create_domain(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.device import create_key_domain

    slot = domain_slot(node)
    shares = context.interaction.ask_number(
        "How many DKEK shares will the new key domain have?", minimum=1, maximum=255, default=2
    )
    return create_key_domain(
        context.hsm, context.interaction, shares, slot.number if slot is not None else None
    )


def _clear_kek(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.device import clear_kek

    slot = domain_slot(node)
    assert slot is not None
    return clear_kek(context.hsm, context.interaction, slot.number)


def _find_key_domains(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.key_domains import find_key_domains

    return find_key_domains(context.hsm, context.interaction, keys=unrecorded_keys(node))


def _delete_domain(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.device import delete_key_domain

    slot = domain_slot(node)
    assert slot is not None
    if slot.status is not None and slot.status.uid:
        return _delete_xkek_domain(context, slot.number, slot.status.uid)
    return delete_key_domain(context.hsm, context.interaction, slot.number)


def _delete_xkek_domain(context: JobContext, number: int, uid: bytes) -> object:
    """An XKEK domain: its exchange key goes first (the workflow's confirmation names it);
    with the group file of its group known here, offer to take the device off it too."""
    from keymanager.gui.areas.xkek import group_file_of
    from keymanager.workflows.interaction import Choice
    from keymanager.workflows.xkek import delete_xkek_domain

    known = group_file_of(uid)
    group_path = None
    if known is not None:
        leave = context.interaction.ask_choice(
            f"Key domain {number} is the XKEK domain of the group in {known}.  Update the "
            "group file as well?",
            [
                Choice(True, f"Take this device off the group file ({known.name})"),
                Choice(False, "Leave the group file as it is"),
            ],
        )
        group_path = known if leave else None
    return delete_xkek_domain(context.hsm, context.interaction, number, group_path=group_path)


def rename_domain(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the key domain's label; record it on the worker thread."""
    slot = domain_slot(node)
    assert slot is not None
    number = slot.number
    current = node.detail("Label") or ""
    dialog = RenameDomainDialog(
        number,
        "" if current == "(none)" else current,
        node.detail("Purpose") or "",
        host.dialog_parent(),
    )

    def start() -> None:
        label = dialog.label()

        def run(context: JobContext) -> object:
            from keymanager.workflows.key_domains import rename_domain as rename

            return rename(context.hsm, context.interaction, number, label)

        host.select_next(f"domain:{number}")
        host.submit("Renaming a key domain", run, changes_card=True)

    host.open_dialog(dialog, start)


def share_result_lines(result: object) -> list[str]:
    """What the result box says about a new DKEK share."""
    from keymanager.workflows.ceremony import ShareCreationResult

    assert isinstance(result, ShareCreationResult)
    lines = [
        f"Share fingerprint: {result.fingerprint}",
        f"Random bytes from the {result.random_source}.",
    ]
    if result.share_file is not None:
        lines.append(f"Share file: {result.share_file}")
    if result.prime is not None:
        lines.append(f"Prime (public, give it to every custodian): {result.prime}")
    if result.paperkey_pdf is not None:
        lines.append(f"PaperKey PDF: {result.paperkey_pdf}")
    lines.extend(f"Fragment PDF: {path}" for path in result.fragment_pdfs)
    lines.extend(f"Checked: {check}" for check in result.checks)
    return lines


def create_share(host: AreaHost, node: OutlineNode) -> None:
    """The share ceremony: plan, then the workflow (sheets shown with print / PDF)."""
    dialog = ShareCeremonyDialog(host.dialog_parent())
    broker = host.broker
    outline = host.current_outline()
    serial = outline.device.detail("Serial") if outline is not None else None
    device = serial if serial and serial != "unknown" else None  # named on every sheet

    def start() -> None:
        plan = dialog.plan()
        card_random = dialog.card_random.isChecked()

        def run(context: JobContext) -> object:
            from keymanager.workflows.ceremony import create_share as create

            interaction: Interaction = SheetInteraction(context.interaction, broker, context.cancel)
            return create(
                interaction, plan, hsm=context.hsm if card_random else None, device=device
            )

        def created(result: object) -> None:
            host.show_result("DKEK share created", share_result_lines(result))

        host.submit("Creating a DKEK share", run, on_result=created)

    host.open_dialog(dialog, start)


def actions(host: AreaHost) -> list[MenuAction]:
    """Share ceremonies and key domains (see :mod:`keymanager.gui.actions` for the table)."""

    def job(
        id_: str,
        label: str,
        kinds: frozenset[NodeKind],
        run: JobRun,
        description: str,
        *,
        available: Callable[[OutlineNode], bool] | None = None,
        disabled: Callable[[OutlineNode], str | None] | None = None,
        shortcut: str = "",
        group: str = "",
        destructive: bool = False,
    ) -> MenuAction:
        return MenuAction(
            id_,
            label,
            kinds,
            job=run,
            needs_card=True,
            changes_card=True,
            available=available,
            description=description,
            disabled=disabled,
            menu=MENU_DOMAINS,
            shortcut=shortcut,
            group=group,
            destructive=destructive,
        )

    return [
        MenuAction(
            "create-share",
            "Create DKEK share…",
            DEVICE,
            gui=lambda node: create_share(host, node),
            needs_card=True,
            description="A share ceremony: a share file (password or n-of-m) and/or a PaperKey",
            menu=MENU_DOMAINS,
            shortcut="Ctrl+Shift+N",
            group="shares",
        ),
        job(
            "import-shares",
            "Import DKEK shares…",
            DOMAIN,
            _import_shares,
            "Custodians enter their shares into this key domain",
            available=is_waiting_domain,
            disabled=share_import_refused,
            shortcut="Ctrl+I",
            group="shares",
        ),
        job(
            "create-domain",
            "Create key domain…",
            DEVICE | DOMAIN,
            _create_domain,
            "A DKEK key domain of n shares (in this slot, or the first empty one)",
            available=lambda node: node.kind is NodeKind.DEVICE or is_empty_domain(node),
            disabled=device_not_ready,
            group="domain",
        ),
        MenuAction(
            "rename-domain",
            "Rename key domain…",
            DOMAIN,
            gui=lambda node: rename_domain(host, node),
            needs_card=True,
            available=is_used_domain,
            description="Give the key domain a label (kept in keymanager's registry on the card)",
            menu=MENU_DOMAINS,
            group="domain",
        ),
        job(
            "find-key-domains",
            "Find key domains…",
            frozenset({NodeKind.KEY_GROUP, NodeKind.KEY}),
            _find_key_domains,
            "Wrap each key (user PIN), match the KCV and record its key domain on the card; "
            "the wrapped keys are dropped at once",
            available=is_unrecorded,
            group="domain",
        ),
        job(
            "clear-kek",
            "Clear KEK…",
            DOMAIN,
            _clear_kek,
            "Delete the domain's DKEK: every share is outstanding again",
            available=is_used_domain,
            destructive=True,
        ),
        job(
            "delete-domain",
            "Delete key domain…",
            DOMAIN,
            _delete_domain,
            "Free the slot (refused while keys belong to the domain; an XKEK domain's "
            "exchange key is deleted with it)",
            available=is_used_domain,
            destructive=True,
        ),
    ]
