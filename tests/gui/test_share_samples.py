"""The share dialog's sample states (for the dialog catalog) build and say the right
things: numbering, the reason a KCV is missing, the progress list."""

from __future__ import annotations

from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.gui.shares import samples
from keymanager.simulator.demo import DEMO_DOMAIN1_SHARES


def test_refused_then_accepted(qtbot) -> None:
    dialog = samples.refused_then_accepted()
    qtbot.addWidget(dialog)
    texts = dialog.ceremony.entry_texts()
    assert len(texts) == 2
    assert texts[0].endswith("refused: wrong password or damaged file")
    assert texts[1].endswith("accepted")
    assert dialog.heading.text() == "Key domain 0: DKEK share 2 of 2"
    assert not dialog.grab().isNull()


def test_card_import_waiting_and_done(qtbot) -> None:
    waiting = samples.card_import_waiting()
    qtbot.addWidget(waiting)
    assert waiting.heading.text() == "Key domain 1: DKEK share 2 of 2"
    assert waiting.card_kcv_label.text() == "none yet: 1 share(s) outstanding"
    done = samples.card_import_done()
    qtbot.addWidget(done)
    kcv = format_kcv(Dkek.from_shares(DEMO_DOMAIN1_SHARES).kcv())
    assert done.finished_into_card and done.card_kcv_label.text() == kcv
    assert done.pages.currentWidget() is done.summary
    text = done.summary.view.toPlainText()
    assert "2026-12-02 10:02:00" in text and "hidden" not in text
    assert not done.grab().isNull()
