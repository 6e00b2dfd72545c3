"""The SmartCard-HSM session: every command the key manager sends to the card.

:class:`SmartCardHsm` wraps an :class:`~keymanager.card.apdu.ApduConnection` and
speaks the applet's APDUs as OpenSC's ``card-sc-hsm.c`` / ``sc-hsm-tool`` and Smart
Card Shell send them (``../shared/spec/opensc-sc-hsm.md`` §3,
``../shared/spec/scsh-keymanager.md`` §6 and §8).  Status words become the typed
errors of :mod:`keymanager.card.errors`; PIN status words become :class:`PinStatus`.

PINs, SO-PINs, DKEK shares and key blobs are flagged as sensitive on their APDUs so
the TRAFFIC log never shows them; responses that carry key material (WRAP, DECIPHER,
ECDH, and GET CHALLENGE when asked to) are redacted the same way.

With ``secure_messaging=SecureMessagingMode.AUTO`` the session runs on a secure
messaging channel where the card offers one (:mod:`keymanager.card.secure_session`):
every command after the first SELECT and the device certificate is then protected,
and a channel that ended (SELECT, an error) is opened again before the next command.

A session is not thread-safe; wrap multi-APDU jobs in :meth:`SmartCardHsm.exclusive`
so no other program's APDUs come between them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from keymanager.card.apdu import LE_MAX, SW_OK, ApduConnection, CommandApdu, ResponseApdu
from keymanager.card.cvc import (
    ID_TA_ECDSA_SHA_256,
    ID_TA_RSA_V1_5_SHA_256,
    DeviceCertificate,
)
from keymanager.card.errors import (
    ApduError,
    ApplicationNotFound,
    DkekMismatch,
    MalformedResponse,
    NoKeyDomainSupport,
    NotInitialised,
    PinBlocked,
    WrongPin,
    error_for_status,
)
from keymanager.card.hsm_types import (
    AES_DEFAULT_ALGORITHMS,
    DEFAULT_SO_PIN,
    Algorithm,
    AppletInfo,
    EcKeySpec,
    InitOptions,
    InitParams,
    KeyDomainSlot,
    KeyDomainStatus,
    KeySpec,
    PinState,
    PinStatus,
    RsaKeySpec,
    check_so_pin,
    encode_pin,
    parse_so_pin,
)
from keymanager.card.secure_messaging import (
    SecureMessagingMode,
    SecureMessagingStatus,
    SecureMessagingUnavailable,
    mode_from_environment,
)
from keymanager.card.secure_session import SecureMessagingState, open_channel
from keymanager.card.transport import Transport
from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.tlv import TlvError, encode_tlv, read_tlv

__all__ = [
    "AES_DEFAULT_ALGORITHMS",
    "AID",
    "DEFAULT_SO_PIN",
    "Algorithm",
    "AppletInfo",
    "EcKeySpec",
    "InitOptions",
    "InitParams",
    "KeyDomainSlot",
    "KeyDomainStatus",
    "KeySpec",
    "PinState",
    "PinStatus",
    "RsaKeySpec",
    "SmartCardHsm",
    "parse_so_pin",
]

logger = logging.getLogger(__name__)

AID = bytes.fromhex("E82B0601040181C31F0201")
"""The SmartCard-HSM applet's AID."""

FID_DEVICE_CERTIFICATES = 0x2F02
FID_TOKEN_INFO = 0x2F03
FID_UNWRAP_STAGING = 0x2F10
KEY_PREFIX = 0xCC
PIN_USER = 0x81
PIN_SO = 0x88

GAKP_CAR = b"UTCA00001"
"""The CAR OpenSC puts into a key-generation request (a fixed placeholder)."""
GAKP_CHR_SEQUENCE = b"00001"

MAX_APDU = 1000
"""APDU size budget for chunked writes (Smart Card Shell's default; cyberJack takes 1014)."""
WRITE_CHUNK_EXTENDED = MAX_APDU - 15
"""Bytes of file data per UPDATE BINARY with extended length (header, Lc, 54 and 53 TLVs)."""
WRITE_CHUNK_SHORT = 240
"""Bytes per UPDATE BINARY in short APDUs (OpenSC: max_send_size 248 minus the TLVs)."""
SM_FILE_CHUNK = 768
"""Bytes of file data per READ / UPDATE BINARY inside a channel: the protected APDU
(padding, data objects, MAC) must stay within about 1 KiB, the buffer Pico HSM wraps and
unwraps in (pico-keys-sdk ``sm_verify`` / ``sm_wrap``)."""
CHALLENGE_CHUNK = 1024
"""GET CHALLENGE asks for at most this many bytes per APDU (the card's limit)."""
MAX_KEY_DOMAINS = 255
_STATUS_LENGTH = 10
_END_OF_FILE = 0x6282
_WRONG_P1P2 = 0x6B00
_WRONG_SO_PIN_SWS = (0x6900, 0x6985, 0x6986)


def _key_ref(key_ref: int) -> int:
    if not 1 <= key_ref <= 255:
        raise ValueError("a key reference must be 1 to 255 (0 is the device key)")
    return key_ref


def _fid(fid: int) -> int:
    if not 0 <= fid <= 0xFFFF:
        raise ValueError("a file identifier has two bytes")
    return fid


def _domain(domain: int) -> int:
    if not 0 <= domain <= 255:
        raise ValueError("a key domain number must be 0 to 255")
    return domain


def _find_version_tag(fcp: bytes) -> bytes | None:
    """The value of tag ``85`` in the SELECT response.

    Parses the FCP (``62``) or FCI (``6F``) template; when a TLV inside is malformed (Pico
    HSM sends a DF name whose length does not fit), it falls back to walking the TLVs
    up to the damage and then to a byte search for ``85 05`` / ``85 02``.
    """
    body = fcp
    try:
        outer = read_tlv(fcp, 0)
        if outer.tag in (b"\x62", b"\x6f"):
            body = outer.value
    except TlvError:
        body = fcp[2:] if len(fcp) > 2 and fcp[0] in (0x62, 0x6F) else fcp
    offset = 0
    try:
        while offset < len(body):
            item = read_tlv(body, offset)
            if item.tag == b"\x85":
                return item.value
            offset = item.next_offset
    except TlvError:
        pass
    for length in (5, 2):
        index = body.find(bytes([0x85, length]))
        if index >= 0 and index + 2 + length <= len(body):
            return bytes(body[index + 2 : index + 2 + length])
    return None


def parse_applet_info(fcp: bytes) -> AppletInfo:
    """Version, options and applet type from the SELECT response.

    :raises MalformedResponse: no usable tag ``85``.
    """
    value = _find_version_tag(fcp)
    if value is None or len(value) < 2:
        raise MalformedResponse(
            "the SmartCard-HSM applet answered SELECT without a version (FCP tag 85)"
        )
    if len(value) >= 5:
        options = InitOptions(int.from_bytes(value[0:2], "big"))
        return AppletInfo(version=(value[3], value[4]), options=options, applet_type=value[2])
    return AppletInfo(version=(value[0], value[1]))


def _file_data(offset: int, data: bytes) -> bytes:
    """``54 02 offset ‖ 53 len data`` with the length in 1, 81 or 82 form, as OpenSC sends."""
    if not 0 <= offset <= 0xFFFF:
        raise ValueError("file offsets above 65535 cannot be addressed")
    return b"\x54\x02" + offset.to_bytes(2, "big") + encode_tlv(0x53, data)


def _metadata_tlvs(
    allowed_algorithms: Sequence[int] | None,
    use_counter: int | None,
    key_domain: int | None,
) -> bytes:
    """Tags ``91`` allowed algorithms, ``90`` key-use counter, ``92`` key domain."""
    data = b""
    if allowed_algorithms is not None:
        if not allowed_algorithms or any(not 0 <= a <= 255 for a in allowed_algorithms):
            raise ValueError("allowed algorithms must be a non-empty list of ids 0 to 255")
        data += encode_tlv(0x91, bytes(int(a) for a in allowed_algorithms))
    if use_counter is not None:
        if not 1 <= use_counter <= 0xFFFFFFFF:
            raise ValueError("a key-use counter must be 1 to 4294967295")
        data += encode_tlv(0x90, use_counter.to_bytes(4, "big"))
    if key_domain is not None:
        data += encode_tlv(0x92, bytes([_domain(key_domain)]))
    return data


def _minimal(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def encode_gakp_body(spec: KeySpec, chr_: bytes, car: bytes = GAKP_CAR) -> bytes:
    """The data of GENERATE ASYMMETRIC KEY PAIR: a CVC body without its ``7F4E`` tag.

    ``5F29 00``, ``42`` CAR, ``7F49`` public-key template, ``5F20`` CHR, in OpenSC's
    order.  RSA: ``06`` id-TA-RSA-v1-5-SHA-256, ``82`` exponent, ``02`` key size.
    EC: ``06`` id-TA-ECDSA-SHA-256, ``81`` p, ``82`` a, ``83`` b, ``84`` G, ``85``
    order, ``87`` cofactor (p, a, b at field width, the order at its own width).
    """
    if isinstance(spec, RsaKeySpec):
        template = (
            encode_tlv(0x06, ID_TA_RSA_V1_5_SHA_256)
            + encode_tlv(0x82, _minimal(spec.exponent))
            + encode_tlv(0x02, spec.bits.to_bytes(2, "big"))
        )
    else:
        curve = curve_by_name(spec.curve_name)
        width = curve.field_bytes
        template = (
            encode_tlv(0x06, ID_TA_ECDSA_SHA_256)
            + encode_tlv(0x81, curve.p.to_bytes(width, "big"))
            + encode_tlv(0x82, curve.a.to_bytes(width, "big"))
            + encode_tlv(0x83, curve.b.to_bytes(width, "big"))
            + encode_tlv(0x84, curve.encode_point(curve.generator))
            + encode_tlv(0x85, curve.order.to_bytes(curve.order_bytes, "big"))
            + encode_tlv(0x87, _minimal(curve.cofactor))
        )
    return (
        encode_tlv(0x5F29, b"\x00")
        + encode_tlv(0x42, car)
        + encode_tlv(0x7F49, template)
        + encode_tlv(0x5F20, chr_)
    )


class SmartCardHsm:
    """A session with the SmartCard-HSM applet on one card.

    Create it with :meth:`open`, which selects the applet.  Every method sends one
    or a few APDUs and raises the typed errors of :mod:`keymanager.card.errors`.
    """

    def __init__(self, connection: ApduConnection, info: AppletInfo) -> None:
        self.connection = connection
        self.info = info
        self._device_certificate: DeviceCertificate | None = None
        self.secure_messaging = SecureMessagingState()

    # --- session ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        transport: Transport | ApduConnection,
        *,
        secure_messaging: SecureMessagingMode | None = None,
    ) -> SmartCardHsm:
        """Select the applet on the card behind ``transport`` and read its version.

        :param secure_messaging: ``AUTO`` opens a channel where the card offers one
            (see :meth:`start_secure_messaging`), ``OFF`` stays in the clear; ``None``
            takes ``$KEYMANAGER_SECURE_MESSAGING`` (``AUTO`` when unset).
        :raises ApplicationNotFound: the card has no SmartCard-HSM applet.
        :raises MalformedResponse: the applet's answer carries no version.
        :raises DeviceAuthenticationFailed: the card failed chip authentication.
        """
        connection = (
            transport if isinstance(transport, ApduConnection) else ApduConnection(transport)
        )
        hsm = cls(connection, cls._select(connection))
        if secure_messaging is None:
            secure_messaging = mode_from_environment()
        if secure_messaging is SecureMessagingMode.AUTO:
            hsm.start_secure_messaging()
        return hsm

    def start_secure_messaging(self) -> SecureMessagingStatus:
        """Open a channel where the card offers one; say which it is.

        A card without secure messaging (or whose device certificate does not verify)
        leaves the session in the clear with the reason in :attr:`secure_messaging`.

        :raises DeviceAuthenticationFailed: the card failed chip authentication: it
            does not hold the key its certificate names.
        """
        state = self.secure_messaging
        state.mode = SecureMessagingMode.AUTO
        try:
            self._open_channel()
        except SecureMessagingUnavailable as error:
            state.available, state.reason = False, str(error)
            logger.info("secure messaging unavailable: %s", error)
            return state.status
        except (ApduError, MalformedResponse) as error:  # FileNotFound, CvcError, …
            state.available = False
            state.reason = f"the device certificate cannot be read ({error})"
            return state.status
        state.available, state.reason = True, ""
        self.connection.reopen_channel = self._open_channel
        return state.status

    def stop_secure_messaging(self) -> None:
        """Go on in the clear (the card drops the channel at the next plain command)."""
        self.secure_messaging = SecureMessagingState()
        self.connection.reopen_channel = None
        self.connection.end_channel()

    @property
    def _protected(self) -> bool:
        """Whether commands go through a channel (open now, or opened before the next)."""
        return self.connection.channel is not None or self.connection.reopen_channel is not None

    def _open_channel(self) -> None:
        open_channel(self.connection, self.device_certificate())

    @staticmethod
    def _select(connection: ApduConnection) -> AppletInfo:
        command = CommandApdu(
            0x00, 0xA4, 0x04, 0x04, AID, le=LE_MAX, name="SELECT applet", protect=False
        )
        response = connection.transmit(command)
        if response.sw in (0x6A82, 0x6A86, 0x6D00, 0x6E00, 0x6999):
            raise ApplicationNotFound(
                f"the card in {connection.transport.name} has no SmartCard-HSM applet "
                f"(SELECT answered {response.sw:04X})"
            )
        if response.sw != SW_OK:
            raise error_for_status(response.sw, command.name)
        return parse_applet_info(response.data)

    def select(self) -> AppletInfo:
        """Select the applet again; this also logs out (the PIN is no longer verified)."""
        self.info = self._select(self.connection)
        return self.info

    logout = select

    @property
    def transport(self) -> Transport:
        return self.connection.transport

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the card for a multi-APDU job (a PC/SC transaction on real readers)."""
        with self.transport.exclusive():
            yield

    def _send(self, command: CommandApdu, *, accept: tuple[int, ...] = ()) -> bytes:
        return self.connection.send(command, accept=accept)

    # --- PINs ------------------------------------------------------------------------------

    def _pin_status(self, reference: int, name: str) -> PinStatus:
        command = CommandApdu(0x00, 0x20, 0x00, reference, name=name)
        sw = self.connection.transmit(command).sw
        status = PinStatus.from_status_word(sw, version=self.info.version)
        if status is None:
            raise error_for_status(sw, name)
        return status

    def pin_status(self) -> PinStatus:
        """The user PIN's state (``00 20 00 81`` without data)."""
        return self._pin_status(PIN_USER, "PIN status")

    def so_pin_status(self) -> PinStatus:
        """The SO-PIN's state (``00 20 00 88``); ``6A88`` means never initialised."""
        return self._pin_status(PIN_SO, "SO-PIN status")

    def _raise_for_pin(self, sw: int, name: str) -> None:
        if sw == SW_OK:
            return
        if sw == 0x6A88:
            raise NotInitialised(f"{name}: the device has not been initialised yet")
        raise error_for_status(sw, name)

    def verify_pin(self, pin: str | bytes) -> None:
        """VERIFY the user PIN (``00 20 00 81``).

        :raises ValueError: the PIN is not 6 to 16 characters (nothing is sent).
        :raises WrongPin: wrong; ``tries_left`` says how many remain.
        :raises PinBlocked: no tries left.
        :raises ReferenceDataNotUsable: the transport PIN must be changed first.
        :raises NotInitialised: the device was never initialised.
        """
        command = CommandApdu(
            0x00, 0x20, 0x00, PIN_USER, encode_pin(pin), name="VERIFY", sensitive_data=True
        )
        self._raise_for_pin(self.connection.transmit(command).sw, command.name)

    def change_pin(self, old: str | bytes, new: str | bytes) -> None:
        """CHANGE REFERENCE DATA for the user PIN (``00 24 00 81 old‖new``).

        Also replaces a transport PIN.
        """
        data = encode_pin(old, "current PIN") + encode_pin(new, "new PIN")
        command = CommandApdu(
            0x00, 0x24, 0x00, PIN_USER, data, name="CHANGE PIN", sensitive_data=True
        )
        self._raise_for_pin(self.connection.transmit(command).sw, command.name)

    def change_so_pin(self, old: bytes, new: bytes) -> None:
        """CHANGE REFERENCE DATA for the SO-PIN (``00 24 00 88``, 8 + 8 bytes)."""
        data = check_so_pin(old, "current SO-PIN") + check_so_pin(new, "new SO-PIN")
        command = CommandApdu(
            0x00, 0x24, 0x00, PIN_SO, data, name="CHANGE SO-PIN", sensitive_data=True
        )
        self._raise_for_pin(self.connection.transmit(command).sw, command.name)

    def reset_retry_counter(self, so_pin: bytes, new_pin: str | bytes | None = None) -> None:
        """RESET RETRY COUNTER with the SO-PIN.

        With ``new_pin``: ``00 2C 00 81 SO-PIN‖new PIN`` (unblock and set a new PIN);
        without: ``00 2C 01 81 SO-PIN`` (unblock only, keeping the PIN).
        """
        data = check_so_pin(so_pin)
        p1 = 0x01
        if new_pin is not None:
            data += encode_pin(new_pin, "new PIN")
            p1 = 0x00
        command = CommandApdu(
            0x00, 0x2C, p1, PIN_USER, data, name="RESET RETRY COUNTER", sensitive_data=True
        )
        self._raise_for_pin(self.connection.transmit(command).sw, command.name)

    # --- initialisation ----------------------------------------------------------------------

    def initialize(self, params: InitParams) -> None:
        """INITIALIZE DEVICE (``80 50 00 00``) with every TLV of ``params``.

        This erases every key and file.  The session is logged out afterwards.  When
        ``params.current_so_pin`` differs from ``params.so_pin``, the SO-PIN is then
        changed with CHANGE SO-PIN (``00 24 00 88``).

        :raises WrongPin: the SO-PIN (initialisation code) is wrong; tries left given.
        :raises PinBlocked: the SO-PIN is blocked: the device cannot be initialised again.
        """
        command = CommandApdu(
            0x80, 0x50, 0x00, 0x00, params.encode(), name="INITIALIZE", sensitive_data=True
        )
        response = self.connection.transmit(command)
        if response.sw != SW_OK:
            error = error_for_status(response.sw, command.name)
            if response.sw in _WRONG_SO_PIN_SWS:
                error.args = (
                    f"{command.name}: the card refused initialisation; the SO-PIN is probably "
                    f"wrong (SW {response.sw:04X})",
                )
            elif isinstance(error, WrongPin):
                error.args = (
                    f"{command.name}: wrong SO-PIN, {error.tries_left} "
                    f"{'try' if error.tries_left == 1 else 'tries'} left (SW {response.sw:04X})",
                )
            elif isinstance(error, PinBlocked):
                error.args = (
                    f"{command.name}: the SO-PIN is blocked; this device cannot be "
                    "initialised again",
                )
            raise error
        self._device_certificate = None
        if params.changes_so_pin:
            self.change_so_pin(params.authorising_so_pin, params.so_pin)
        if self.info.options is not None:  # as the card's next SELECT will tell them
            self.info = dataclasses.replace(self.info, options=InitOptions(params.options))

    # --- key domains -------------------------------------------------------------------------

    def _domain_command(
        self, p1: int, domain: int, data: bytes, name: str, *, sensitive: bool = False
    ) -> ResponseApdu:
        command = CommandApdu(
            0x80, 0x52, p1, _domain(domain), data, le=LE_MAX, name=name, sensitive_data=sensitive
        )
        return self.connection.transmit(command)

    @staticmethod
    def _parse_status(data: bytes, name: str) -> KeyDomainStatus:
        if len(data) < _STATUS_LENGTH:
            raise MalformedResponse(
                f"{name}: the key-domain status has {len(data)} bytes, at least "
                f"{_STATUS_LENGTH} were expected"
            )
        return KeyDomainStatus.parse(data)

    @staticmethod
    def _raise_domain_error(sw: int, name: str) -> None:
        if sw == 0x6D00:
            raise NoKeyDomainSupport(
                f"{name}: the card has no key domains or was initialised without a DKEK (SW 6D00)"
            )
        raise error_for_status(sw, name)

    def key_domain_status(self, domain: int = 0) -> KeyDomainStatus | None:
        """The DKEK status of a key domain (``80 52 00 kd``, no data).

        :returns: ``None`` for an allocated but empty slot (``6A88``).
        :raises NoKeyDomainSupport: no DKEK / no key domains (``6D00``).
        :raises IncorrectParameters: ``domain`` is beyond the allocated slots (``6A86``).
        :raises MalformedResponse: fewer than 10 bytes came back.
        """
        name = f"KEY DOMAIN STATUS {domain}"
        response = self._domain_command(0x00, domain, b"", name)
        if response.sw == 0x6A88:
            return None
        if response.sw != SW_OK:
            self._raise_domain_error(response.sw, name)
        return self._parse_status(response.data, name)

    def key_domains(self) -> list[KeyDomainSlot]:
        """Every allocated key-domain slot: query 0, 1, 2, … until ``6A86`` / ``6D00``.

        A card without DKEK or key-domain support gives an empty list.
        """
        slots: list[KeyDomainSlot] = []
        for index in range(MAX_KEY_DOMAINS + 1):
            name = f"KEY DOMAIN STATUS {index}"
            response = self._domain_command(0x00, index, b"", name)
            if response.sw in (0x6A86, 0x6D00, _WRONG_P1P2):
                break
            if response.sw == 0x6A88:
                slots.append(KeyDomainSlot(index, None))
                continue
            if response.sw != SW_OK:
                raise error_for_status(response.sw, name)
            slots.append(KeyDomainSlot(index, self._parse_status(response.data, name)))
        return slots

    def import_dkek_share(self, share: bytes, domain: int = 0) -> KeyDomainStatus:
        """IMPORT DKEK SHARE (``80 52 00 kd 20 <share> 00``); returns the new status.

        On Pico HSM the DKEK is lost if the card is reset before the next VERIFY:
        verify the PIN right after the last share.
        """
        if len(share) != 32:
            raise ValueError("a DKEK share is 32 bytes")
        name = "IMPORT DKEK SHARE"
        response = self._domain_command(0x00, domain, bytes(share), name, sensitive=True)
        if response.sw != SW_OK:
            self._raise_domain_error(response.sw, name)
        return self._parse_status(response.data, name)

    def create_dkek_domain(self, domain: int, shares: int) -> KeyDomainStatus:
        """Create a DKEK key domain in an empty slot (``80 52 01 kd 01 <shares>``)."""
        if not 0 <= shares <= 255:
            raise ValueError("the number of shares must be 0 to 255")
        name = "CREATE DKEK KEY DOMAIN"
        response = self._domain_command(0x01, domain, bytes([shares]), name)
        if response.sw != SW_OK:
            self._raise_domain_error(response.sw, name)
        return self._parse_status(response.data, name)

    def delete_kek(self, domain: int) -> KeyDomainStatus | None:
        """Erase a domain's KEK so all its shares are outstanding again (``80 52 04 kd``)."""
        name = "DELETE KEK"
        response = self._domain_command(0x04, domain, b"", name)
        if response.sw != SW_OK:
            self._raise_domain_error(response.sw, name)
        if len(response.data) < _STATUS_LENGTH:
            return None
        return KeyDomainStatus.parse(response.data)

    def delete_key_domain(self, domain: int) -> None:
        """Delete a key domain (``80 52 03 kd``); the card refuses while keys use it.

        Pico HSM answers ``6A88`` ("the slot is empty now") on success: after a
        ``6A88`` the slot is queried again and an empty slot counts as deleted.
        """
        name = "DELETE KEY DOMAIN"
        response = self._domain_command(0x03, domain, b"", name)
        if response.sw == 0x6A88 and self.key_domain_status(domain) is None:
            return
        if response.sw != SW_OK:
            self._raise_domain_error(response.sw, name)

    # --- files -------------------------------------------------------------------------------

    def enumerate_objects(self) -> list[int]:
        """ENUMERATE OBJECTS (``80 58 00 00``, extended Le): every FID on the card.

        Includes ``CC00`` (the device key) and the PKCS#15 files.  On a reader without
        extended length the connection falls back to a short APDU with GET RESPONSE.
        """
        command = CommandApdu(
            0x80, 0x58, 0x00, 0x00, le=LE_MAX, prefer_extended=True, name="ENUMERATE OBJECTS"
        )
        data = self._send(command)
        if len(data) % 2:
            raise MalformedResponse(f"ENUMERATE OBJECTS answered an odd {len(data)} bytes")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]

    def read_file(self, fid: int) -> bytes:
        """READ BINARY with odd INS (``00 B1 <FID> 54 02 <offset>``) until the end.

        One extended APDU usually returns the whole file; otherwise the reads go on at
        increasing offsets until a short read, an empty one, or ``6282`` (end of file).
        """
        fid = _fid(fid)
        content = bytearray()
        while True:
            if len(content) > 0xFFFF:
                raise MalformedResponse(f"EF {fid:04X} is longer than 65535 bytes")
            extended = self.transport.supports_extended_length
            requested = 65536 if extended else 256
            if self._protected:
                requested = SM_FILE_CHUNK
            command = CommandApdu(
                0x00,
                0xB1,
                fid >> 8,
                fid & 0xFF,
                b"\x54\x02" + len(content).to_bytes(2, "big"),
                le=requested if self._protected else LE_MAX,
                prefer_extended=True,
                name=f"READ BINARY {fid:04X}",
            )
            response = self.connection.transmit(command)
            if response.sw == _WRONG_P1P2 and content:
                break  # offset at the end of a file whose size is a multiple of the chunk
            if response.sw not in (SW_OK, _END_OF_FILE):
                raise error_for_status(response.sw, command.name)
            content += response.data
            if response.sw == _END_OF_FILE or len(response.data) < requested:
                break
        return bytes(content)

    def write_file(self, fid: int, data: bytes) -> None:
        """UPDATE BINARY with odd INS (``00 D7 <FID> 54 02 <offset> 53 <len> <data>``).

        Writes in chunks (985 bytes with extended length, 240 without, 768 inside a
        secure-messaging channel) at increasing
        offsets; empty ``data`` creates an empty file.  The card creates a missing file.
        """
        fid = _fid(fid)
        chunk = (
            WRITE_CHUNK_EXTENDED if self.transport.supports_extended_length else WRITE_CHUNK_SHORT
        )
        if self._protected:
            chunk = min(chunk, SM_FILE_CHUNK)
        offset = 0
        while True:
            part = data[offset : offset + chunk]
            command = CommandApdu(
                0x00,
                0xD7,
                fid >> 8,
                fid & 0xFF,
                _file_data(offset, part),
                name=f"UPDATE BINARY {fid:04X}",
                sensitive_data=fid == FID_UNWRAP_STAGING,
            )
            self._send(command)
            offset += len(part)
            if offset >= len(data):
                break

    def create_file(self, fid: int) -> None:
        """Create an empty file (an UPDATE BINARY with no data)."""
        self.write_file(fid, b"")

    def delete_file(self, fid: int) -> None:
        """DELETE FILE (``00 E4 02 00 02 <FID>``): also deletes a key (``CCxx``)."""
        fid = _fid(fid)
        self._send(
            CommandApdu(
                0x00, 0xE4, 0x02, 0x00, fid.to_bytes(2, "big"), name=f"DELETE FILE {fid:04X}"
            )
        )

    def delete_key(self, key_ref: int) -> None:
        """Delete the key ``CCxx`` (its PRKD and certificate files are left alone)."""
        self.delete_file(KEY_PREFIX << 8 | _key_ref(key_ref))

    def get_challenge(self, length: int, *, sensitive: bool = False) -> bytes:
        """GET CHALLENGE: ``length`` random bytes from the card, at most 1024 per APDU.

        :param sensitive: redact the bytes from the APDU trace (set it when the random
            bytes become a secret, e.g. a DKEK share).
        """
        if length < 1:
            raise ValueError("ask for at least one random byte")
        limit = CHALLENGE_CHUNK if self.transport.supports_extended_length else 256
        result = bytearray()
        while len(result) < length:
            wanted = min(limit, length - len(result))
            command = CommandApdu(
                0x00,
                0x84,
                0x00,
                0x00,
                le=wanted,
                name="GET CHALLENGE",
                sensitive_response=sensitive,
            )
            data = self._send(command)
            if not data:
                raise MalformedResponse("GET CHALLENGE returned no bytes")
            result += data[:wanted]
        return bytes(result)

    # --- device certificate -------------------------------------------------------------

    def device_certificates(self) -> bytes:
        """EF 2F02: the device CVC followed by the device issuer CA CVC."""
        return self.read_file(FID_DEVICE_CERTIFICATES)

    def device_certificate(self) -> DeviceCertificate:
        """EF 2F02 parsed (read once per session)."""
        if self._device_certificate is None:
            self._device_certificate = DeviceCertificate.parse(self.device_certificates())
        return self._device_certificate

    def serial(self) -> str:
        """The serial number: the device CVC's CHR without its last five characters."""
        return self.device_certificate().serial

    # --- keys ----------------------------------------------------------------------------

    def generate_key_pair(
        self,
        key_ref: int,
        spec: KeySpec,
        *,
        allowed_algorithms: Sequence[int] | None = None,
        key_domain: int | None = None,
        use_counter: int | None = None,
        holder: bytes | None = None,
        car_is_holder: bool = False,
    ) -> bytes:
        """GENERATE ASYMMETRIC KEY PAIR (``00 46 <key_ref> 00``); returns the CV request.

        The data is the CVC body OpenSC builds (CAR ``UTCA00001``, CHR = serial +
        ``00001``) followed by the optional ``91`` allowed algorithms, ``90`` use
        counter and ``92`` key domain.  The card also stores the request in ``CExx``.

        :param holder: the request's CHR instead of serial + ``00001`` (a custodian's
            public-key-authentication key needs a CHR of its own).
        :param car_is_holder: put the CHR in the CAR as well (Pico HSM finds the EC
            domain parameters of a registered PKA key only then; OpenSC issue #594).
        """
        key_ref = _key_ref(key_ref)
        if holder is None:
            holder = self.serial().encode("latin-1") + GAKP_CHR_SEQUENCE
        car = holder if car_is_holder else GAKP_CAR
        data = encode_gakp_body(spec, holder, car) + _metadata_tlvs(
            allowed_algorithms, use_counter, key_domain
        )
        command = CommandApdu(
            0x00,
            0x46,
            key_ref,
            0x00,
            data,
            le=LE_MAX,
            prefer_extended=True,
            name="GENERATE ASYMMETRIC KEY PAIR",
        )
        request = self._send(command)
        if not request:
            raise MalformedResponse("key generation returned no CV request")
        return request

    def generate_aes_key(
        self,
        key_ref: int,
        bits: int = 256,
        *,
        allowed_algorithms: Sequence[int] | None = None,
        key_domain: int | None = None,
        use_counter: int | None = None,
    ) -> None:
        """GENERATE SYMMETRIC KEY (``00 48 <key_ref> B0|B1|B2``) for AES-128/192/256.

        Without ``allowed_algorithms`` the card allows its default set
        (:data:`~keymanager.card.hsm_types.AES_DEFAULT_ALGORITHMS`).
        """
        p2 = {128: 0xB0, 192: 0xB1, 256: 0xB2}.get(bits)
        if p2 is None:
            raise ValueError("AES keys are 128, 192 or 256 bits")
        data = _metadata_tlvs(allowed_algorithms, use_counter, key_domain)
        command = CommandApdu(0x00, 0x48, _key_ref(key_ref), p2, data, name="GENERATE AES KEY")
        self._send(command)

    def wrap_key(self, key_ref: int) -> bytes:
        """WRAP KEY (``80 72 <key_ref> 92``, extended Le): the key blob under the DKEK.

        :raises ReferencedDataNotFound: no key there, or it belongs to no complete domain.
        :raises NoKeyDomainSupport: the card has no DKEK (``6D00``).
        """
        command = CommandApdu(
            0x80,
            0x72,
            _key_ref(key_ref),
            0x92,
            le=LE_MAX,
            prefer_extended=True,
            name="WRAP KEY",
            sensitive_response=True,
        )
        response = self.connection.transmit(command)
        if response.sw == 0x6D00:
            raise NoKeyDomainSupport("WRAP KEY: the card was not initialised for key wrap")
        if response.sw != SW_OK:
            raise error_for_status(response.sw, command.name)
        # here, not at the top: the key-blob codec is a tenth of a listing's start-up
        from keymanager.dkek.keyblob import MINIMUM_BLOB_LENGTH

        if len(response.data) < MINIMUM_BLOB_LENGTH:
            raise MalformedResponse(
                f"WRAP KEY: the card answered {len(response.data)} bytes, shorter than any "
                f"key blob ({MINIMUM_BLOB_LENGTH} bytes)"
            )
        return response.data

    def unwrap_key(self, key_ref: int, blob: bytes, *, via_ef_2f10: bool = False) -> None:
        """UNWRAP KEY (``80 74 <key_ref> 93``): import a key blob into ``CCxx``.

        :param via_ef_2f10: write the blob into EF 2F10 first and send UNWRAP without
            data (OpenSC 0.24+; avoids extended APDUs); otherwise the blob is the APDU's
            data (extended length, or command chaining on readers without it).
        :raises DkekMismatch: the card refused the blob and its KCV matches no key
            domain's KCV.
        :raises WrongData: the card refused the blob for another reason (format, size).
        """
        key_ref = _key_ref(key_ref)
        if via_ef_2f10:
            self.write_file(FID_UNWRAP_STAGING, blob)
            command = CommandApdu(0x80, 0x74, key_ref, 0x93, name="UNWRAP KEY")
        else:
            command = CommandApdu(
                0x80, 0x74, key_ref, 0x93, bytes(blob), name="UNWRAP KEY", sensitive_data=True
            )
        response = self.connection.transmit(command)
        if response.sw == SW_OK:
            return
        if response.sw == 0x6D00:
            raise NoKeyDomainSupport("UNWRAP KEY: the card was not initialised with a DKEK")
        if response.sw in (0x6A80, 0x6400) and self._blob_kcv_unknown(blob):
            raise DkekMismatch(
                f"UNWRAP KEY: the key blob was made under another DKEK (its KCV "
                f"{bytes(blob[:8]).hex().upper()} matches no key domain of this card; "
                f"SW {response.sw:04X})"
            )
        raise error_for_status(response.sw, command.name)

    def _blob_kcv_unknown(self, blob: bytes) -> bool:
        """Whether the blob's KCV provably matches none of the card's key domains.

        ``False`` when that cannot be told (KCVs hidden until login, no domains).
        """
        if len(blob) < 8:
            return False
        try:
            slots = self.key_domains()
        except (ApduError, NoKeyDomainSupport, MalformedResponse):
            return False
        known = [slot.status for slot in slots if slot.status is not None]
        complete = [status for status in known if status.complete]
        if not complete or any(status.kcv is None for status in complete):
            return False
        return all(status.kcv != bytes(blob[:8]) for status in complete)

    def sign(self, key_ref: int, algorithm: int, data: bytes) -> bytes:
        """SIGN (``80 68 <key_ref> <algorithm>``, extended, Le max).

        Returns what the card returns: for ECDSA a DER ``SEQUENCE {r, s}`` (OpenSC
        converts that to ``r ‖ s`` for PKCS#11; callers that need it use
        :func:`cryptography.hazmat.primitives.asymmetric.utils.decode_dss_signature`).
        """
        command = CommandApdu(
            0x80,
            0x68,
            _key_ref(key_ref),
            int(algorithm),
            bytes(data),
            le=LE_MAX,
            prefer_extended=True,
            name=f"SIGN {int(algorithm):02X}",
        )
        signature = self._send(command)
        if not signature:
            raise MalformedResponse(f"{command.name}: the card returned no signature")
        return signature

    def decipher(
        self, key_ref: int, cryptogram: bytes, algorithm: int = Algorithm.RSA_DECRYPT_RAW
    ) -> bytes:
        """DECIPHER (``80 62 <key_ref> <algorithm>``, extended, Le max); result redacted in logs."""
        command = CommandApdu(
            0x80,
            0x62,
            _key_ref(key_ref),
            int(algorithm),
            bytes(cryptogram),
            le=LE_MAX,
            prefer_extended=True,
            name=f"DECIPHER {int(algorithm):02X}",
            sensitive_response=True,
        )
        return self._send(command)

    def ecdh(self, key_ref: int, point: bytes) -> bytes:
        """ECDH with the key ``CCxx`` and a peer's uncompressed public point.

        ``80 62 <key_ref> 80``.  The card answers the shared point ``04 ‖ x ‖ y``; as
        OpenSC does, the leading ``04`` is stripped and ``x ‖ y`` returned.  The first
        half (``x``) is the ECDH shared secret :mod:`cryptography` computes.
        """
        result = self.decipher(key_ref, point, Algorithm.ECDH)
        if not result:
            raise MalformedResponse("ECDH returned no point")
        if result[0] == 0x04 and len(result) % 2 == 1:
            result = result[1:]
        if not result or len(result) % 2:
            raise MalformedResponse(
                f"ECDH returned {len(result)} bytes, not an uncompressed point (x and y)"
            )
        return result


def allowed_algorithm_ids(algorithms: Iterable[int]) -> bytes:
    """Encode a list of algorithm ids as in tag ``91`` / a key blob's list."""
    return bytes(int(a) for a in algorithms)
