"""A software SmartCard-HSM for demos and tests.

:class:`SmartCardHsmSimulator` answers the same APDUs as a genuine SmartCard-HSM
(see ``docs/card.md``); plug it into :class:`keymanager.card.transport.LocalTransport`
in-process, or into pcscd through the vpcd bridge (``python -m keymanager.simulator
--vpcd``).  :class:`FaultPlan` injects card removal, resets and status words.
"""

from __future__ import annotations

from keymanager.simulator.card import AID, ATR, VERSION, SmartCardHsmSimulator
from keymanager.simulator.faults import FaultPlan
from keymanager.simulator.profiles import GENUINE, PICO, PROFILES, SimulatorProfile

__all__ = [
    "AID",
    "ATR",
    "GENUINE",
    "PICO",
    "PROFILES",
    "VERSION",
    "FaultPlan",
    "SimulatorProfile",
    "SmartCardHsmSimulator",
]
