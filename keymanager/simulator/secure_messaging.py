"""Secure messaging of the simulator: chip authentication, then wrapped APDUs.

The host agrees a key with the card's device key (the key of the device CVC in EF 2F02):
MSE SET AT (``00 22 41 A4``, protocol id-CA-ECDH-AES-CBC-CMAC-128) and GENERAL
AUTHENTICATE (``00 86 00 00``, the host's ephemeral point) open a channel with an AES
key ``Kenc``, a CMAC key ``Kmac`` and a 16-byte send sequence counter (SSC).  Every
command with CLA bits ``0C`` is then unwrapped (MAC checked, body decrypted) before the
dispatcher sees it, and its answer is wrapped (``87`` encrypted data, ``99`` status word,
``8E`` MAC).  The byte layout is ``../shared/spec/pka-sm-xkek.md`` ("Secure messaging");
the decisions where it leaves room are in ``docs/card.md`` ("Simulator", "Secure
messaging").

:class:`SecureMessaging` is the mixin; :class:`~keymanager.simulator.apdu.ApduTransport`
calls its three hooks (:meth:`SecureMessaging._secure_channel_open`,
:meth:`SecureMessaging._secure_messaging_interrupted` and
:meth:`SecureMessaging._secure_command`).  Nothing here logs a key, a counter or a byte
of plaintext.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs, read_tlv
from keymanager.simulator.apdu import (
    CHAINING_BIT,
    SECURE_MESSAGING_BITS,
    SW_OK,
    CardStatus,
    Command,
    sw_bytes,
)
from keymanager.simulator.core import DEVICE_KEY, SimulatorCore
from keymanager.simulator.crypto import cryptography_ec_key, digest

logger = logging.getLogger(__name__)

OID_CA_ECDH_AES_CBC_CMAC_128 = bytes.fromhex("04007F00070202030202")
"""id-CA-ECDH-AES-CBC-CMAC-128 (BSI TR-03110), the only protocol the card offers."""
BLOCK = 16
MAC_LENGTH = 8
NONCE_LENGTH = 8
SSC_MODULUS = 1 << (8 * BLOCK)

INS_MSE = 0x22
INS_GENERAL_AUTHENTICATE = 0x86

SW_SM_NOT_SUPPORTED = 0x6882
"""A protected command while no channel is open."""
SW_SM_MISSING = 0x6987
"""The MAC data object is missing."""
SW_SM_INCORRECT = 0x6988
"""Wrong MAC, replayed command, bad padding or malformed SM data objects."""


@dataclass
class SecureChannel:
    """The keys and the counter of one open channel."""

    kenc: bytes = field(repr=False)
    kmac: bytes = field(repr=False)
    ssc: int = field(default=0, repr=False)

    def step(self) -> bytes:
        """Increment the SSC and return it as 16 big-endian bytes."""
        self.ssc = (self.ssc + 1) % SSC_MODULUS
        return self.ssc.to_bytes(BLOCK, "big")


class _ChannelBroken(Exception):
    """Internal: the protected command cannot be accepted; the channel ends."""

    def __init__(self, sw: int, reason: str) -> None:
        super().__init__(reason)
        self.sw = sw
        self.reason = reason


def iso_pad(data: bytes, *, whole_extra_block: bool = False) -> bytes:
    """``data ‖ 80 ‖ 00…`` to a multiple of 16 bytes (ISO/IEC 9797-1 method 2).

    :param whole_extra_block: pad as Pico HSM's ``sm_wrap`` does: when ``data ‖ 80``
        is already aligned, 16 more zero bytes follow.
    """
    padded = data + b"\x80"
    if padded_length := len(padded) % BLOCK:
        return padded + bytes(BLOCK - padded_length)
    return padded + bytes(BLOCK) if whole_extra_block else padded


def iso_unpad(padded: bytes) -> bytes | None:
    """Strip trailing zeros and then the ``80``; ``None`` when there is no ``80``.

    Stripping every trailing zero tolerates a padding one block longer than needed, which
    Pico HSM's host library sends.
    """
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        return None
    return stripped[:-1]


def cmac8(key: bytes, data: bytes) -> bytes:
    """The first 8 bytes of AES-CMAC(key, data)."""
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()[:MAC_LENGTH]


def _iv(kenc: bytes, ssc: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(kenc), modes.ECB()).encryptor()  # noqa: S305 - one block: the IV
    return encryptor.update(ssc) + encryptor.finalize()


def _encrypt(kenc: bytes, ssc: bytes, padded: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(kenc), modes.CBC(_iv(kenc, ssc))).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _decrypt(kenc: bytes, ssc: bytes, ciphertext: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(kenc), modes.CBC(_iv(kenc, ssc))).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def derive_key(shared_secret: bytes, nonce: bytes, counter: int) -> bytes:
    """Kenc (counter 1) or Kmac (counter 2): SHA-1(K ‖ nonce ‖ counter)[0:16]."""
    return digest("sha1", shared_secret + nonce + counter.to_bytes(4, "big"))[:BLOCK]


def authentication_token(kmac: bytes, host_point: bytes) -> bytes:
    """CMAC(Kmac, ``7F49 { 06 OID, 86 host point }``)[0:8]."""
    template = encode_tlv(0x06, OID_CA_ECDH_AES_CBC_CMAC_128) + encode_tlv(0x86, host_point)
    return cmac8(kmac, encode_tlv(0x7F49, template))


class SecureMessaging(SimulatorCore):
    """Mixin: INS 22 (MSE SET AT), INS 86 (GENERAL AUTHENTICATE) and the channel itself."""

    _sm_protocol: bytes | None
    """The protocol chosen by MSE SET AT (kept until power-on or the next MSE SET AT)."""
    _sm_channel: SecureChannel | None

    def _dispatch(self, command: Command) -> bytes:
        """Run one complete (inner) command; provided by the simulator class."""
        raise NotImplementedError

    # --- opening the channel --------------------------------------------------------------

    def _manage_security_environment(self, command: Command) -> bytes:
        if (command.p1, command.p2) != (0x41, 0xA4):
            raise CardStatus(0x6A86)
        self._sm_protocol = None
        try:
            objects = [(item.tag, item.value) for item in iter_tlvs(command.data)]
        except TlvError:
            raise CardStatus(0x6A80) from None
        tags = [tag for tag, _ in objects]
        values = dict(objects)
        if (
            tags.count(b"\x80") != 1
            or values[b"\x80"] != OID_CA_ECDH_AES_CBC_CMAC_128
            or any(tag not in (b"\x80", b"\x84") for tag in tags)
            or tags.count(b"\x84") > 1
            or len(values.get(b"\x84", b"\x00")) != 1
        ):
            raise CardStatus(0x6A80)
        self._sm_protocol = OID_CA_ECDH_AES_CBC_CMAC_128
        return b""

    def _general_authenticate(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(0x6A86)
        if self._sm_protocol is None:
            raise CardStatus(0x6985)
        try:
            outer = read_tlv(command.data)
            inner = {item.tag: item.value for item in iter_tlvs(outer.value)}
        except TlvError:
            raise CardStatus(0x6A80) from None
        host_point = inner.get(b"\x80")
        if outer.tag != b"\x7c" or outer.next_offset != len(command.data) or host_point is None:
            raise CardStatus(0x6A80)
        record = self.state.keys[DEVICE_KEY]
        curve = curve_by_name(record.curve)
        device_key = cryptography_ec_key(curve, record.d)
        if device_key is None:  # the chain curve is one cryptography supports
            raise CardStatus(0x6F00)
        if len(host_point) != 1 + 2 * curve.field_bytes or host_point[0] != 0x04:
            raise CardStatus(0x6A80)
        try:
            host_key = ec.EllipticCurvePublicKey.from_encoded_point(device_key.curve, host_point)
        except ValueError:  # not a point of the curve
            raise CardStatus(0x6A80) from None
        shared_secret = device_key.exchange(ec.ECDH(), host_key)
        nonce = self._rng.bytes(NONCE_LENGTH)
        kmac = derive_key(shared_secret, nonce, 2)
        channel = SecureChannel(kenc=derive_key(shared_secret, nonce, 1), kmac=kmac)
        token = authentication_token(kmac, host_point)
        self._sm_channel = channel
        self._logout()  # authentication (PIN and PKA) is bound to one channel
        logger.debug("simulator: secure channel opened")
        return encode_tlv(0x7C, encode_tlv(0x81, nonce) + encode_tlv(0x82, token))

    # --- hooks of the transport layer -----------------------------------------------------

    def _secure_channel_open(self) -> bool:
        """Whether a channel is open."""
        return self._sm_channel is not None

    def _secure_messaging_interrupted(self, reason: str) -> None:
        """A plain APDU (or one the card cannot read): end an open channel and log out."""
        if self._sm_channel is not None:
            self._end_secure_channel(reason)

    def _end_secure_channel(self, reason: str) -> None:
        """Forget the channel's keys and the authentication bound to it."""
        self._sm_channel = None
        self._logout()
        logger.debug("simulator: secure channel ended (%s)", reason)

    def _secure_command(self, command: Command) -> tuple[bytes, int]:
        """Unwrap, run and wrap one complete protected command.

        :returns: the response data and the outer status word.  A command that cannot be
            unwrapped ends the channel and answers a plain ``6987`` / ``6988``.
        """
        channel = self._sm_channel
        if channel is None:
            return b"", SW_SM_NOT_SUPPORTED
        ssc = channel.step()
        try:
            inner = self._unwrap_command(channel, ssc, command)
        except _ChannelBroken as broken:
            self._end_secure_channel(broken.reason)
            return b"", broken.sw
        if inner.ins == INS_GENERAL_AUTHENTICATE or (inner.ins == INS_MSE and inner.p1 != 0x81):
            data, sw = b"", 0x6985  # no re-keying inside a channel (PKA's MSE 81 runs)
        else:
            try:
                data, sw = self._dispatch(inner), SW_OK
            except CardStatus as status:
                data, sw = status.data, status.sw
        return self._wrap_response(channel, data, sw)

    # --- wrapping -------------------------------------------------------------------------

    @staticmethod
    def _unwrap_command(channel: SecureChannel, ssc: bytes, command: Command) -> Command:
        data = command.data
        objects: list[tuple[bytes, bytes, bytes]] = []  # tag, value, encoding as sent
        offset = 0
        try:
            while offset < len(data):
                item = read_tlv(data, offset)
                objects.append((item.tag, item.value, data[offset : item.next_offset]))
                offset = item.next_offset
        except TlvError:
            raise _ChannelBroken(SW_SM_INCORRECT, "malformed SM data objects") from None
        macs = [value for tag, value, _ in objects if tag == b"\x8e"]
        if not macs:
            raise _ChannelBroken(SW_SM_MISSING, "no MAC")
        header = bytes([command.cla & ~CHAINING_BIT & 0xFF, command.ins, command.p1, command.p2])
        covered = b"".join(encoded for tag, _, encoded in objects if tag[-1] & 1)
        mac_input = ssc + iso_pad(header) + (iso_pad(covered) if covered else b"")
        if (
            len(macs) != 1
            or objects[-1][0] != b"\x8e"
            or not hmac.compare_digest(cmac8(channel.kmac, mac_input), macs[0])
        ):
            raise _ChannelBroken(SW_SM_INCORRECT, "wrong MAC")
        body: bytes | None = None
        le: bytes | None = None
        for tag, value, _ in objects[:-1]:
            if tag in (b"\x85", b"\x87") and body is None:
                if tag == b"\x87":
                    if not value or value[0] != 0x01:
                        raise _ChannelBroken(SW_SM_INCORRECT, "unknown padding indicator")
                    value = value[1:]
                body = value
            elif tag == b"\x97" and le is None and len(value) in (1, 2):
                le = value
            else:
                raise _ChannelBroken(SW_SM_INCORRECT, "unexpected SM data object")
        plain = b""
        if body is not None:
            if not body or len(body) % BLOCK:
                raise _ChannelBroken(SW_SM_INCORRECT, "cryptogram not in whole blocks")
            unpadded = iso_unpad(_decrypt(channel.kenc, ssc, body))
            if unpadded is None:
                raise _ChannelBroken(SW_SM_INCORRECT, "bad padding")
            plain = unpadded
        ne: int | None = None
        le_max = False
        if le is not None:
            requested = int.from_bytes(le, "big")
            le_max = requested == 0
            ne = requested or (256 if len(le) == 1 else 65536)
        return Command(
            command.cla & ~(CHAINING_BIT | SECURE_MESSAGING_BITS) & 0xFF,
            command.ins,
            command.p1,
            command.p2,
            plain,
            ne=ne,
            le_max=le_max,
        )

    def _wrap_response(self, channel: SecureChannel, data: bytes, sw: int) -> tuple[bytes, int]:
        ssc = channel.step()
        wrapped = b""
        if data:
            padded = iso_pad(data, whole_extra_block=self.profile.sm_pads_whole_extra_block)
            wrapped = encode_tlv(0x87, b"\x01" + _encrypt(channel.kenc, ssc, padded))
        wrapped += b"\x99\x02" + sw_bytes(sw)
        wrapped += b"\x8e\x08" + cmac8(channel.kmac, iso_pad(ssc + wrapped))
        return wrapped, sw if self.profile.sm_outer_sw_is_inner else SW_OK
