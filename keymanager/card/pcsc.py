"""The PC/SC transport: real readers through pcscd, via pyscard's low-level ``scard`` API.

This is the only module of the package that imports pyscard (module ``smartcard``).
Importing it without pyscard fails with :class:`ImportError`; everything else in the
package imports without pyscard, so a caller that wants to run without PC/SC (tests,
the simulator) simply never imports this module.

* :func:`list_readers` lists the readers with whether a card is in each and its ATR.
* :class:`PcscTransport` connects to the card in one reader, in *shared* mode so other
  programs (GnuPG's scdaemon, a browser) can keep using the reader between our jobs;
  :meth:`PcscTransport.exclusive` opens a PC/SC transaction (``SCardBeginTransaction``)
  for the span of a multi-APDU job so nobody else's APDUs are interleaved with ours.
  T=1 is preferred (the SmartCard-HSM speaks both; OpenSC forces T=1), T=0 is the
  fallback.

Every PC/SC error code is mapped to the typed tree of :mod:`keymanager.card.errors`
(``PcscUnavailable``, ``NoReader``, ``NoCard``, ``CardRemoved``, ``CardReset``,
``CardInUse``, ``ExtendedLengthUnsupported``, or plain ``TransportError``).

Extended length: the transport starts by assuming the reader carries extended APDUs.
If transmitting an extended APDU fails with an error that readers without extended
length give (``SCARD_E_NOT_TRANSACTED``, ``SCARD_F_COMM_ERROR``,
``SCARD_E_INSUFFICIENT_BUFFER``, ``SCARD_E_INVALID_PARAMETER``), the transport sets
:attr:`PcscTransport.supports_extended_length` to ``False`` and raises
:class:`ExtendedLengthUnsupported`; :class:`keymanager.card.apdu.ApduConnection`
catches that and resends the command in short form (with command chaining and
GET RESPONSE), as OpenSC's SmartCard-HSM driver does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from smartcard import scard

from keymanager.card.errors import (
    CardInUse,
    CardRemoved,
    CardReset,
    ExtendedLengthUnsupported,
    NoCard,
    NoReader,
    PcscUnavailable,
    TransportError,
)
from keymanager.card.transport import Transport

logger = logging.getLogger(__name__)

_MASK = 0xFFFFFFFF


def _code(name: str, default: int) -> int:
    """A PC/SC return code by name, normalised to an unsigned 32-bit value."""
    value = getattr(scard, name, default)
    return int(value) & _MASK


SCARD_S_SUCCESS = _code("SCARD_S_SUCCESS", 0)
SCARD_E_NO_SERVICE = _code("SCARD_E_NO_SERVICE", 0x8010001D)
SCARD_E_SERVICE_STOPPED = _code("SCARD_E_SERVICE_STOPPED", 0x8010001E)
SCARD_E_NO_READERS_AVAILABLE = _code("SCARD_E_NO_READERS_AVAILABLE", 0x8010002E)
SCARD_E_UNKNOWN_READER = _code("SCARD_E_UNKNOWN_READER", 0x80100009)
SCARD_E_READER_UNAVAILABLE = _code("SCARD_E_READER_UNAVAILABLE", 0x80100017)
SCARD_E_NO_SMARTCARD = _code("SCARD_E_NO_SMARTCARD", 0x8010000C)
SCARD_W_REMOVED_CARD = _code("SCARD_W_REMOVED_CARD", 0x80100069)
SCARD_W_UNPOWERED_CARD = _code("SCARD_W_UNPOWERED_CARD", 0x80100067)
SCARD_W_UNRESPONSIVE_CARD = _code("SCARD_W_UNRESPONSIVE_CARD", 0x80100066)
SCARD_W_RESET_CARD = _code("SCARD_W_RESET_CARD", 0x80100068)
SCARD_E_SHARING_VIOLATION = _code("SCARD_E_SHARING_VIOLATION", 0x8010000B)
SCARD_E_PROTO_MISMATCH = _code("SCARD_E_PROTO_MISMATCH", 0x8010000F)
SCARD_E_NOT_TRANSACTED = _code("SCARD_E_NOT_TRANSACTED", 0x80100016)
SCARD_F_COMM_ERROR = _code("SCARD_F_COMM_ERROR", 0x80100013)
SCARD_E_INSUFFICIENT_BUFFER = _code("SCARD_E_INSUFFICIENT_BUFFER", 0x80100008)
SCARD_E_INVALID_PARAMETER = _code("SCARD_E_INVALID_PARAMETER", 0x80100004)
SCARD_E_TIMEOUT = _code("SCARD_E_TIMEOUT", 0x8010000A)

_EXTENDED_LENGTH_FAILURES = frozenset(
    {
        SCARD_E_NOT_TRANSACTED,
        SCARD_F_COMM_ERROR,
        SCARD_E_INSUFFICIENT_BUFFER,
        SCARD_E_INVALID_PARAMETER,
    }
)

PCSCD_NOT_RUNNING = (
    "pcscd is not running (or not installed): start the PC/SC service, e.g. "
    "'systemctl start pcscd.socket', and retry"
)
CARD_IN_USE = (
    "the card is held by another program, e.g. GnuPG's scdaemon or another tool that "
    "keeps a PC/SC connection open; close it and retry"
)


def _message(code: int) -> str:
    try:
        return str(scard.SCardGetErrorMessage(code))
    except Exception:  # pyscard versions differ; the code alone is enough
        return "PC/SC error"


def error_for_pcsc(code: int, where: str) -> TransportError:
    """The typed error for a PC/SC return code (``where`` names the operation and reader)."""
    code &= _MASK
    text = f"{where}: {_message(code)} (0x{code:08X})"
    if code in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
        return PcscUnavailable(f"{where}: {PCSCD_NOT_RUNNING}")
    if code in (SCARD_E_NO_READERS_AVAILABLE, SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE):
        return NoReader(text)
    if code == SCARD_E_NO_SMARTCARD:
        return NoCard(text)
    if code in (SCARD_W_REMOVED_CARD, SCARD_W_UNPOWERED_CARD, SCARD_W_UNRESPONSIVE_CARD):
        return CardRemoved(text)
    if code == SCARD_W_RESET_CARD:
        return CardReset(text)
    if code == SCARD_E_SHARING_VIOLATION:
        return CardInUse(f"{where}: {CARD_IN_USE}")
    return TransportError(text)


def _check(result: Any, where: str) -> None:
    if int(result) & _MASK != SCARD_S_SUCCESS:
        raise error_for_pcsc(int(result), where)


@dataclass(frozen=True)
class ReaderInfo:
    """One reader: its name, whether a card is in it, and the card's ATR (empty if none)."""

    name: str
    has_card: bool
    atr: bytes


def _establish_context() -> Any:
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    _check(result, "connecting to the PC/SC service")
    return context


def _release_context(context: Any) -> None:
    try:
        scard.SCardReleaseContext(context)
    except Exception:  # releasing is best effort (pcscd may be gone)
        logger.debug("SCardReleaseContext failed", exc_info=True)


def _reader_names(context: Any) -> list[str]:
    result, readers = scard.SCardListReaders(context, [])
    code = int(result) & _MASK
    if code == SCARD_E_NO_READERS_AVAILABLE:
        return []
    _check(code, "listing readers")
    return [str(name) for name in readers]


def list_readers() -> list[ReaderInfo]:
    """The readers pcscd knows, with card presence and ATR.

    An empty list means no reader is connected (not an error here; connecting to a
    reader that is not there raises :class:`NoReader`).

    :raises PcscUnavailable: pcscd is not running.
    :raises TransportError: any other PC/SC failure.
    """
    context = _establish_context()
    try:
        names = _reader_names(context)
        if not names:
            return []
        result, states = scard.SCardGetStatusChange(
            context, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        )
        code = int(result) & _MASK
        if code not in (SCARD_S_SUCCESS, SCARD_E_TIMEOUT):
            _check(code, "reading the reader states")
        infos = []
        for name, event_state, atr in states:
            present = bool(event_state & scard.SCARD_STATE_PRESENT)
            infos.append(ReaderInfo(str(name), present, bytes(atr) if present and atr else b""))
        return infos
    finally:
        _release_context(context)


def _is_extended(apdu: bytes) -> bool:
    """Whether an encoded APDU uses the extended-length form (its byte 4 is 00 with more)."""
    return len(apdu) > 5 and apdu[4] == 0


class PcscTransport(Transport):
    """A shared connection to the card in one PC/SC reader.

    :param reader_name: the reader's full name as :func:`list_readers` gives it, or a
        unique prefix of it.
    :param auto_reconnect: when the card was reset by someone else
        (``SCARD_W_RESET_CARD``), reconnect the handle before raising
        :class:`CardReset`, so the caller only has to start its session again (SELECT,
        VERIFY); without it the caller must call :meth:`reconnect` itself.  The command
        that met the reset is never resent automatically: the card's state (PIN,
        selection) is gone and resending could act in the wrong context.
    :raises PcscUnavailable: pcscd is not running.
    :raises NoReader: no reader of that name.
    :raises NoCard: the reader is empty.
    :raises CardInUse: another program holds the card exclusively.
    """

    def __init__(self, reader_name: str, *, auto_reconnect: bool = False) -> None:
        self._auto_reconnect = auto_reconnect
        self._lock = threading.RLock()
        self._transaction_depth = 0
        self._extended = True
        self._card: Any = None
        self._context = _establish_context()
        try:
            self._name = self._resolve(reader_name)
            self._connect()
        except BaseException:
            _release_context(self._context)
            raise

    def _resolve(self, wanted: str) -> str:
        names = _reader_names(self._context)
        if not names:
            raise NoReader("no smart-card reader is connected")
        if wanted in names:
            return wanted
        matches = [name for name in names if name.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        raise NoReader(f"no reader named {wanted!r} (readers: {', '.join(names)})")

    def _connect(self) -> None:
        result, card, protocol = scard.SCardConnect(
            self._context, self._name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
        )
        if int(result) & _MASK == SCARD_E_PROTO_MISMATCH:
            result, card, protocol = scard.SCardConnect(
                self._context,
                self._name,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
        _check(result, f"connecting to the card in {self._name}")
        self._card = card
        self._protocol = protocol
        self._atr = self._read_atr()

    def _read_atr(self) -> bytes:
        result, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        _check(result, f"reading the ATR in {self._name}")
        return bytes(atr)

    def _require_card(self) -> Any:
        if self._card is None:
            raise NoCard(f"{self._name}: the connection was closed")
        return self._card

    @property
    def name(self) -> str:
        return self._name

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def protocol(self) -> str:
        """``"T=1"`` or ``"T=0"``: the protocol the reader negotiated."""
        return "T=1" if self._protocol == scard.SCARD_PROTOCOL_T1 else "T=0"

    @property
    def supports_extended_length(self) -> bool:
        return self._extended

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            card = self._require_card()
            result, response = scard.SCardTransmit(card, self._protocol, list(apdu))
            code = int(result) & _MASK
            if code == SCARD_S_SUCCESS:
                if not response:
                    # A card always answers at least a status word; an empty answer
                    # means the reader lost the card in the middle of the command
                    # (vpcd reports a vanished card this way).
                    raise CardRemoved(
                        f"the card in {self._name} stopped answering: it was probably removed"
                    )
                return bytes(response)
            if code in _EXTENDED_LENGTH_FAILURES and _is_extended(apdu) and self._extended:
                self._extended = False
                logger.info(
                    "%s: an extended-length APDU failed (0x%08X); using short APDUs",
                    self._name,
                    code,
                )
                raise ExtendedLengthUnsupported(
                    f"{self._name}: the reader did not transmit an extended-length APDU"
                )
            if code == SCARD_W_RESET_CARD and self._auto_reconnect:
                self._reconnect(scard.SCARD_LEAVE_CARD)
            raise error_for_pcsc(code, f"sending a command to {self._name}")

    def _reconnect(self, initialization: int) -> None:
        card = self._require_card()
        result, protocol = scard.SCardReconnect(
            card,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            initialization,
        )
        _check(result, f"reconnecting to the card in {self._name}")
        self._protocol = protocol
        self._transaction_depth = 0
        self._atr = self._read_atr()

    def reconnect(self, *, reset: bool = False) -> None:
        with self._lock:
            self._reconnect(scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._lock:
            card = self._require_card()
            outermost = self._transaction_depth == 0
            if outermost:
                result = scard.SCardBeginTransaction(card)
                if int(result) & _MASK == SCARD_W_RESET_CARD and self._auto_reconnect:
                    self._reconnect(scard.SCARD_LEAVE_CARD)
                _check(result, f"reserving the card in {self._name}")
            self._transaction_depth += 1
            try:
                yield
            finally:
                self._transaction_depth -= 1
                if outermost and self._card is not None and self._transaction_depth == 0:
                    result = scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
                    if int(result) & _MASK != SCARD_S_SUCCESS:
                        logger.debug(
                            "%s: SCardEndTransaction failed (0x%08X)",
                            self._name,
                            int(result) & _MASK,
                        )
                self._transaction_depth = max(self._transaction_depth, 0)

    def close(self) -> None:
        with self._lock:
            if self._card is not None:
                try:
                    scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
                except Exception:  # best effort: the reader may be gone
                    logger.debug("SCardDisconnect failed", exc_info=True)
                self._card = None
            if self._context is not None:
                _release_context(self._context)
                self._context = None
