"""Fault injection for the simulated card: removal, reset and forced status words.

A :class:`FaultPlan` counts the APDUs given to ``process_apdu`` (every call counts,
GET RESPONSE and chained parts included).  ``k`` in :meth:`FaultPlan.remove_at`,
:meth:`FaultPlan.reset_at` and :meth:`FaultPlan.status_at` counts from 1 after the
call that schedules the fault: ``remove_at(1)`` hits the very next APDU.  A fault fires
*before* the command is processed, so the command has no effect.

:meth:`FaultPlan.remove_on` and :meth:`FaultPlan.reset_on` hit the first APDU whose
header starts with given bytes (e.g. ``00 D7 C4`` = the first UPDATE BINARY of a PRKD),
for tests that must not depend on how many APDUs come before it.  The secure-messaging
bits ``0C`` of CLA are ignored, so ``00 D7 C4`` also hits the protected ``0C D7 C4``
(only the header is sent as it is inside a channel: longer prefixes match plain APDUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from keymanager.simulator.apdu import SECURE_MESSAGING_BITS


class FaultKind(Enum):
    """What happens to the APDU a fault hits."""

    REMOVE = "remove"
    RESET = "reset"
    STATUS = "status"


@dataclass(frozen=True)
class Fault:
    """One scheduled fault."""

    kind: FaultKind
    sw: int = 0


class FaultPlan:
    """The faults scheduled for the coming APDUs."""

    def __init__(self) -> None:
        self._count = 0
        self._faults: dict[int, Fault] = {}
        self._on_header: list[tuple[bytes, Fault]] = []

    @property
    def apdus_seen(self) -> int:
        """How many APDUs were counted since the plan was created or cleared."""
        return self._count

    def _schedule(self, k: int, fault: Fault) -> None:
        if k < 1:
            raise ValueError("k counts APDUs from 1")
        self._faults[self._count + k] = fault

    def remove_at(self, k: int) -> None:
        """Pull the card out when the k-th APDU from now arrives."""
        self._schedule(k, Fault(FaultKind.REMOVE))

    def reset_at(self, k: int) -> None:
        """Reset the card (lose PIN and selection) when the k-th APDU from now arrives."""
        self._schedule(k, Fault(FaultKind.RESET))

    def remove_on(self, header: bytes) -> None:
        """Pull the card out when the first APDU starting with ``header`` arrives."""
        self._on_header.append((bytes(header), Fault(FaultKind.REMOVE)))

    def reset_on(self, header: bytes) -> None:
        """Reset the card when the first APDU starting with ``header`` arrives."""
        self._on_header.append((bytes(header), Fault(FaultKind.RESET)))

    def status_at(self, k: int, sw: int) -> None:
        """Answer the k-th APDU from now with ``sw`` without processing it."""
        if not 0 <= sw <= 0xFFFF:
            raise ValueError("a status word has two bytes")
        self._schedule(k, Fault(FaultKind.STATUS, sw))

    def clear(self) -> None:
        """Cancel every scheduled fault and restart the count."""
        self._faults.clear()
        self._on_header.clear()
        self._count = 0

    @property
    def pending(self) -> int:
        """How many faults are still scheduled."""
        return len(self._faults) + len(self._on_header)

    def next_apdu(self, apdu: bytes = b"") -> Fault | None:
        """Count one APDU and return the fault scheduled for it, if any."""
        self._count += 1
        for index, (header, fault) in enumerate(self._on_header):
            if _header_matches(apdu, header):
                del self._on_header[index]
                return fault
        return self._faults.pop(self._count, None)


def _header_matches(apdu: bytes, header: bytes) -> bool:
    """Whether ``apdu`` starts with ``header``, its CLA taken without the SM bits."""
    if len(apdu) < len(header):
        return False
    if not header:
        return True
    mask = ~SECURE_MESSAGING_BITS & 0xFF
    return apdu[0] & mask == header[0] & mask and apdu[1 : len(header)] == header[1:]
