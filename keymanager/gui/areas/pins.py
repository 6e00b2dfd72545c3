"""The PINs area: verify, log out, change and unblock the user PIN, change the SO-PIN.

The workflows of :mod:`keymanager.workflows.pins` ask for each PIN through the job's
interaction (the PIN dialog); nothing is asked here before the job starts.
"""

from __future__ import annotations

from collections.abc import Callable

from keymanager.gui.actions import MENU_CARD, JobRun, MenuAction
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import NodeKind, OutlineNode

USER_PIN = frozenset({NodeKind.USER_PIN})
LOGIN_KINDS = frozenset({NodeKind.DEVICE, NodeKind.USER_PIN})


def _verify_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import verify_pin

    return verify_pin(context.hsm, context.interaction)


def _log_out(context: JobContext, node: OutlineNode) -> object:
    """Drop the card's security state: select the applet again (the PIN is unverified)."""
    context.hsm.logout()
    return "Logged out: the card asks for the PIN again before it signs, wraps or changes."


def _change_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import change_pin

    return change_pin(context.hsm, context.interaction)


def _unblock_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import unblock_pin

    return unblock_pin(context.hsm, context.interaction, set_new=False)


def _unblock_and_set_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import unblock_pin

    return unblock_pin(context.hsm, context.interaction, set_new=True)


def _change_so_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import change_so_pin

    return change_so_pin(context.hsm, context.interaction)


def is_logged_in(node: OutlineNode) -> bool:
    """Whether the outline shows the user PIN verified (on the device or PIN node)."""
    pins = [node] if node.kind is NodeKind.USER_PIN else node.children
    return any(
        child.kind is NodeKind.USER_PIN and child.detail("State") == "verified" for child in pins
    )


def _not_logged_in(node: OutlineNode) -> str | None:
    return None if is_logged_in(node) else "the user PIN is not verified"


def _pin_job(
    id_: str,
    label: str,
    kinds: frozenset[NodeKind],
    run: JobRun,
    description: str,
    *,
    shortcut: str = "",
    group: str = "pin",
    disabled: Callable[[OutlineNode], str | None] | None = None,
) -> MenuAction:
    return MenuAction(
        id_,
        label,
        kinds,
        job=run,
        needs_card=True,
        changes_card=True,
        description=description,
        menu=MENU_CARD,
        shortcut=shortcut,
        group=group,
        disabled=disabled,
    )


def actions() -> list[MenuAction]:
    """Verify PIN…, Log out, Change PIN…, Unblock PIN…, Unblock and set…, Change SO-PIN…"""
    return [
        _pin_job(
            "verify-pin",
            "Verify PIN…",
            LOGIN_KINDS,
            _verify_pin,
            "Log in with the user PIN (shows hidden KCVs, allows changes)",
            shortcut="Ctrl+L",
            group="login",
        ),
        _pin_job(
            "log-out",
            "Log out",
            LOGIN_KINDS,
            _log_out,
            "Drop the card's security state: the PIN is asked again",
            shortcut="Ctrl+Shift+L",
            group="login",
            disabled=_not_logged_in,
        ),
        _pin_job("change-pin", "Change PIN…", USER_PIN, _change_pin, "Change the user PIN"),
        _pin_job(
            "unblock-pin", "Unblock PIN…", USER_PIN, _unblock_pin, "Reset the tries with the SO-PIN"
        ),
        _pin_job(
            "unblock-set-pin",
            "Unblock and set a new PIN…",
            USER_PIN,
            _unblock_and_set_pin,
            "Reset the tries and set a new user PIN with the SO-PIN",
        ),
        _pin_job(
            "change-so-pin",
            "Change SO-PIN…",
            frozenset({NodeKind.SO_PIN}),
            _change_so_pin,
            "Change the SO-PIN (16 hex digits)",
        ),
    ]
