"""The share input dialog and its parts, one module per route (issue 13).

* :mod:`.dialog` - :class:`ShareDialog`, one per collection of shares;
* :mod:`.session` - :class:`ShareSession` (one job) and the ceremony's record;
* :mod:`.file_tab`, :mod:`.nofm_tab`, :mod:`.paperkey_tab` - the three routes
  (:mod:`keymanager.dkek.paperkey_check` checks a PaperKey line as it is typed);
* :mod:`.progress` - the KCVs and the shares handed over, as the ceremony goes;
* :mod:`.summary` - the summary page at the end, printed or saved as PDF;
* :mod:`.common` - colours, marks, the answer protocol, the secret line edit.
"""

from __future__ import annotations

from keymanager.dkek.paperkey_check import LineCheck, check_line_as_typed
from keymanager.gui.shares.common import MATCH_MARK, MISMATCH_MARK, Answer, SecretLineEdit
from keymanager.gui.shares.dialog import ShareDialog
from keymanager.gui.shares.file_tab import FileShareTab
from keymanager.gui.shares.nofm_tab import NofMTab
from keymanager.gui.shares.paperkey_tab import PaperKeyTab
from keymanager.gui.shares.session import CeremonyLog, ShareSession

__all__ = [
    "MATCH_MARK",
    "MISMATCH_MARK",
    "Answer",
    "CeremonyLog",
    "FileShareTab",
    "LineCheck",
    "NofMTab",
    "PaperKeyTab",
    "SecretLineEdit",
    "ShareDialog",
    "ShareSession",
    "check_line_as_typed",
]
