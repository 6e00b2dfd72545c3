"""The APDU layer of the simulator: parsing, status words, chaining and GET RESPONSE.

:func:`parse_apdu` splits ISO/IEC 7816-4 short and extended APDUs (cases 1 to 4);
:class:`CardStatus` is how a command handler ends with a status word;
:class:`ApduTransport` is the simulator's transport mixin: command chaining (CLA bit
``10``) and ``61xx`` + GET RESPONSE for answers longer than Le, around the command
dispatcher that :class:`~keymanager.simulator.card.SmartCardHsmSimulator` provides.
Protected commands (CLA bits ``0C``) are reassembled like plain ones and then handed to
the secure-messaging hooks (:mod:`~keymanager.simulator.secure_messaging`); a plain
APDU other than GET RESPONSE tells those hooks that the channel is interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from keymanager.dkek.tlv import TlvError, iter_tlvs

SW_OK = 0x9000
MAX_CHAINED_DATA = 65535
CHAINING_BIT = 0x10
SECURE_MESSAGING_BITS = 0x0C
"""CLA bits of a protected command (both set: the header is covered by the MAC)."""
INS_GET_RESPONSE = 0xC0


class CardStatus(Exception):
    """Internal: end the command with this status word (and optional data)."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw
        self.data = data


@dataclass(frozen=True)
class Command:
    """A parsed command APDU."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    """Expected response length; ``None`` when the APDU has no Le field."""
    le_max: bool = False
    """The Le field was all zeros ("as much as there is")."""


def parse_apdu(raw: bytes) -> Command:
    """Split an APDU into header, data and Le (ISO/IEC 7816-4 short and extended cases).

    :raises CardStatus: 6700 for a malformed length encoding.
    """
    if len(raw) < 4:
        raise CardStatus(0x6700)
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    body = raw[4:]
    if not body:
        return Command(cla, ins, p1, p2)
    if len(body) == 1:
        le = body[0]
        return Command(cla, ins, p1, p2, ne=le or 256, le_max=le == 0)
    if body[0] != 0:
        lc = body[0]
        if len(body) == 1 + lc:
            return Command(cla, ins, p1, p2, bytes(body[1:]))
        if len(body) == 2 + lc:
            le = body[-1]
            return Command(cla, ins, p1, p2, bytes(body[1:-1]), ne=le or 256, le_max=le == 0)
        raise CardStatus(0x6700)
    if len(body) == 3:
        le = int.from_bytes(body[1:3], "big")
        return Command(cla, ins, p1, p2, ne=le or 65536, le_max=le == 0)
    if len(body) < 3:
        raise CardStatus(0x6700)
    lc = int.from_bytes(body[1:3], "big")
    if lc == 0:
        raise CardStatus(0x6700)
    if len(body) == 3 + lc:
        return Command(cla, ins, p1, p2, bytes(body[3:]))
    if len(body) == 5 + lc:
        le = int.from_bytes(body[-2:], "big")
        return Command(cla, ins, p1, p2, bytes(body[3:-2]), ne=le or 65536, le_max=le == 0)
    raise CardStatus(0x6700)


def tlv_map(data: bytes) -> dict[int, bytes]:
    """Top-level TLVs of ``data`` by integer tag (the last of a repeated tag wins)."""
    try:
        return {int.from_bytes(item.tag, "big"): item.value for item in iter_tlvs(data)}
    except TlvError:
        raise CardStatus(0x6A80) from None


def sw_bytes(sw: int) -> bytes:
    """The two status-word bytes SW1 SW2."""
    return sw.to_bytes(2, "big")


class ApduTransport:
    """Mixin: the transport layer (chaining, GET RESPONSE) in front of :meth:`_dispatch`."""

    _pending: bytes | None
    """Response bytes not yet fetched with GET RESPONSE."""
    _chain: tuple[tuple[int, int, int, int], bytearray] | None
    """Header and data collected so far from a command chain."""

    def _process(self, raw: bytes) -> bytes:
        try:
            command = parse_apdu(raw)
        except CardStatus as status:
            self._pending = None
            self._secure_messaging_interrupted("malformed APDU")
            return sw_bytes(status.sw)
        sm_bits = command.cla & SECURE_MESSAGING_BITS
        protected = sm_bits == SECURE_MESSAGING_BITS
        base_cla = command.cla & ~(CHAINING_BIT | SECURE_MESSAGING_BITS) & 0xFF
        if base_cla not in (0x00, 0x80) or (sm_bits and not protected):
            self._pending = None
            self._chain = None
            self._secure_messaging_interrupted("unknown class byte")
            return sw_bytes(0x6E00)
        if command.ins == INS_GET_RESPONSE and not command.cla & (CHAINING_BIT | sm_bits):
            return self._get_response(command)  # plain GET RESPONSE leaves a channel alone
        self._pending = None
        if not protected:
            self._secure_messaging_interrupted("plain APDU")
        elif not self._secure_channel_open():
            self._chain = None
            return sw_bytes(0x6882)
        header = (command.cla & ~CHAINING_BIT & 0xFF, command.ins, command.p1, command.p2)
        if command.cla & CHAINING_BIT:
            if self._chain is None or self._chain[0] != header:
                self._chain = (header, bytearray())
            self._chain[1].extend(command.data)
            if len(self._chain[1]) > MAX_CHAINED_DATA:
                self._chain = None
                return sw_bytes(0x6700)
            return sw_bytes(SW_OK)
        if self._chain is not None:
            chained_header, collected = self._chain
            self._chain = None
            if chained_header == header:
                command = replace(command, data=bytes(collected) + command.data)
        if protected:
            data, sw = self._secure_command(command)
        else:
            try:
                data = self._dispatch(command)
                sw = SW_OK
            except CardStatus as status:
                data, sw = status.data, status.sw
        if sw == SW_OK and data:
            limit = command.ne or 0
            if len(data) > limit:
                data, rest = data[:limit], data[limit:]
                self._pending = rest
                sw = 0x6100 | (min(len(rest), 256) & 0xFF)
        return data + sw_bytes(sw)

    def _get_response(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            return sw_bytes(0x6A86)
        if self._pending is None:
            return sw_bytes(0x6985)
        limit = command.ne if command.ne is not None else 256
        data, rest = self._pending[:limit], self._pending[limit:]
        if rest:
            self._pending = rest
            return data + sw_bytes(0x6100 | (min(len(rest), 256) & 0xFF))
        self._pending = None
        return data + sw_bytes(SW_OK)

    def _dispatch(self, command: Command) -> bytes:
        """Run one complete command; provided by the simulator class."""
        raise NotImplementedError

    # Secure-messaging hooks, provided by
    # :class:`~keymanager.simulator.secure_messaging.SecureMessaging` (which comes before
    # this class in the simulator's bases).

    def _secure_channel_open(self) -> bool:
        """Whether a secure channel is open."""
        raise NotImplementedError

    def _secure_messaging_interrupted(self, reason: str) -> None:
        """A plain or unreadable APDU arrived: end an open channel."""
        raise NotImplementedError

    def _secure_command(self, command: Command) -> tuple[bytes, int]:
        """Unwrap, run and wrap a complete protected command: (data, outer SW)."""
        raise NotImplementedError
