"""The device area: initialise, diagnose and audit the card.

Initialise asks for the plan (:class:`~keymanager.gui.dialogs.init_device.InitDeviceDialog`)
and runs :func:`keymanager.workflows.device.initialize_device`, which asks the SO-PIN
and the confirmation naming the card.  Diagnose runs the card part of
``keymanager-cli diagnose`` (:func:`keymanager.diagnostics.probe_card`) on the current
card.  Audit opens the auditor's view (:class:`~keymanager.gui.audit_view.AuditView`).
"""

from __future__ import annotations

import weakref

import shiboken6
from PySide6.QtCore import Qt

from keymanager.gui.actions import MENU_CARD, MenuAction
from keymanager.gui.areas.host import AreaHost
from keymanager.gui.audit_view import AuditView
from keymanager.gui.dialogs.init_device import InitDeviceDialog
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import NodeKind, OutlineNode

DEVICE = frozenset({NodeKind.DEVICE})


def initialise_device(host: AreaHost, node: OutlineNode) -> None:
    """Ask for the plan; the workflow asks the SO-PIN and the confirmation naming the card."""
    dialog = InitDeviceDialog(host.card_name(), host.dialog_parent())

    def start() -> None:
        plan = dialog.plan()

        def run(context: JobContext) -> object:
            from keymanager.workflows.device import initialize_device

            result = initialize_device(context.hsm, context.interaction, plan)
            if plan.public_key_auth is not None:
                # the session's SELECT answer still holds the old options (0x0008,
                # 0x0010): the outline reads the new ones on a new session
                context.renew_session = True
            return result

        host.select_next("device")
        host.submit("Initialising the device", run, changes_card=True)

    host.open_dialog(dialog, start)


def diagnosis_lines(report: object) -> list[str]:
    """The card report of a diagnosis in lines: what was found, then each finding."""
    from keymanager.diagnostics import CardReport

    assert isinstance(report, CardReport)
    facts = [
        ("Reader", report.reader),
        ("ATR", report.atr),
        ("Applet", report.applet_description),
        ("Version", report.version),
        ("Serial", report.serial),
        ("Device certificate", report.device_certificate),
        ("Secure messaging", report.secure_messaging_text),
        (
            "Extended length",
            None if report.extended_length is None else ("yes" if report.extended_length else "no"),
        ),
    ]
    lines = [f"{name}: {value}" for name, value in facts if value]
    if report.options:
        lines.append("Options: " + ", ".join(report.options))
    lines.append("")
    if not report.findings:
        lines.append("No problem found.")
    for finding in report.findings:
        lines.append(f"{finding.severity.value.capitalize()}: {finding.message}")
        if finding.advice:
            lines.append(f"  What to do: {finding.advice}")
    return lines


def diagnose(host: AreaHost, node: OutlineNode) -> None:
    """Check the current card as ``keymanager-cli diagnose`` does; show what was found."""

    def run(context: JobContext) -> object:
        from keymanager.diagnostics import probe_card

        # the probe opens a session of its own (in the session's mode), which ends the
        # channel and the login of this one: the next job opens a new session
        context.renew_session = True
        return probe_card(context.hsm.transport, secure_messaging=context.hsm.secure_messaging.mode)

    def show(report: object) -> None:
        host.show_result("Diagnosis", diagnosis_lines(report))

    # the probe selects the applet again (a log-out): the outline is read anew
    host.submit("Diagnosing the card", run, changes_card=True, on_result=show)


class AuditArea:
    """Runs the audit and keeps the one auditor's view open at a time."""

    def __init__(self, host: AreaHost) -> None:
        self.host = host
        self.view: AuditView | None = None

    def show(self, node: OutlineNode) -> None:
        """Audit on the worker thread and open the auditor view with the report."""

        def run(context: JobContext) -> object:
            from keymanager.workflows.audit import audit

            return audit(context.hsm)

        self.host.submit("Auditing the card", run, on_result=self._open)

    def _open(self, result: object) -> None:
        from keymanager.workflows.audit import AuditReport

        assert isinstance(result, AuditReport)
        if self.view is not None and shiboken6.isValid(self.view):
            self.view.close()
        view = AuditView(result, self._probe, self.host.dialog_parent())
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.view = view
        view.show()
        self.host.announce_dialog(view)

    def _probe(self) -> None:
        view_ref = weakref.ref(self.view) if self.view is not None else None

        def run(context: JobContext) -> object:
            from keymanager.workflows.audit import audit

            return audit(context.hsm, context.interaction, probe_wrap=True)

        def probed(result: object) -> None:
            view = view_ref() if view_ref is not None else None
            if view is not None and shiboken6.isValid(view):
                view.set_report(result)  # type: ignore[arg-type]

        self.host.submit("Finding the key domains", run, changes_card=True, on_result=probed)


def actions(host: AreaHost) -> list[MenuAction]:
    """Initialise device…, Diagnose…, Audit…"""
    audit = AuditArea(host)
    return [
        MenuAction(
            "audit",
            "Audit…",
            DEVICE,
            gui=audit.show,
            needs_card=True,
            description="Key domains with KCV, share and key counts; export CSV or PDF, print",
            menu=MENU_CARD,
            shortcut="Ctrl+Shift+A",
            group="inspect",
        ),
        MenuAction(
            "diagnose",
            "Diagnose…",
            DEVICE,
            gui=lambda node: diagnose(host, node),
            needs_card=True,
            description="Check the reader, the applet, PIN tries and key domains; advice",
            menu=MENU_CARD,
            group="inspect",
        ),
        MenuAction(
            "init-device",
            "Initialise device…",
            DEVICE,
            gui=lambda node: initialise_device(host, node),
            needs_card=True,
            description="ERASE the device and set it up again (needs the SO-PIN)",
            menu=MENU_CARD,
            destructive=True,
        ),
    ]
