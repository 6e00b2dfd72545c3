"""The share ceremony's sheets: what they name, and a failed PDF that loses nothing.

The share file and its fingerprint are reported before any sheet is printed, every
sheet is shown before its PDF is written, and a PDF that cannot be written is reported
and its sheet shown (again) on screen: the share is never left without its sheets.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import format_kcv, share_fingerprint
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan, create_share
from keymanager.workflows.interaction import (
    MessageLevel,
    NofMShareInput,
    PaperKeyShareInput,
    ScriptedInteraction,
)
from keymanager.workflows.share_sheets import SecretSheet
from keymanager.workflows.shares import read_share

TODAY = datetime.datetime.now(datetime.UTC).date().isoformat()


class SheetRecorder(ScriptedInteraction):
    """A front end with its own sheet view (as the GUI's): records every sheet, in
    order with the messages."""

    def __init__(self) -> None:
        super().__init__()
        self.sheets: list[SecretSheet] = []
        self.events: list[str] = []

    def show_sheet(self, sheet: SecretSheet) -> None:
        self.sheets.append(sheet)
        self.events.append(f"sheet: {sheet.title}")

    def message(self, level: MessageLevel, text: str) -> None:
        super().message(level, text)
        self.events.append(f"{level.name}: {text}")


def fragment(sheet: str) -> tuple[str, str]:
    ident = re.search(r"Share ID\s*:\s*(\S+)", sheet)
    value = re.search(r"Share value\s*:\s*(\S+)", sheet)
    assert ident and value
    return ident.group(1), value.group(1)


def test_fragment_pdfs_that_cannot_be_written_are_shown_instead(tmp_path: Path) -> None:
    interaction = SheetRecorder()
    share_file = tmp_path / "dave.pbe"
    plan = ShareCreationPlan(
        share_file=share_file,
        protection=FileProtection.N_OF_M,
        threshold=2,
        total=3,
        show_fragments=False,
        fragment_pdf_dir=tmp_path / "no-such-folder",
    )
    result = create_share(interaction, plan)
    assert share_file.exists() and result.fragment_pdfs == ()
    # the share file and its fingerprint came first, then one warning + sheet per fragment
    assert interaction.events[0].startswith(f"INFO: Share file {share_file} written")
    assert result.fingerprint in interaction.events[0]
    warnings = interaction.texts(MessageLevel.WARNING)
    assert len(warnings) == 3 and all("could not be written" in text for text in warnings)
    assert [sheet.problem is not None for sheet in interaction.sheets] == [True] * 3
    for index, sheet in enumerate(interaction.sheets):
        assert sheet.handover is not None
        assert sheet.handover.startswith(f"Fragment {index + 1} of 3 of share file dave.pbe")
        assert "shown again" in sheet.handover
        assert f"Fingerprint : {result.fingerprint}" in sheet.text
        assert "Share file  : dave.pbe" in sheet.text and f"Date        : {TODAY}" in sheet.text
        assert "Signature" in sheet.text
        assert "Device" not in sheet.text  # no card: no device named
    # the fragments as shown open the file
    entry = NofMShareInput(
        share_file,
        str(result.prime),
        [fragment(interaction.sheets[0].text), fragment(interaction.sheets[2].text)],
    )
    assert format_kcv(share_fingerprint(read_share(entry, interaction))) == result.fingerprint


def test_shown_fragments_come_before_their_pdf_and_name_the_card(tmp_path: Path) -> None:
    simulator = SmartCardHsmSimulator(seed=b"share sheets")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin="648219", so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    serial = hsm.serial()
    interaction = SheetRecorder()
    fragments = tmp_path / "fragments"
    fragments.mkdir()
    plan = ShareCreationPlan(
        share_file=tmp_path / "erin.pbe",
        protection=FileProtection.N_OF_M,
        threshold=2,
        total=3,
        fragment_pdf_dir=fragments,
    )
    result = create_share(interaction, plan, hsm=hsm)
    assert len(interaction.sheets) == 3 and not interaction.texts(MessageLevel.WARNING)
    for index, sheet in enumerate(interaction.sheets):
        assert sheet.pdf == fragments / f"fragment-{index + 1}-of-3.pdf"
        assert sheet.problem is None
        assert f"Device      : {serial}" in sheet.text
    assert [p.name for p in result.fragment_pdfs] == [f"fragment-{i}-of-3.pdf" for i in (1, 2, 3)]
    assert b"Signature" in result.fragment_pdfs[0].read_bytes()


def test_a_paperkey_pdf_that_fails_is_shown_again_after_the_screen(tmp_path: Path) -> None:
    interaction = ScriptedInteraction()  # a front end with show_secret only (the CLI's)
    plan = ShareCreationPlan(paperkey=True, paperkey_pdf=tmp_path / "missing" / "pk.pdf")
    result = create_share(interaction, plan)
    # shown before the print step, then again once the PDF failed
    assert len(interaction.shown_secrets) == 2
    (warning,) = interaction.texts(MessageLevel.WARNING)
    assert "pk.pdf could not be written" in warning
    for _title, sheet in interaction.shown_secrets:
        typed = [line.strip() for line in sheet.splitlines() if re.match(r"^\s*[1-4]: ", line)]
        share = read_share(PaperKeyShareInput(typed), interaction)
        assert format_kcv(share_fingerprint(share)) == result.fingerprint
        assert "Signature" in sheet and f"Date        : {TODAY}" in sheet
    assert not (tmp_path / "missing").exists()
    assert not any("printed to" in check for check in result.checks)


def test_a_pdf_only_paperkey_that_fails_is_not_put_on_screen(tmp_path: Path) -> None:
    interaction = ScriptedInteraction()
    plan = ShareCreationPlan(
        paperkey=True, paperkey_pdf=tmp_path / "missing" / "pk.pdf", show_paperkey=False
    )
    with pytest.raises(OSError):
        create_share(interaction, plan)
    assert interaction.shown_secrets == []
    assert list(tmp_path.iterdir()) == []
