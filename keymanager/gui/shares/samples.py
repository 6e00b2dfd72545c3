"""The share dialog in the states worth a picture, built standalone with sample data.

Each function takes the parent window (``None`` works too) and returns the dialog, not
shown yet, for the dialog catalog (:mod:`keymanager.gui.dialog_catalog`).  The data are
the demo card's published shares (:mod:`keymanager.simulator.demo`); no workflow runs,
so the dialog answers nobody (its questions are stand-ins).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtWidgets import QWidget

from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.gui.shares.dialog import ShareDialog
from keymanager.gui.shares.session import ShareSession
from keymanager.simulator.demo import DEMO_DOMAIN1_SHARES, DEMO_SHARES
from keymanager.workflows.interaction import ShareOutcome, ShareRequest, ShareRoute

SAMPLE_START = datetime(2026, 12, 2, 10, 0, 0)
"""A fixed time, so the pictures do not change from one run to the next."""


def refused_then_accepted(parent: QWidget | None = None) -> ShareDialog:
    """Domain 0, share 2 of 2 being typed: share 1 was refused once (wrong password)
    and then accepted; the progress list shows both."""
    card_kcv = Dkek.from_shares(DEMO_SHARES).kcv()
    dialog = ShareDialog(ShareSession(), parent)
    first = ShareRequest(1, 2, domain=0, card_kcv=card_kcv, reports_outcome=True)
    dialog.set_request(first)
    dialog.log.hand_over(1, ShareRoute.FILE, "share file custodian-1.pbe", SAMPLE_START)
    dialog.report_outcome(
        ShareOutcome(first, False, shares_accepted=0, problem="wrong password or damaged file")
    )
    later = SAMPLE_START + timedelta(minutes=1)
    dialog.log.hand_over(1, ShareRoute.FILE, "share file custodian-1.pbe", later)
    dialog.report_outcome(
        ShareOutcome(
            first,
            True,
            format_kcv(share_fingerprint(DEMO_SHARES[0])),
            Dkek.from_shares(DEMO_SHARES[:1]).kcv(),
            shares_accepted=1,
        )
    )
    dialog.set_request(ShareRequest(2, 2, domain=0, card_kcv=card_kcv, reports_outcome=True))
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    return dialog


def card_import_done(parent: QWidget | None = None) -> ShareDialog:
    """A card import into the demo's domain 1 (two shares, one on the card already):
    share 2 of 2 is on the card, the summary waits to be printed, saved or closed."""
    total = len(DEMO_DOMAIN1_SHARES)
    dialog = ShareDialog(ShareSession(), parent)
    request = ShareRequest(total, total, domain=1, last=total, into_card=True)
    dialog.set_request(request)
    dialog.log.hand_over(total, ShareRoute.PAPERKEY, "PaperKey", SAMPLE_START)
    dialog.report_outcome(
        ShareOutcome(
            request,
            True,
            format_kcv(share_fingerprint(DEMO_DOMAIN1_SHARES[-1])),
            Dkek.from_shares(DEMO_DOMAIN1_SHARES).kcv(),
            shares_accepted=total,
        )
    )
    dialog.log.finished = SAMPLE_START + timedelta(minutes=2)
    dialog.summary.refresh()
    return dialog


def card_import_waiting(parent: QWidget | None = None) -> ShareDialog:
    """The same card import as it opens: "share 2 of 2", the card shows no KCV yet
    because a share is outstanding."""
    total = len(DEMO_DOMAIN1_SHARES)
    dialog = ShareDialog(ShareSession(), parent)
    dialog.set_request(ShareRequest(total, total, domain=1, last=total, into_card=True))
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    return dialog
