"""The sheets a share ceremony hands out: one custodian's n-of-m fragment, or a PaperKey.

Every sheet names what it belongs to, so a custodian (or an auditor, years later) can
tell which share a sheet opens: the share file, the device whose random generator made
the share (when a card was used), the date and the share fingerprint; it ends with a
line for the custodian's signature.  The same text goes to the screen, to the printer
and into the PDF.

:class:`SecretSheet` is one sheet as the workflow shows it.  Front ends that can show
more than a plain secret (the GUI's sheet dialog: a hand-over screen first, print and
PDF export) implement :class:`SheetViewer`; any other
:class:`~keymanager.workflows.interaction.Interaction` gets the sheet through
``show_secret`` (:func:`show_sheet`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from keymanager.dkek.nofm import PasswordSplit, format_share_sheet
from keymanager.workflows.interaction import Interaction

SIGNATURE_BLOCK = (
    "Received by (name) : ____________________________________\n"
    "\n"
    "Signature          : ____________________________________\n"
    "\n"
    "Date               : ________________"
)


@dataclass(frozen=True)
class SheetFacts:
    """The public facts printed on every sheet of one share."""

    fingerprint: str
    share_file: Path | None = None
    device: str | None = None
    """The serial of the card whose random generator made the share (``None``: unknown)."""
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).date().isoformat()
    )

    def header(self, *, fingerprint: bool = True) -> str:
        """The facts, one ``Name : value`` line each (the fingerprint unless told not to)."""
        lines = []
        if self.share_file is not None:
            lines.append(f"Share file  : {self.share_file.name}")
        if self.device is not None:
            lines.append(f"Device      : {self.device}")
        lines.append(f"Date        : {self.date}")
        if fingerprint:
            lines.append(f"Fingerprint : {self.fingerprint} (share fingerprint)")
        return "\n".join(lines)


@dataclass(frozen=True)
class SecretSheet:
    """One sheet to show once (and to print or save, if the front end can)."""

    title: str
    text: str
    handover: str | None = None
    """Shown before the secret (a screen that holds no secret): who takes the screen now."""
    pdf: Path | None = None
    """The PDF of this sheet the workflow writes (or wrote) as well, if any."""
    problem: str | None = None
    """Why the sheet's PDF could not be written (the sheet is shown instead)."""
    file_name: str = "sheet.pdf"
    """A name for "Save as PDF"."""


@runtime_checkable
class SheetViewer(Protocol):
    """A front end that shows a :class:`SecretSheet` with its hand-over screen."""

    def show_sheet(self, sheet: SecretSheet) -> None:
        """Show the sheet once and wait until it has been taken (``Cancelled`` if not)."""


def show_sheet(interaction: Interaction, sheet: SecretSheet) -> None:
    """Show ``sheet`` through ``interaction``: its own sheet view, else ``show_secret``."""
    if isinstance(interaction, SheetViewer):
        interaction.show_sheet(sheet)
    else:
        interaction.show_secret(sheet.title, sheet.text)


def fragment_title(index: int, total: int) -> str:
    return f"DKEK share password - fragment {index + 1} of {total}"


def fragment_sheet_text(split: PasswordSplit, index: int, facts: SheetFacts) -> str:
    """The text of custodian ``index + 1``'s sheet (``index`` from 0)."""
    return (
        f"For custodian {index + 1} only.  Keep it as secret as the share itself.\n"
        "\n"
        f"{facts.header()}\n"
        "\n"
        f"{format_share_sheet(split, index).rstrip()}\n"
        "\n"
        f"{SIGNATURE_BLOCK}\n"
    )


def fragment_handover(index: int, total: int, facts: SheetFacts, *, again: str = "") -> str:
    """The hand-over screen before fragment ``index + 1`` (no secret on it)."""
    file = f" of share file {facts.share_file.name}" if facts.share_file is not None else ""
    return (
        f"Fragment {index + 1} of {total}{file} (share fingerprint {facts.fingerprint}).{again}\n"
        f"Give the screen to custodian {index + 1}, then press Show.  Nobody else may see it."
    )


def paperkey_sheet_text(paperkey_text: str, facts: SheetFacts) -> str:
    """The PaperKey sheet: the PaperKey's own text (which shows the fingerprint), then
    the other facts and a signature line."""
    header = facts.header(fingerprint=False)
    return f"{paperkey_text.rstrip()}\n\n{header}\n\n{SIGNATURE_BLOCK}\n"


__all__ = [
    "SIGNATURE_BLOCK",
    "SecretSheet",
    "SheetFacts",
    "SheetViewer",
    "fragment_handover",
    "fragment_sheet_text",
    "fragment_title",
    "paperkey_sheet_text",
    "show_sheet",
]
