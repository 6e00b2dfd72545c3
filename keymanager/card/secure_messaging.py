"""Secure messaging: a channel bound to the device key, with AES-CBC and AES-CMAC.

The SmartCard-HSM family (and Pico HSM) run ISO/IEC 7816-4 secure messaging after
chip authentication (EAC "CA", protocol ``id-CA-ECDH-AES-CBC-CMAC-128``), as
``docs/card.md`` ("Secure messaging") describes step by step:

1. the host takes the device's public key from the verified device certificate chain
   (EF 2F02) and makes an ephemeral key pair on the same curve;
2. ``MSE SET AT`` names the protocol, ``GENERAL AUTHENTICATE`` sends the ephemeral
   public key and returns a nonce and an authentication token;
3. both sides derive ``Kenc`` and ``Kmac`` from the ECDH secret and the nonce; the
   token (a CMAC over the ephemeral key) proves that the card holds the device key;
4. from then on every command is encrypted and MACed (:meth:`SecureChannel.wrap`) and
   every response MAC-checked and decrypted (:meth:`SecureChannel.unwrap`), with a
   16-byte send sequence counter (SSC) incremented before each command and response.

Everything cryptographic comes from :mod:`cryptography` (ECDH, AES, CMAC); this module
only arranges the bytes.  A wrong MAC, a missing data object, an unprotected answer
where a protected one is due, or an answer with which the card says it dropped the
channel (``6987``/``6988``) ends the channel and raises a :class:`ChannelBroken`
subclass: nothing is ever taken from an unauthenticated answer except an error.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import cmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keymanager.card.errors import CardError
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs, read_length, read_tag

PROTOCOL_OID = bytes.fromhex("04007F00070202030202")
"""id-CA-ECDH-AES-CBC-CMAC-128 (BSI TR-03110), the protocol the SmartCard-HSM speaks."""

BLOCK = 16
MAC_LENGTH = 8
SM_CLA_BITS = 0x0C
"""CLA bits of a command protected with header authentication (ISO/IEC 7816-4)."""

SW_SM_MISSING = 0x6987
SW_SM_WRONG = 0x6988
SW_SM_UNSUPPORTED = 0x6882
CHANNEL_ENDING_WORDS = (SW_SM_MISSING, SW_SM_WRONG, SW_SM_UNSUPPORTED)
"""Status words with which a card says it does not (or no longer) run the channel."""


class SecureMessagingMode(enum.Enum):
    """Whether a session opens a channel: where the card can (the default), or never."""

    AUTO = "auto"
    OFF = "off"


MODE_VARIABLE = "KEYMANAGER_SECURE_MESSAGING"
"""The environment's setting: ``off`` turns secure messaging off, ``auto`` (the default)
opens a channel where the card offers one."""


def mode_from_environment() -> SecureMessagingMode:
    """The mode :data:`MODE_VARIABLE` sets (``AUTO`` when unset).

    :raises ValueError: the variable holds something else than ``auto``/``on``/``off``.
    """
    setting = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if setting in ("", "auto", "on"):
        return SecureMessagingMode.AUTO
    if setting == "off":
        return SecureMessagingMode.OFF
    raise ValueError(f"{MODE_VARIABLE} is {setting!r}: it takes 'off' or 'auto' (the default)")


class SecureMessagingStatus(enum.Enum):
    """What a session runs on (values are the stable ``status --json`` words)."""

    ACTIVE = "active"
    """A channel is open (or is re-opened before the next command)."""
    UNAVAILABLE = "unavailable"
    """The card has no secure messaging (or its device key cannot be trusted)."""
    OFF = "off"
    """The user turned secure messaging off."""


class SecureMessagingError(CardError):
    """Base of the secure-messaging errors."""


class SecureMessagingUnavailable(SecureMessagingError):
    """The card cannot open a channel (no support, no usable device key)."""


class DeviceAuthenticationFailed(SecureMessagingError):
    """The card's token does not prove it holds the key of its device certificate."""


class ChannelBroken(SecureMessagingError):
    """A channel ended on an answer that could not be trusted; the command's effect is unknown."""


class ResponseMacInvalid(ChannelBroken):
    """The response's MAC does not verify (altered in transit, or the counters differ)."""


class ResponseNotProtected(ChannelBroken):
    """A response lacks the protection a channel requires (no MAC, no status object)."""


class UnprotectedRefusal(SecureMessagingError):
    """The card refused a protected command with a plain error status word.

    Only an error is ever taken from an unprotected answer: the session reports the
    status word as the card's refusal and goes on in the channel; if the card did drop
    it, its next answer (``6882``/``6988``, or a MAC that no longer verifies) ends it.
    """

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


class ChannelEndedByCard(ChannelBroken):
    """The card answered that it dropped the channel (``6987``/``6988``/``6882``)."""

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


# --- the primitives ----------------------------------------------------------------------


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 method 2: ``80`` then zeros to a multiple of the block size."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def unpad(data: bytes) -> bytes:
    """Remove ISO padding (trailing zeros, then ``80``); tolerates a whole zero block.

    :raises ValueError: no ``80`` marker where one must be.
    """
    end = len(data.rstrip(b"\x00"))
    if end == 0 or data[end - 1] != 0x80:
        raise ValueError("the padding is not ISO/IEC 7816-4 padding")
    return data[: end - 1]


def mac(kmac: bytes, data: bytes) -> bytes:
    """The first eight bytes of AES-CMAC over ``data``."""
    signer = cmac.CMAC(algorithms.AES(kmac))
    signer.update(data)
    return signer.finalize()[:MAC_LENGTH]


def derive_keys(shared_secret: bytes, nonce: bytes) -> tuple[bytes, bytes]:
    """``Kenc`` and ``Kmac``: SHA-1(K ‖ nonce ‖ counter)[0:16] for counters 1 and 2."""
    # SHA-1 is what BSI TR-03110 prescribes for AES-128 session keys.
    kenc = hashlib.sha1(shared_secret + nonce + (1).to_bytes(4, "big")).digest()[:BLOCK]  # noqa: S324
    kmac = hashlib.sha1(shared_secret + nonce + (2).to_bytes(4, "big")).digest()[:BLOCK]  # noqa: S324
    return kenc, kmac


def authentication_token(kmac: bytes, ephemeral_point: bytes) -> bytes:
    """The token the card returns: CMAC over ``7F49 { 06 OID, 86 point }``."""
    body = encode_tlv(0x06, PROTOCOL_OID) + encode_tlv(0x86, ephemeral_point)
    return mac(kmac, encode_tlv(0x7F49, body))


def _le_value(le: int, *, extended: bool) -> bytes:
    """The value of DO97: one byte up to 256 (``00`` = 256), two beyond (``0000`` = 65536)."""
    if le < 0:
        return bytes(2 if extended else 1)
    if le <= 256:
        return bytes([le & 0xFF])
    return (le & 0xFFFF).to_bytes(2, "big")


# --- the channel -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedCommand:
    """The parts of a wrapped command: its CLA and the secure-messaging data objects."""

    cla: int
    data: bytes


class SecureChannel:
    """One open channel: the session keys and the send sequence counter.

    :meth:`wrap` and :meth:`unwrap` are called in pairs, one pair per command; the
    counter moves on by one in each.  After any error the channel must be dropped.
    """

    def __init__(self, kenc: bytes, kmac: bytes) -> None:
        if len(kenc) != BLOCK or len(kmac) != BLOCK:
            raise ValueError("the session keys are 16 bytes each")
        self._kenc = kenc
        self._kmac = kmac
        self._enc_algorithm = algorithms.AES(kenc)
        # one ECB context for the IVs (E(Kenc, SSC)), one CMAC context copied per MAC:
        # made once per channel, not per APDU
        self._iv_encryptor = Cipher(self._enc_algorithm, modes.ECB()).encryptor()  # noqa: S305
        self._mac_base = cmac.CMAC(algorithms.AES(kmac))
        self._ssc = 0
        self.commands = 0
        """How many commands went through the channel."""

    def _iv(self, ssc: bytes) -> bytes:
        return self._iv_encryptor.update(ssc)

    def _mac(self, data: bytes) -> bytes:
        signer = self._mac_base.copy()
        signer.update(data)
        return signer.finalize()[:MAC_LENGTH]

    def _cbc(self, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
        cipher = Cipher(self._enc_algorithm, modes.CBC(iv))
        context = cipher.encryptor() if encrypt else cipher.decryptor()
        return context.update(data) + context.finalize()

    def _next_ssc(self) -> bytes:
        self._ssc += 1
        return self._ssc.to_bytes(BLOCK, "big")

    def undo_wrap(self) -> None:
        """Forget the last :meth:`wrap` (the command never reached the card)."""
        self._ssc -= 1
        self.commands -= 1

    def wrap(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None, *, extended: bool
    ) -> ProtectedCommand:
        """Protect one command.

        :param le: the command's expected length: ``None`` (no response data), a
            negative number for "as much as the card sends", or a length (1 to 65536).
        :param extended: the protected APDU goes in extended form (``DO97`` of two
            bytes when the length asks for more than 256 bytes or "as much as possible").
        """
        ssc = self._next_ssc()
        self.commands += 1
        protected_cla = cla | SM_CLA_BITS
        objects = b""
        if data:
            cryptogram = self._cbc(self._iv(ssc), pad(data), encrypt=True)
            if ins & 1:
                objects += encode_tlv(0x85, cryptogram)
            else:
                objects += encode_tlv(0x87, b"\x01" + cryptogram)
        if le is not None:
            objects += encode_tlv(0x97, _le_value(le, extended=extended))
        header = pad(bytes([protected_cla, ins, p1, p2]))
        mac_input = ssc + header + (pad(objects) if objects else b"")
        objects += encode_tlv(0x8E, self._mac(mac_input))
        return ProtectedCommand(protected_cla, objects)

    def unwrap(self, data: bytes, sw: int, name: str) -> tuple[bytes, int]:
        """Check and decrypt one response; return its plain data and status word.

        :param data: the response data (all of it, after GET RESPONSE).
        :param sw: the outer status word.
        :raises ChannelEndedByCard: an unprotected ``6987``/``6988``/``6882``.
        :raises UnprotectedRefusal: another unprotected error status word.
        :raises ResponseNotProtected: an unprotected success, or an answer without
            ``DO99`` or ``DO8E``, or with objects the channel does not know.
        :raises ResponseMacInvalid: the MAC does not verify.
        """
        ssc = self._next_ssc()
        what = name or "the command"
        if not data:
            if sw in CHANNEL_ENDING_WORDS:
                raise ChannelEndedByCard(
                    f"{what}: the card ended secure messaging (SW {sw:04X}); "
                    "the command was not carried out",
                    sw,
                )
            if sw >> 8 in (0x90, 0x61):
                raise ResponseNotProtected(
                    f"{what}: the card answered success without secure messaging (SW "
                    f"{sw:04X}) inside a channel; the answer cannot be trusted"
                )
            raise UnprotectedRefusal(
                f"{what}: the card refused the command without secure messaging (SW {sw:04X})",
                sw,
            )
        body: bytes | None = None
        status: bytes | None = None
        received_mac: bytes | None = None
        authenticated = bytearray()
        offset = 0
        try:
            while offset < len(data):
                tag, value_at = read_tag(data, offset)
                length, value_at = read_length(data, value_at)
                end = value_at + length
                if end > len(data):
                    raise TlvError("a data object runs off the end of the response")
                value = data[value_at:end]
                if tag == b"\x8e":
                    received_mac = value
                    if end != len(data):
                        raise TlvError("data follows the MAC")
                elif tag in (b"\x87", b"\x85", b"\x99"):
                    if received_mac is not None:
                        raise TlvError("a data object follows the MAC")
                    authenticated += data[offset:end]
                    if tag == b"\x99":
                        status = value
                    else:
                        body = value[1:] if tag == b"\x87" else value
                        if tag == b"\x87" and (not value or value[0] != 0x01):
                            raise TlvError("DO87 does not start with the padding indicator 01")
                else:
                    raise TlvError(f"unexpected data object {tag.hex().upper()}")
                offset = end
        except TlvError as error:
            raise ResponseNotProtected(
                f"{what}: the protected response is malformed ({error})"
            ) from None
        if received_mac is None or status is None or len(status) != 2:
            raise ResponseNotProtected(
                f"{what}: the protected response lacks its "
                f"{'MAC' if received_mac is None else 'status word'}"
            )
        expected = self._mac(ssc + pad(bytes(authenticated)))
        if not hmac.compare_digest(expected, received_mac):
            raise ResponseMacInvalid(
                f"{what}: the response's MAC does not verify: it was altered on its way "
                "or does not come from this channel"
            )
        plain = b""
        if body:
            if len(body) % BLOCK:
                raise ResponseNotProtected(f"{what}: the encrypted response is not whole blocks")
            decrypted = self._cbc(self._iv(ssc), body, encrypt=False)
            try:
                plain = unpad(decrypted)
            except ValueError:
                raise ResponseNotProtected(
                    f"{what}: the decrypted response has no valid padding"
                ) from None
        return plain, int.from_bytes(status, "big")


# --- opening a channel -------------------------------------------------------------------


@dataclass(frozen=True)
class ChipAuthenticationRequest:
    """The host's half of chip authentication: the ephemeral key and its encoding."""

    private_key: ec.EllipticCurvePrivateKey
    point: bytes

    @classmethod
    def new(cls, device_key: ec.EllipticCurvePublicKey) -> ChipAuthenticationRequest:
        """A fresh ephemeral key pair on the device key's curve."""
        private_key = ec.generate_private_key(device_key.curve)
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return cls(private_key, point)

    def mse_set_at_data(self) -> bytes:
        """The MSE SET AT data: the protocol's OID."""
        return encode_tlv(0x80, PROTOCOL_OID)

    def general_authenticate_data(self) -> bytes:
        """The GENERAL AUTHENTICATE data: the ephemeral public key."""
        return encode_tlv(0x7C, encode_tlv(0x80, self.point))

    def finish(self, device_key: ec.EllipticCurvePublicKey, answer: bytes) -> SecureChannel:
        """Check the card's answer (``7C { 81 nonce, 82 token }``) and open the channel.

        :raises DeviceAuthenticationFailed: the token is wrong (the card does not hold
            the device key) or the answer is malformed.
        """
        try:
            outer = list(iter_tlvs(answer))
            if len(outer) != 1 or outer[0].tag != b"\x7c":
                raise TlvError("the answer is not one 7C template")
            inner = {item.tag: bytes(item.value) for item in iter_tlvs(outer[0].value)}
        except TlvError as error:
            raise DeviceAuthenticationFailed(
                f"GENERAL AUTHENTICATE: the card's answer is malformed ({error})"
            ) from None
        nonce, token = inner.get(b"\x81"), inner.get(b"\x82")
        if not nonce or not token or len(token) != MAC_LENGTH:
            raise DeviceAuthenticationFailed(
                "GENERAL AUTHENTICATE: the card's answer lacks its nonce or token"
            )
        shared = self.private_key.exchange(ec.ECDH(), device_key)
        kenc, kmac = derive_keys(shared, nonce)
        if not hmac.compare_digest(authentication_token(kmac, self.point), token):
            raise DeviceAuthenticationFailed(
                "the card's authentication token is wrong: it does not hold the private key "
                "of its device certificate (a substituted card, or something in between)"
            )
        return SecureChannel(kenc, kmac)
