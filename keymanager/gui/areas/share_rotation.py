"""Ceremony → Rotate custodian share…: protect a share file anew, no card needed.

:class:`~keymanager.gui.dialogs.share_rotation.RotateShareDialog` collects how the file
opens now and its new protection; :func:`keymanager.workflows.share_rotation.rotate_share_file`
then runs on a thread of its own (:class:`~keymanager.gui.card_free.CardFreeJobs`), its
questions (the new password, typed twice; the new fragments, one sheet each) answered by
the window's dialogs.  While a ceremony runs the rotation is recorded: the session
(with the participant acting when the rotation was started) is entered on that thread.
The old password or fragments are wiped once the workflow has read them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from keymanager.gui.card_free import CardFreeJobs
from keymanager.workflows.ceremony import ShareCreationPlan
from keymanager.workflows.ceremony_session import CeremonySession, recording
from keymanager.workflows.interaction import FileShareInput, Interaction, NofMShareInput

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow


def rotate_share(host: MainWindow, jobs: CardFreeJobs, session: CeremonySession | None) -> None:
    """Open the dialog; on OK rotate (recorded into ``session`` when there is one)."""
    from keymanager.gui.dialogs.share_rotation import RotateShareDialog

    dialog = RotateShareDialog(host.dialog_parent())

    def rotate_now() -> None:
        old = dialog.take_old()
        run_rotation(host, jobs, session, old, dialog.plan(old.path))

    host.open_dialog(dialog, rotate_now)


def run_rotation(
    host: MainWindow,
    jobs: CardFreeJobs,
    session: CeremonySession | None,
    old: FileShareInput | NofMShareInput,
    plan: ShareCreationPlan,
) -> threading.Thread:
    """Rotate on a thread of its own; the result box or the error follows."""
    from keymanager.gui.dialogs.sheets import SheetInteraction
    from keymanager.gui.gui_interaction import GuiInteraction
    from keymanager.gui.shares.common import wipe_input
    from keymanager.workflows.share_rotation import rotate_share_file

    broker = host.broker

    def work(cancel: threading.Event) -> object:
        interaction: Interaction = SheetInteraction(GuiInteraction(broker, cancel), broker, cancel)
        try:
            with recording(session):
                return rotate_share_file(interaction, old, plan)
        finally:
            wipe_input(old)

    def done(result: object) -> None:
        host.show_result("Share file protected anew", rotation_lines(result))

    def failed(error: BaseException) -> None:
        host.show_error(error, "Rotating the share")

    return jobs.run("custodian rotation", work, done, failed)


def rotation_lines(result: object) -> list[str]:
    """What the result box says about a rotation (no secret)."""
    from keymanager.workflows.share_rotation import ShareRotationResult

    assert isinstance(result, ShareRotationResult)
    saved = result.saved
    lines = [
        f"{result.share_file} is protected anew; the old {result.old_protection} no longer "
        "opens it.",
        f"Share fingerprint (unchanged): {result.fingerprint}",
    ]
    if saved.total:
        lines.append(f"New password split {saved.threshold} of {saved.total} (prime {saved.prime})")
    lines.extend(f"Fragment PDF: {path}" for path in saved.fragment_pdfs)
    lines.extend(f"Checked: {check}" for check in result.checks)
    return lines
