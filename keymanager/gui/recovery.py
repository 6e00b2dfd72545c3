"""What the window does the first time a session reads a card: finish earlier work.

:func:`run_recovery` runs the key journal's and the PKCS#12 import journal's repairs
(each asks before it changes anything); :class:`LoadedCard` is what the window's read
job returns: the outline and the repairs' notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keymanager.card.errors import CardError, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.outline import Outline


@dataclass
class LoadedCard:
    """What the read job returns: the outline and what the recovery hooks did."""

    outline: Outline
    notes: list[str] = field(default_factory=list)
    problem: BaseException | None = None


def run_recovery(hsm: SmartCardHsm, interaction: Interaction) -> list[str]:
    """Finish what earlier sessions left on this card; a sentence per repair.

    Runs :func:`keymanager.workflows.keys.recover_interrupted` (generation / restore
    journal) and :func:`keymanager.workflows.plugins.transient_import.recover_leftovers`
    (PKCS#12 import journal).  Both ask before they change anything; nothing is asked
    when the journals hold nothing for this card.  A card without a readable serial
    (not a SmartCard-HSM the journals could name) is skipped.
    """
    from keymanager.workflows.keys import KeyJournal, default_journal_dir, recover_interrupted
    from keymanager.workflows.plugins.transient_import import recover_leftovers

    try:
        hsm.serial()
    except TransportError:  # gone or reset: the next connection repairs
        raise
    except (CardError, ValueError):
        return []
    notes = [
        f"An interrupted {op.operation} of key {op.key_reference} was "
        + ("completed." if op.kept else "rolled back.")
        for op in recover_interrupted(hsm, interaction, KeyJournal(default_journal_dir()))
    ]
    leftovers = recover_leftovers(hsm, interaction)
    if leftovers.found and not leftovers.declined:
        notes.append("The leftovers of an interrupted PKCS#12 import were removed.")
    return notes
