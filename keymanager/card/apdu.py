"""APDU encoding and the command/response protocol on top of a :class:`Transport`.

:class:`CommandApdu` encodes short and extended APDUs (ISO/IEC 7816-4 cases 1-4).
:class:`ApduConnection` sends them: it chooses extended length when the data or the
expected response does not fit a short APDU, falls back to command chaining when the
reader cannot carry extended APDUs, collects ``61xx`` responses with GET RESPONSE
(always CLA ``00``, as ISO/IEC 7816-4 and OpenSC have it),
repeats a command with the right Le on ``6Cxx``, and turns error status words into
the typed exceptions of :mod:`keymanager.card.errors`.

Inside a secure-messaging channel (:mod:`keymanager.card.secure_messaging`) every
command is wrapped before and unwrapped after all of that; the transport then carries
only protected APDUs, and only SELECT and chip authentication go in the clear.

Every APDU is logged at the TRAFFIC level (5, below DEBUG).  Commands and responses
that carry PINs, shares or key material are flagged by the caller and their data is
replaced by ``<N bytes redacted>`` before anything is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from keymanager.card.errors import (
    ExtendedLengthUnsupported,
    MalformedResponse,
    TransportError,
    error_for_status,
)
from keymanager.card.secure_messaging import (
    SW_SM_UNSUPPORTED,
    SW_SM_WRONG,
    ChannelEndedByCard,
    SecureChannel,
    SecureMessagingError,
    SecureMessagingUnavailable,
    UnprotectedRefusal,
)
from keymanager.card.transport import Transport

TRAFFIC = 5
"""Log level of APDU traces, below DEBUG."""
logging.addLevelName(TRAFFIC, "TRAFFIC")

logger = logging.getLogger(__name__)

SW_OK = 0x9000
SHORT_MAX_DATA = 255
SHORT_MAX_LE = 256
EXTENDED_MAX_LE = 65536
LE_MAX = -1
"""Pass as ``le`` to ask for as much as the card will send (Le = 00 or 0000)."""
MAX_GET_RESPONSES = 320
"""GET RESPONSE rounds one command may take (a 64 KiB answer in 256-byte parts is 256)."""
MAX_RESPONSE_DATA = EXTENDED_MAX_LE + SHORT_MAX_LE
"""Most response data one command may collect (one extended answer plus a short one)."""

_CHAINING_BIT = 0x10
_RETRY_ON_NEW_CHANNEL = (SW_SM_UNSUPPORTED, SW_SM_WRONG)


@dataclass(frozen=True)
class CommandApdu:
    """One command APDU.

    :param le: expected response length; ``None`` for no Le field, :data:`LE_MAX` for
        "as much as possible".
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    name: str = ""
    sensitive_data: bool = False
    sensitive_response: bool = False
    prefer_extended: bool = False
    """Send in extended form when the transport can, even if short would fit (e.g. to
    ask for up to 65536 response bytes with one APDU, as OpenSC does for ENUMERATE)."""
    protect: bool = True
    """Wrap the command when a secure-messaging channel is open; ``False`` for the
    commands that are always sent in the clear (SELECT, chip authentication), which
    end a channel on the card."""

    def needs_extended(self) -> bool:
        """Whether the APDU cannot be encoded in short form."""
        return len(self.data) > SHORT_MAX_DATA or (
            self.le is not None and self.le != LE_MAX and self.le > SHORT_MAX_LE
        )

    def encode(self, *, extended: bool | None = None) -> bytes:
        """The APDU bytes; short form unless ``extended`` (or the sizes) demand otherwise."""
        use_extended = self.needs_extended() if extended is None else extended
        if not use_extended and self.needs_extended():
            raise ValueError("the APDU does not fit a short APDU")
        header = bytes([self.cla, self.ins, self.p1, self.p2])
        if len(self.data) > 65535:
            raise ValueError("APDU data longer than 65535 bytes")
        body = b""
        if use_extended:
            if self.data:
                body += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                le = 0 if self.le in (LE_MAX, EXTENDED_MAX_LE) else self.le
                body += (b"" if self.data else b"\x00") + le.to_bytes(2, "big")
        else:
            if self.data:
                body += bytes([len(self.data)]) + self.data
            if self.le is not None:
                body += bytes([0 if self.le in (LE_MAX, SHORT_MAX_LE) else self.le])
        return header + body

    def describe(self) -> str:
        """A one-line trace of the command with sensitive data redacted."""
        header = f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"
        if not self.data:
            data = ""
        elif self.sensitive_data:
            data = f" <{len(self.data)} bytes redacted>"
        else:
            data = " " + self.data.hex().upper()
        le = "" if self.le is None else f" Le={'max' if self.le == LE_MAX else self.le}"
        label = f"{self.name}: " if self.name else ""
        return f"{label}{header}{data}{le}"


@dataclass(frozen=True)
class ResponseApdu:
    """Response data and status word."""

    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        """Split a raw response into data and status word."""
        if len(raw) < 2:
            raise MalformedResponse(f"response of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


class ApduConnection:
    """Sends :class:`CommandApdu` objects over a transport and checks the answers."""

    def __init__(self, transport: Transport, *, max_short_chunk: int = SHORT_MAX_DATA) -> None:
        self.transport = transport
        self._max_short_chunk = max_short_chunk
        self.apdu_count = 0
        """How many APDUs were exchanged (GET RESPONSE and chained parts included)."""
        self.channel: SecureChannel | None = None
        """The open secure-messaging channel, if any."""
        self.reopen_channel: Callable[[], None] | None = None
        """Opens a new channel; set while the session runs on secure messaging, so that
        a channel that ended (SELECT, an error) is opened again before the next
        protected command, and no command is ever sent in the clear instead."""
        self._reopening = False

    def end_channel(self) -> None:
        """Forget the channel (the card forgets it at the next plain APDU, or did)."""
        self.channel = None

    def _exchange(self, command: CommandApdu, raw: bytes) -> ResponseApdu:
        self.apdu_count += 1
        if logger.isEnabledFor(TRAFFIC):
            logger.log(TRAFFIC, "SEND %s", command.describe())
        answer = self.transport.transmit(raw)
        if len(answer) > MAX_RESPONSE_DATA + 2:
            raise MalformedResponse(
                f"{command.name or 'the command'}: the card answered {len(answer)} bytes, "
                f"more than any APDU can carry"
            )
        response = ResponseApdu.parse(answer)
        if logger.isEnabledFor(TRAFFIC):
            if command.sensitive_response and response.data:
                shown = f"<{len(response.data)} bytes redacted>"
            else:
                shown = response.data.hex().upper()
            logger.log(TRAFFIC, "RECV %s SW=%04X", shown, response.sw)
        return response

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        """Send a command and return data and SW without judging the SW.

        Inside a channel the command is protected and the answer checked and decrypted
        (:class:`~keymanager.card.secure_messaging.ChannelBroken` when it cannot be
        trusted); a command with ``protect=False`` ends the channel first.

        Handles extended length or chaining, ``61xx`` and ``6Cxx``.  When the transport
        reports (by raising :class:`ExtendedLengthUnsupported` and clearing its
        ``supports_extended_length``) that an extended APDU cannot pass the reader, the
        command is sent again in short form.
        """
        if command.protect and self.channel is None and self.reopen_channel is not None:
            self._reopen()
        if self.channel is not None:
            if command.protect:
                try:
                    return self._transmit_protected(self.channel, command)
                except ChannelEndedByCard as ended:
                    # 6882: the card runs no channel (it was reset, or another program
                    # selected the applet); 6988: the card's channel is another one
                    # (another program opened its own).  Either way the card did not
                    # carry the command out, so a new channel may send it again, once;
                    # a second refusal is raised.
                    if ended.sw not in _RETRY_ON_NEW_CHANNEL or self.reopen_channel is None:
                        raise
                    logger.warning("%s; opening a new channel", ended)
                    self._reopen()
                    if self.channel is None:
                        raise
                    return self._transmit_protected(self.channel, command)
            self.end_channel()
        return self._transmit_plain(command)

    def _reopen(self) -> None:
        if self._reopening or self.reopen_channel is None:
            return
        self._reopening = True
        try:
            self.reopen_channel()
        except SecureMessagingUnavailable as error:
            raise SecureMessagingUnavailable(
                f"secure messaging could not be opened again ({error}); nothing is sent "
                "in the clear in a session that ran on secure messaging"
            ) from None
        finally:
            self._reopening = False

    def _transmit_protected(self, channel: SecureChannel, command: CommandApdu) -> ResponseApdu:
        if logger.isEnabledFor(TRAFFIC):
            logger.log(TRAFFIC, "SEND (protected) %s", command.describe())
        could_extend = self.transport.supports_extended_length
        try:
            try:
                response = self._transmit_once(self._wrapped(channel, command, could_extend))
            except ExtendedLengthUnsupported:
                if not could_extend or self.transport.supports_extended_length:
                    raise
                channel.undo_wrap()  # the reader refused it: the card never saw it
                logger.debug("%s: falling back to short APDUs", self.transport.name)
                response = self._transmit_once(self._wrapped(channel, command, False))
            data, sw = channel.unwrap(response.data, response.sw, command.name)
        except UnprotectedRefusal as refusal:
            # Only the refusal is taken; the channel goes on (if the card dropped it,
            # the next answer says so and ends it).
            logger.info("%s", refusal)
            return ResponseApdu(b"", refusal.sw)
        except (SecureMessagingError, TransportError):
            self.end_channel()
            raise
        if logger.isEnabledFor(TRAFFIC):
            if command.sensitive_response and data:
                shown = f"<{len(data)} bytes redacted>"
            else:
                shown = data.hex().upper()
            logger.log(TRAFFIC, "RECV (protected) %s SW=%04X", shown, sw)
        return ResponseApdu(data, sw)

    @staticmethod
    def _wrapped(channel: SecureChannel, command: CommandApdu, extended: bool) -> CommandApdu:
        protected = channel.wrap(
            command.cla,
            command.ins,
            command.p1,
            command.p2,
            command.data,
            command.le,
            extended=extended,
        )
        return CommandApdu(
            protected.cla,
            command.ins,
            command.p1,
            command.p2,
            protected.data,
            le=LE_MAX,
            name=command.name,
            prefer_extended=extended,
        )

    def _transmit_plain(self, command: CommandApdu) -> ResponseApdu:
        could_extend = self.transport.supports_extended_length
        try:
            return self._transmit_once(command)
        except ExtendedLengthUnsupported:
            if not could_extend or self.transport.supports_extended_length:
                raise
            logger.debug("%s: falling back to short APDUs", self.transport.name)
            return self._transmit_once(command)

    def _transmit_once(self, command: CommandApdu) -> ResponseApdu:
        extended = command.needs_extended() or command.prefer_extended
        if extended and not self.transport.supports_extended_length:
            if command.le is not None and command.le != LE_MAX and command.le > SHORT_MAX_LE:
                command = replace(command, le=LE_MAX)
            if len(command.data) > SHORT_MAX_DATA:
                return self._transmit_chained(command)
            extended = False
        response = self._exchange(command, command.encode(extended=extended))
        if response.sw & 0xFF00 == 0x6C00:
            command = replace(command, le=response.sw & 0xFF or SHORT_MAX_LE)
            response = self._exchange(command, command.encode(extended=extended))
        return self._collect(command, response)

    def _transmit_chained(self, command: CommandApdu) -> ResponseApdu:
        chunk = self._max_short_chunk
        parts = [command.data[i : i + chunk] for i in range(0, len(command.data), chunk)]
        response = ResponseApdu(b"", SW_OK)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            piece = replace(
                command,
                cla=command.cla | (0 if last else _CHAINING_BIT),
                data=part,
                le=command.le if last else None,
            )
            response = self._exchange(piece, piece.encode(extended=False))
            if not last and response.sw != SW_OK:
                if response.sw in (0x6884, 0x6E00, 0x6D00):
                    raise ExtendedLengthUnsupported(
                        f"{self.transport.name}: the reader cannot send {len(command.data)}-byte "
                        "APDUs and the card refuses command chaining"
                    )
                return response
        return self._collect(command, response)

    def _collect(self, command: CommandApdu, response: ResponseApdu) -> ResponseApdu:
        data = bytearray(response.data)
        sw = response.sw
        rounds = 0
        while sw & 0xFF00 == 0x6100:
            rounds += 1
            if rounds > MAX_GET_RESPONSES or len(data) > MAX_RESPONSE_DATA:
                raise MalformedResponse(
                    f"{command.name or 'the command'}: the card kept answering 61xx "
                    f"(more data) after {rounds - 1} GET RESPONSE commands and "
                    f"{len(data)} bytes"
                )
            get_response = CommandApdu(
                0x00,
                0xC0,
                0,
                0,
                le=sw & 0xFF or SHORT_MAX_LE,
                name="GET RESPONSE",
                sensitive_response=command.sensitive_response,
            )
            part = self._exchange(get_response, get_response.encode(extended=False))
            data += part.data
            sw = part.sw
        return ResponseApdu(bytes(data), sw)

    def send(self, command: CommandApdu, *, accept: tuple[int, ...] = ()) -> bytes:
        """Send a command and return its data; raise the typed error for a bad SW.

        :param accept: further status words (besides 9000) to treat as success.
        """
        response = self.transmit(command)
        if response.sw != SW_OK and response.sw not in accept:
            raise error_for_status(response.sw, command.name)
        return response.data
