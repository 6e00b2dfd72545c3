"""The transport interface: how APDUs reach a card.

Two implementations exist: :class:`keymanager.card.pcsc.PcscTransport` (a real reader
through pyscard, the only module that imports pyscard) and :class:`LocalTransport`
(an in-process card such as the simulator).  Everything above this layer talks to a
:class:`Transport` and cannot tell the two apart.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from keymanager.card.errors import CardRemoved, NoCard


class Transport(ABC):
    """A connection to one card in one reader."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The reader's name (or a description of the in-process card)."""

    @property
    @abstractmethod
    def atr(self) -> bytes:
        """The card's answer to reset."""

    @property
    def supports_extended_length(self) -> bool:
        """Whether extended-length APDUs reach the card (readers that can't: use chaining)."""
        return True

    @abstractmethod
    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU and return the response APDU (data followed by SW1 SW2).

        :raises TransportError: the card or the reader is gone.
        """

    @abstractmethod
    def reconnect(self, *, reset: bool = False) -> None:
        """Reconnect to the card, optionally resetting it (which drops PIN state)."""

    @abstractmethod
    def close(self) -> None:
        """Release the card."""

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the card exclusively for a multi-APDU job (a PC/SC transaction)."""
        yield

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class VirtualCard(Protocol):
    """What :class:`LocalTransport` needs from an in-process card (e.g. the simulator)."""

    def power_on(self) -> bytes:
        """Reset the card's volatile state and return its ATR."""
        ...

    def process_apdu(self, apdu: bytes) -> bytes:
        """Process one command APDU and return the response APDU.

        May raise :class:`~keymanager.card.errors.TransportError` subclasses to model
        faults such as a card pulled out of the reader.
        """
        ...


class LocalTransport(Transport):
    """A transport to a card living in this process."""

    def __init__(self, card: VirtualCard, name: str = "Simulated card") -> None:
        self._card: VirtualCard | None = card
        self._name = name
        self._atr = card.power_on()
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def atr(self) -> bytes:
        return self._atr

    def _require_card(self) -> VirtualCard:
        if self._card is None:
            raise NoCard(f"{self._name}: the connection was closed")
        return self._card

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            return self._require_card().process_apdu(bytes(apdu))

    def reconnect(self, *, reset: bool = False) -> None:
        with self._lock:
            card = self._require_card()
            if reset:
                self._atr = card.power_on()

    def close(self) -> None:
        self._card = None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._lock:
            if self._card is None:
                raise CardRemoved(f"{self._name}: the connection was closed")
            yield
