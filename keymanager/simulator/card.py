"""A software SmartCard-HSM: APDU parsing, dispatch and the card's command semantics.

:class:`SmartCardHsmSimulator` implements :class:`keymanager.card.transport.VirtualCard`
(``power_on`` and ``process_apdu``) and answers the commands OpenSC's ``sc-hsm``
driver, ``sc-hsm-tool`` and the key manager send, with the status words a genuine card
gives.  Where genuine behaviour is unknown the choice is written down in the
"Simulator" section of ``docs/card.md``.

Transport features: short and extended APDUs (ISO/IEC 7816-4 cases 1 to 4), command
chaining (CLA bit ``10``), and ``61xx`` + GET RESPONSE for answers longer than Le.
``process_apdu`` never raises for any byte string; the only exceptions it raises are
the injected faults :class:`~keymanager.card.errors.CardRemoved` and
:class:`~keymanager.card.errors.CardReset`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from keymanager.card.errors import CardRemoved, CardReset
from keymanager.dkek import Dkek, kcv_of
from keymanager.dkek.curves import (
    SUPPORTED_CURVES,
    CurveParameters,
    curve_by_cryptography_curve,
    curve_by_name,
    derive_public_point,
)
from keymanager.dkek.errors import KeyBlobError
from keymanager.dkek.keyblob import (
    AES_DEFAULT_ALLOWED_ALGORITHMS,
    AesKey,
    EcKeyMaterial,
    WrappableKey,
    decode_key,
    describe_blob,
    encode_key,
)
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs
from keymanager.simulator import cvc
from keymanager.simulator.crypto import (
    Randomness,
    cryptography_ec_key,
    digest,
    ecdh,
    ecdsa_sign,
    generate_rsa,
    hash_algorithm,
    rsa_from_primes,
    rsa_private_operation,
)
from keymanager.simulator.faults import FaultKind, FaultPlan
from keymanager.simulator.state import (
    SO_PIN_TRIES,
    CardState,
    KeyDomain,
    KeyRecord,
    load_state,
    save_state,
)

logger = logging.getLogger(__name__)

AID = bytes.fromhex("E82B0601040181C31F0201")
ATR = bytes.fromhex("3BFE1800008131FE458031815448534D31738021408107FA")
VERSION = (4, 0)
APPLET_TYPE = 0x00

OPTION_RESET_RETRY_COUNTER = 0x0001
OPTION_TRANSPORT_PIN = 0x0002
OPTION_RRC_UNBLOCK_ONLY = 0x0020

FID_DEVICE_CERTIFICATES = 0x2F02
FID_TOKEN_INFO = 0x2F03
FID_UNWRAP_STAGING = 0x2F10
KEY_PREFIX = 0xCC
PRIVATE_DATA_PREFIX = 0xCD
MAX_FILE_SIZE = 0x7FFF
MAX_CHAINED_DATA = 65535
DEVICE_KEY = 0
PIN_MIN, PIN_MAX = 6, 16
CHAIN_CURVE = cvc.CHAIN_CURVE_NAME

SW_OK = 0x9000

ALGO_RSA_RAW = 0x20
ALGO_RSA_DECRYPT_RAW = 0x21
ALGO_RSA_DECRYPT_PKCS1 = 0x22
ALGO_RSA_DECRYPT_OAEP = 0x23
ALGO_RSA_PKCS1_DIGESTINFO = 0x30
ALGO_RSA_PSS = 0x40
ALGO_EC_RAW = 0x70
ALGO_EC_DH = 0x80
_RSA_PKCS1_HASH = {0x31: "sha1", 0x32: "sha224", 0x33: "sha256", 0x34: "sha384", 0x35: "sha512"}
_RSA_PSS_HASH = {0x41: "sha1", 0x42: "sha224", 0x43: "sha256", 0x44: "sha384", 0x45: "sha512"}
_EC_HASH = {0x71: "sha1", 0x72: "sha224", 0x73: "sha256", 0x74: "sha384", 0x75: "sha512"}
_HASH_BY_LENGTH = {20: "sha1", 28: "sha224", 32: "sha256", 48: "sha384", 64: "sha512"}
_AES_GENERATE = {0xB0: 16, 0xB1: 24, 0xB2: 32}


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


def _tlv_map(data: bytes) -> dict[int, bytes]:
    """Top-level TLVs of ``data`` by integer tag (the last of a repeated tag wins)."""
    try:
        return {int.from_bytes(item.tag, "big"): item.value for item in iter_tlvs(data)}
    except TlvError:
        raise CardStatus(0x6A80) from None


def _matches_curve(curve: CurveParameters, fields: dict[int, bytes]) -> bool:
    """Whether the explicit domain parameters given (81 … 87) all agree with ``curve``."""
    expected = {
        0x82: curve.a,
        0x83: curve.b,
        0x85: curve.order,
        0x87: curve.cofactor,
    }
    for tag, value in expected.items():
        given = fields.get(tag)
        if given is not None:
            number = int.from_bytes(given, "big")
            if (number % curve.p if tag in (0x82, 0x83) else number) != value:
                return False
    generator = fields.get(0x84)
    return generator is None or generator == curve.encode_point(curve.generator)


def _sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


SecretKey = rsa.RSAPrivateKey | tuple[CurveParameters, int] | bytes


class SmartCardHsmSimulator:
    """A SmartCard-HSM in software (see the module docstring and ``docs/card.md``).

    :param state_path: where the persistent state lives; loaded if the file exists,
        created otherwise, and saved atomically after every command that changes it.
        ``None`` keeps the state in memory only.
    :param seed: make every random choice deterministic (keys, challenges, the
        identity of a new card).  For an existing state file the seeded stream
        continues where it stopped when the seed is the same.
    :param hide_kcv_until_login: model Pico HSM, whose key-domain status shows an
        all-zero KCV until the user PIN was verified in this card session.
    """

    def __init__(
        self,
        state_path: Path | str | None = None,
        *,
        seed: bytes | None = None,
        hide_kcv_until_login: bool = False,
    ) -> None:
        self.state_path = None if state_path is None else Path(state_path)
        self.hide_kcv_until_login = hide_kcv_until_login
        self.faults = FaultPlan()
        self._present = True
        loaded = None if self.state_path is None else load_state(self.state_path)
        created = loaded is None
        if loaded is None:
            self.state = self._new_state(seed)
        else:
            self.state = loaded
            if seed is not None and loaded.drbg_seed != bytes(seed):
                loaded.drbg_seed = bytes(seed)
                loaded.drbg_counter = 0
        self._rng = Randomness(self.state.drbg_seed, self.state.drbg_counter)
        self._key_cache: dict[int, SecretKey] = {}
        self._dirty = False
        self._applet_selected = False
        self._verified = False
        self._current_ef: int | None = None
        self._pending: bytes | None = None
        self._chain: tuple[tuple[int, int, int, int], bytearray] | None = None
        if created and self.state_path is not None:
            save_state(self.state_path, self.state)

    # --- identity and presence ----------------------------------------------------------

    @staticmethod
    def _new_state(seed: bytes | None) -> CardState:
        if seed is None:
            identity_seed = Randomness().bytes(32)
        else:
            identity_seed = hashlib.sha256(b"keymanager simulator identity" + bytes(seed)).digest()
        digits = int.from_bytes(hashlib.sha256(identity_seed + b"serial").digest(), "big") % 10**6
        serial = f"{digits:06d}"
        chain, device_value = cvc.device_chain(identity_seed, serial)
        state = CardState(
            identity_seed=identity_seed,
            serial=serial,
            drbg_seed=None if seed is None else bytes(seed),
        )
        state.keys[DEVICE_KEY] = KeyRecord(kind="ec", curve=CHAIN_CURVE, d=device_value)
        state.files[FID_DEVICE_CERTIFICATES] = chain
        return state

    @property
    def atr(self) -> bytes:
        """The genuine SmartCard-HSM ATR."""
        return ATR

    @property
    def present(self) -> bool:
        """Whether the card is in the reader (a removal fault takes it out)."""
        return self._present

    @property
    def serial(self) -> str:
        """The serial number OpenSC shows: the device CHR without its last five characters."""
        return cvc.DEVICE_CHR_PREFIX.decode() + self.state.serial

    @property
    def device_chr(self) -> bytes:
        """The device certificate's holder reference."""
        return cvc.device_chr(self.state.serial)

    def device_certificates(self) -> bytes:
        """EF 2F02: device CVC followed by the DICA CVC."""
        return self.state.files[FID_DEVICE_CERTIFICATES]

    def insert(self) -> None:
        """Put the card (back) into the reader; its volatile state starts afresh."""
        self._present = True
        self._reset_volatile()

    def remove(self) -> None:
        """Take the card out of the reader."""
        self._present = False
        self._reset_volatile()

    def _reset_volatile(self) -> None:
        self._applet_selected = False
        self._verified = False
        self._current_ef = None
        self._pending = None
        self._chain = None

    # --- VirtualCard ----------------------------------------------------------------------

    def power_on(self) -> bytes:
        """Reset the volatile state and return the ATR.

        :raises CardRemoved: the card is not in the reader.
        """
        if not self._present:
            raise CardRemoved("the simulated card is not in the reader")
        self._reset_volatile()
        return ATR

    def process_apdu(self, apdu: bytes) -> bytes:
        """Process one command APDU and return response data ‖ SW1 SW2.

        :raises CardRemoved: the card is absent, or a removal fault fired.
        :raises CardReset: a reset fault fired (the volatile state is gone).
        """
        if not self._present:
            raise CardRemoved("the simulated card is not in the reader")
        fault = self.faults.next_apdu()
        if fault is not None:
            if fault.kind is FaultKind.REMOVE:
                self.remove()
                raise CardRemoved("the simulated card was pulled out of the reader")
            if fault.kind is FaultKind.RESET:
                self._reset_volatile()
                raise CardReset("the simulated card was reset")
            return _sw_bytes(fault.sw)
        try:
            response = self._process(bytes(apdu))
        except Exception:  # the card answers every byte string; never crash the caller
            logger.exception("simulator: internal error")
            response = _sw_bytes(0x6F00)
        if self._rng.deterministic and self._rng.counter != self.state.drbg_counter:
            self.state.drbg_counter = self._rng.counter
            self._dirty = True
        if self._dirty:
            self._dirty = False
            if self.state_path is not None:
                try:
                    save_state(self.state_path, self.state)
                except OSError:
                    logger.exception("simulator: could not save the state")
                    return _sw_bytes(0x6581)
        return response

    # --- transport layer ------------------------------------------------------------------

    def _process(self, raw: bytes) -> bytes:
        try:
            command = parse_apdu(raw)
        except CardStatus as status:
            self._pending = None
            return _sw_bytes(status.sw)
        base_cla = command.cla & ~0x10 & 0xFF
        if base_cla not in (0x00, 0x80):
            self._pending = None
            self._chain = None
            return _sw_bytes(0x6E00)
        if command.ins == 0xC0 and not command.cla & 0x10:
            return self._get_response(command)
        self._pending = None
        header = (base_cla, command.ins, command.p1, command.p2)
        if command.cla & 0x10:
            if self._chain is None or self._chain[0] != header:
                self._chain = (header, bytearray())
            self._chain[1].extend(command.data)
            if len(self._chain[1]) > MAX_CHAINED_DATA:
                self._chain = None
                return _sw_bytes(0x6700)
            return _sw_bytes(SW_OK)
        if self._chain is not None:
            chained_header, collected = self._chain
            self._chain = None
            if chained_header == header:
                command = replace(command, data=bytes(collected) + command.data)
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
        return data + _sw_bytes(sw)

    def _get_response(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            return _sw_bytes(0x6A86)
        if self._pending is None:
            return _sw_bytes(0x6985)
        limit = command.ne if command.ne is not None else 256
        data, rest = self._pending[:limit], self._pending[limit:]
        if rest:
            self._pending = rest
            return data + _sw_bytes(0x6100 | (min(len(rest), 256) & 0xFF))
        self._pending = None
        return data + _sw_bytes(SW_OK)

    def _dispatch(self, command: Command) -> bytes:
        handlers: dict[int, Callable[[Command], bytes]] = {
            0xA4: self._select,
            0x20: self._verify,
            0x24: self._change_reference_data,
            0x2C: self._reset_retry_counter,
            0x50: self._initialize,
            0x52: self._key_domain,
            0x58: self._enumerate,
            0xB1: self._read_binary,
            0xD7: self._update_binary,
            0xE4: self._delete_file,
            0x84: self._get_challenge,
            0x46: self._generate_key_pair,
            0x48: self._generate_aes_key,
            0x72: self._wrap_key,
            0x74: self._unwrap_key,
            0x68: self._sign,
            0x62: self._decipher,
        }
        handler = handlers.get(command.ins)
        if handler is None:
            raise CardStatus(0x6D00)
        if command.ins != 0xA4 and not self._applet_selected:
            raise CardStatus(0x6D00)
        return handler(command)

    # --- helpers --------------------------------------------------------------------------

    def _require_pin(self) -> None:
        if not self.state.initialised or not self._verified:
            raise CardStatus(0x6982)

    def _changed(self) -> None:
        self._dirty = True

    def _file_exists(self, fid: int) -> bool:
        if fid >> 8 == KEY_PREFIX:
            return fid & 0xFF in self.state.keys
        return fid in self.state.files

    def _fcp(self, fid: int) -> bytes:
        size = len(self.state.files.get(fid, b""))
        return encode_tlv(
            0x62,
            encode_tlv(0x80, size.to_bytes(2, "big"))
            + encode_tlv(0x82, b"\x01")
            + encode_tlv(0x83, fid.to_bytes(2, "big")),
        )

    def _applet_fcp(self) -> bytes:
        info = self.state.options.to_bytes(2, "big") + bytes([APPLET_TYPE, *VERSION])
        return encode_tlv(
            0x62, encode_tlv(0x82, b"\x78") + encode_tlv(0x84, AID) + encode_tlv(0x85, info)
        )

    def _fid_from_p1p2(self, command: Command) -> int:
        fid = command.p1 << 8 | command.p2
        if fid == 0:
            if self._current_ef is None:
                raise CardStatus(0x6986)
            return self._current_ef
        return fid

    # --- SELECT ---------------------------------------------------------------------------

    def _select(self, command: Command) -> bytes:
        if command.p2 not in (0x00, 0x04, 0x0C):
            raise CardStatus(0x6A86)
        if command.p1 == 0x04:
            if command.data != AID:
                raise CardStatus(0x6A82)
            self._applet_selected = True
            self._verified = False
            self._current_ef = None
            return b"" if command.p2 == 0x0C else self._applet_fcp()
        if command.p1 in (0x00, 0x02):
            if not self._applet_selected:
                raise CardStatus(0x6A82)
            if len(command.data) != 2:
                raise CardStatus(0x6700)
            fid = int.from_bytes(command.data, "big")
            if not self._file_exists(fid):
                raise CardStatus(0x6A82)
            self._current_ef = fid
            return b"" if command.p2 == 0x0C else self._fcp(fid)
        raise CardStatus(0x6A86)

    # --- PINs -----------------------------------------------------------------------------

    def _user_pin_status(self) -> None:
        state = self.state
        if not state.initialised:
            raise CardStatus(0x6A88)
        if state.transport_pin:
            raise CardStatus(0x6984)
        if state.user_pin_tries == 0:
            raise CardStatus(0x6983)

    def _check_user_pin(self, candidate: bytes) -> None:
        state = self.state
        if hmac.compare_digest(candidate, state.user_pin):
            state.user_pin_tries = state.user_pin_max
            self._changed()
            return
        state.user_pin_tries = max(0, state.user_pin_tries - 1)
        self._verified = False
        self._changed()
        raise CardStatus(0x63C0 | state.user_pin_tries)

    def _check_so_pin(self, candidate: bytes) -> None:
        state = self.state
        if state.so_pin_tries == 0:
            raise CardStatus(0x6983)
        if hmac.compare_digest(candidate, state.so_pin):
            if state.so_pin_tries != SO_PIN_TRIES:
                state.so_pin_tries = SO_PIN_TRIES
                self._changed()
            return
        state.so_pin_tries -= 1
        self._changed()
        raise CardStatus(0x63C0 | state.so_pin_tries)

    def _verify(self, command: Command) -> bytes:
        if command.p1 != 0:
            raise CardStatus(0x6A86)
        if command.p2 == 0x81:
            self._user_pin_status()
            if not command.data:
                if self._verified:
                    return b""
                raise CardStatus(0x63C0 | self.state.user_pin_tries)
            if len(command.data) > PIN_MAX:
                raise CardStatus(0x6700)
            self._check_user_pin(command.data)
            self._verified = True
            return b""
        if command.p2 == 0x88:
            if not self.state.initialised:
                raise CardStatus(0x6A88)
            if not command.data:
                if self.state.so_pin_tries == 0:
                    raise CardStatus(0x6983)
                raise CardStatus(0x63C0 | self.state.so_pin_tries)
            if len(command.data) != 8:
                raise CardStatus(0x6700)
            self._check_so_pin(command.data)
            return b""
        raise CardStatus(0x6A88)

    def _change_reference_data(self, command: Command) -> bytes:
        if command.p1 != 0:
            raise CardStatus(0x6A86)
        state = self.state
        if command.p2 == 0x81:
            if not state.initialised:
                raise CardStatus(0x6A88)
            if state.user_pin_tries == 0:
                raise CardStatus(0x6983)
            old_length = len(state.user_pin)
            new_pin = command.data[old_length:]
            if not PIN_MIN <= len(new_pin) <= PIN_MAX:
                raise CardStatus(0x6700)
            self._check_user_pin(command.data[:old_length])
            state.user_pin = bytes(new_pin)
            state.transport_pin = False
            self._verified = True
            self._changed()
            return b""
        if command.p2 == 0x88:
            if len(command.data) != 16:
                raise CardStatus(0x6700)
            self._check_so_pin(command.data[:8])
            state.so_pin = bytes(command.data[8:])
            self._changed()
            return b""
        raise CardStatus(0x6A88)

    def _reset_retry_counter(self, command: Command) -> bytes:
        if command.p1 not in (0x00, 0x01):
            raise CardStatus(0x6A86)
        if command.p2 != 0x81:
            raise CardStatus(0x6A88)
        state = self.state
        if not state.initialised:
            raise CardStatus(0x6A88)
        if not state.options & OPTION_RESET_RETRY_COUNTER:
            raise CardStatus(0x6986)
        if command.p1 == 0x00:
            if state.options & OPTION_RRC_UNBLOCK_ONLY:
                raise CardStatus(0x6986)
            new_pin = command.data[8:]
            if len(command.data) < 8 or not PIN_MIN <= len(new_pin) <= PIN_MAX:
                raise CardStatus(0x6700)
        elif len(command.data) != 8:
            raise CardStatus(0x6700)
        self._check_so_pin(command.data[:8])
        if command.p1 == 0x00:
            state.user_pin = bytes(command.data[8:])
            state.transport_pin = False
        state.user_pin_tries = state.user_pin_max
        self._changed()
        return b""

    # --- INITIALIZE -----------------------------------------------------------------------

    def _initialize(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(0x6A86)
        if not command.data:
            # Pico HSM's "free memory and version" query.
            return (0x10000).to_bytes(4, "big") + bytes([APPLET_TYPE, *VERSION])
        tags = _tlv_map(command.data)
        options_value = tags.get(0x80, b"\x00\x00")
        user_pin = tags.get(0x81)
        init_code = tags.get(0x82)
        retries_value = tags.get(0x91, bytes([3]))
        if (
            len(options_value) != 2
            or user_pin is None
            or not PIN_MIN <= len(user_pin) <= PIN_MAX
            or init_code is None
            or len(init_code) != 8
            or len(retries_value) != 1
            or not 1 <= retries_value[0] <= 15
        ):
            raise CardStatus(0x6A80)
        shares = tags.get(0x92)
        slots_value = tags.get(0x97)
        pka = tags.get(0x93, b"")
        if (
            (shares is not None and len(shares) != 1)
            or (slots_value is not None and len(slots_value) != 1)
            or len(pka) not in (0, 2)
        ):
            raise CardStatus(0x6A80)
        self._check_so_pin(init_code)

        state = self.state
        state.keys = {DEVICE_KEY: state.keys[DEVICE_KEY]}
        state.files = {FID_DEVICE_CERTIFICATES: state.files[FID_DEVICE_CERTIFICATES]}
        self._key_cache.clear()
        state.options = int.from_bytes(options_value, "big")
        state.user_pin = bytes(user_pin)
        state.user_pin_max = state.user_pin_tries = retries_value[0]
        state.transport_pin = bool(state.options & OPTION_TRANSPORT_PIN)
        state.so_pin_tries = SO_PIN_TRIES
        state.public_key_authentication = bytes(pka)
        if shares is None and slots_value is None:
            state.key_domains = None
        else:
            slot_count = max(1, slots_value[0]) if slots_value is not None else 1
            domains: list[KeyDomain | None] = [None] * slot_count
            if shares is not None:
                domains[0] = self._new_domain(shares[0])
            state.key_domains = domains
        state.initialised = True
        self._verified = False
        self._current_ef = None
        self._changed()
        return b""

    def _new_domain(self, shares: int) -> KeyDomain:
        if shares == 0:
            return KeyDomain(total=0, imported=0, dkek=self._rng.bytes(32))
        return KeyDomain(total=shares, imported=0)

    # --- key domains (INS 52) -------------------------------------------------------------

    def _domains(self) -> list[KeyDomain | None]:
        if not self.state.initialised or self.state.key_domains is None:
            raise CardStatus(0x6D00)
        return self.state.key_domains

    def _domain_status(self, domain: KeyDomain | None) -> bytes:
        if domain is None:
            return bytes(10)
        hidden = self.hide_kcv_until_login and not self._verified
        if hidden or (domain.total > 0 and domain.imported == 0):
            kcv = bytes(8)
        else:
            kcv = kcv_of(domain.dkek)
        return bytes([domain.total & 0xFF, domain.outstanding & 0xFF]) + kcv

    def _key_domain(self, command: Command) -> bytes:
        domains = self._domains()
        index = command.p2
        if index >= len(domains):
            raise CardStatus(0x6A86)
        domain = domains[index]
        if command.p1 == 0x00:
            if not command.data:
                if domain is None:
                    raise CardStatus(0x6A88)
                return self._domain_status(domain)
            if len(command.data) != 32:
                raise CardStatus(0x6700)
            if index != 0:
                self._require_pin()
            if domain is None or domain.outstanding == 0:
                raise CardStatus(0x6986)
            domain.dkek = bytes(a ^ b for a, b in zip(domain.dkek, command.data, strict=True))
            domain.imported += 1
            self._changed()
            return self._domain_status(domain)
        if command.p1 == 0x01:
            self._require_pin()
            if len(command.data) != 1:
                raise CardStatus(0x6700)
            if domain is not None:
                raise CardStatus(0x6A89)
            domains[index] = created = self._new_domain(command.data[0])
            self._changed()
            return self._domain_status(created)
        if command.p1 == 0x02:
            raise CardStatus(0x6A81)  # XKEK key domains are not simulated
        if command.p1 == 0x03:
            self._require_pin()
            if domain is None:
                raise CardStatus(0x6A88)
            if any(key.domain == index for key in self.state.keys.values()):
                raise CardStatus(0x6A89)
            domains[index] = None
            self._changed()
            return self._domain_status(None)
        if command.p1 == 0x04:
            self._require_pin()
            if domain is None:
                raise CardStatus(0x6A88)
            domain.imported = 0
            domain.dkek = self._rng.bytes(32) if domain.total == 0 else bytes(32)
            self._changed()
            return self._domain_status(domain)
        raise CardStatus(0x6A86)

    # --- files ----------------------------------------------------------------------------

    def _enumerate(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(0x6A86)
        fids = {KEY_PREFIX << 8 | kid for kid in self.state.keys}
        fids.update(fid for fid in self.state.files if fid != FID_DEVICE_CERTIFICATES)
        return b"".join(fid.to_bytes(2, "big") for fid in sorted(fids))

    @staticmethod
    def _offset(tags: dict[int, bytes]) -> int:
        value = tags.get(0x54)
        if value is None or not 1 <= len(value) <= 2:
            raise CardStatus(0x6A80)
        return int.from_bytes(value, "big")

    def _read_binary(self, command: Command) -> bytes:
        fid = self._fid_from_p1p2(command)
        offset = self._offset(_tlv_map(command.data))
        if command.ne is None:
            raise CardStatus(0x6700)
        if fid >> 8 == KEY_PREFIX:
            raise CardStatus(0x6982)
        if fid >> 8 == PRIVATE_DATA_PREFIX:
            self._require_pin()
        content = self.state.files.get(fid)
        if content is None:
            raise CardStatus(0x6A82)
        self._current_ef = fid
        if offset > len(content):
            raise CardStatus(0x6B00)
        data = content[offset : offset + command.ne]
        if len(data) < command.ne and not command.le_max:
            raise CardStatus(0x6282, data)
        return data

    def _update_binary(self, command: Command) -> bytes:
        fid = self._fid_from_p1p2(command)
        self._require_pin()
        if fid >> 8 == KEY_PREFIX or fid == FID_DEVICE_CERTIFICATES or fid == 0x3F00:
            raise CardStatus(0x6986)
        tags = _tlv_map(command.data)
        offset = self._offset(tags)
        payload = tags.get(0x53)
        if payload is None:
            raise CardStatus(0x6A80)
        content = self.state.files.get(fid, b"")
        if offset > len(content):
            raise CardStatus(0x6B00)
        updated = content[:offset] + payload + content[offset + len(payload) :]
        if len(updated) > MAX_FILE_SIZE:
            raise CardStatus(0x6A84)
        self.state.files[fid] = updated
        self._current_ef = fid
        self._changed()
        return b""

    def _delete_file(self, command: Command) -> bytes:
        if command.p1 != 0x02 or command.p2 != 0x00:
            raise CardStatus(0x6A86)
        if len(command.data) != 2:
            raise CardStatus(0x6700)
        self._require_pin()
        fid = int.from_bytes(command.data, "big")
        if fid == FID_DEVICE_CERTIFICATES or fid == KEY_PREFIX << 8 | DEVICE_KEY:
            raise CardStatus(0x6986)
        if fid >> 8 == KEY_PREFIX:
            if self.state.keys.pop(fid & 0xFF, None) is None:
                raise CardStatus(0x6A82)
            self._key_cache.pop(fid & 0xFF, None)
        elif self.state.files.pop(fid, None) is None:
            raise CardStatus(0x6A82)
        if self._current_ef == fid:
            self._current_ef = None
        self._changed()
        return b""

    def _get_challenge(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(0x6A86)
        if command.ne is None:
            raise CardStatus(0x6700)
        return self._rng.bytes(command.ne)

    # --- keys -----------------------------------------------------------------------------

    def _key_record(self, kid: int) -> KeyRecord:
        record = self.state.keys.get(kid)
        if record is None:
            raise CardStatus(0x6A88)
        return record

    def _secret(self, kid: int, record: KeyRecord) -> SecretKey:
        cached = self._key_cache.get(kid)
        if cached is not None:
            return cached
        secret: SecretKey
        if record.kind == "rsa":
            secret = rsa_from_primes(record.p, record.q, record.e)
        elif record.kind == "ec":
            secret = (curve_by_name(record.curve), record.d)
        else:
            secret = record.secret
        self._key_cache[kid] = secret
        return secret

    def _metadata(
        self, tags: dict[int, bytes], default_algorithms: bytes = b""
    ) -> tuple[bytes, int | None, int | None]:
        """Allowed algorithms, key domain and use counter from tags 91, 92, 90."""
        algorithms = tags.get(0x91, default_algorithms)
        counter_value = tags.get(0x90)
        counter = None
        if counter_value is not None:
            if not 1 <= len(counter_value) <= 4:
                raise CardStatus(0x6A80)
            counter = int.from_bytes(counter_value, "big")
        domains = self.state.key_domains
        domain_value = tags.get(0x92)
        if domain_value is not None:
            if (
                len(domain_value) != 1
                or domains is None
                or domain_value[0] >= len(domains)
                or domains[domain_value[0]] is None
            ):
                raise CardStatus(0x6A80)
            domain: int | None = domain_value[0]
        else:
            domain = 0 if domains and domains[0] is not None else None
        return bytes(algorithms), domain, counter

    def _generate_key_pair(self, command: Command) -> bytes:
        self._require_pin()
        kid = command.p1
        if kid == DEVICE_KEY or command.p2 != 0x00:
            raise CardStatus(0x6A86)
        tags = _tlv_map(command.data)
        template = tags.get(0x7F49)
        if template is None:
            raise CardStatus(0x6A80)
        fields = _tlv_map(template)
        oid = fields.get(0x06, b"")
        algorithms, domain, counter = self._metadata(tags)
        car = tags.get(0x42, b"UTCA00001")
        holder = tags.get(0x5F20, b"UTDUMMY00001")
        record: KeyRecord
        secret: SecretKey
        if cvc.is_rsa_oid(oid):
            bits = int.from_bytes(fields.get(0x02, (2048).to_bytes(2, "big")), "big")
            exponent = int.from_bytes(fields.get(0x82, (65537).to_bytes(3, "big")), "big")
            if bits % 256 or not 1024 <= bits <= 4096 or exponent != 65537:
                raise CardStatus(0x6A80)
            key = generate_rsa(bits, exponent, self._rng)
            numbers = key.private_numbers()
            record = KeyRecord(
                kind="rsa", n=numbers.public_numbers.n, e=exponent, p=numbers.p, q=numbers.q
            )
            secret = key
            public_key = cvc.rsa_public_key(key.public_key(), oid=oid)
        elif cvc.is_ecdsa_oid(oid):
            curve = self._curve_from_template(fields)
            private_value = self._rng.scalar(curve.order)
            record = KeyRecord(kind="ec", curve=curve.name, d=private_value)
            secret = (curve, private_value)
            point = curve.encode_point(derive_public_point(curve, private_value))
            public_key = cvc.ec_public_key(curve, point, oid=oid, domain=True)
        else:
            raise CardStatus(0x6A80)
        record.algorithms, record.domain, record.use_counter = algorithms, domain, counter
        body = cvc.certificate_body(car, public_key, holder)
        inner = cvc.certificate(body, cvc.self_signature(secret, body, oid, self._rng.bytes(16)))
        device_curve = curve_by_name(CHAIN_CURVE)
        device_value = self.state.keys[DEVICE_KEY].d
        extra = self._rng.bytes(16)

        def device_signer(data: bytes) -> bytes:
            return cvc.ecdsa_plain_signature(device_curve, device_value, data, extra=extra)

        request = cvc.authenticated_request(inner, self.device_chr, device_signer)
        self.state.keys[kid] = record
        self._key_cache[kid] = secret
        self.state.files[0xCE00 | kid] = request
        self._changed()
        return request

    @staticmethod
    def _curve_from_template(fields: dict[int, bytes]) -> CurveParameters:
        prime_value = fields.get(0x81)
        if not prime_value:
            raise CardStatus(0x6A80)
        prime = int.from_bytes(prime_value, "big")
        for curve in SUPPORTED_CURVES:
            if curve.p != prime:
                continue
            if _matches_curve(curve, fields):
                return curve
        raise CardStatus(0x6A81)

    def _generate_aes_key(self, command: Command) -> bytes:
        self._require_pin()
        kid = command.p1
        length = _AES_GENERATE.get(command.p2)
        if kid == DEVICE_KEY or length is None:
            raise CardStatus(0x6A86)
        tags = _tlv_map(command.data) if command.data else {}
        algorithms, domain, counter = self._metadata(tags, AES_DEFAULT_ALLOWED_ALGORITHMS)
        self.state.keys[kid] = KeyRecord(
            kind="aes",
            secret=self._rng.bytes(length),
            algorithms=algorithms,
            domain=domain,
            use_counter=counter,
        )
        self._key_cache.pop(kid, None)
        self._changed()
        return b""

    # --- wrap / unwrap --------------------------------------------------------------------

    def _wrap_key(self, command: Command) -> bytes:
        if command.p2 != 0x92:
            raise CardStatus(0x6A86)
        self._require_pin()
        domains = self._domains()
        record = self._key_record(command.p1)
        if record.domain is None or record.domain >= len(domains):
            raise CardStatus(0x6A88)
        domain = domains[record.domain]
        if domain is None or not domain.complete:
            raise CardStatus(0x6A88)
        key = self._wrappable(command.p1, record)
        with Dkek.from_value(domain.dkek) as dkek:
            return encode_key(
                dkek, key, allowed_algorithms=record.algorithms, randomize=self._rng.bytes(8)
            )

    def _wrappable(self, kid: int, record: KeyRecord) -> WrappableKey:
        secret = self._secret(kid, record)
        if isinstance(secret, rsa.RSAPrivateKey):
            return secret
        if isinstance(secret, bytes):
            return AesKey(secret)
        curve, private_value = secret
        key = cryptography_ec_key(curve, private_value)
        if key is not None:
            return key
        return EcKeyMaterial.from_private_value(curve, private_value)

    def _unwrap_key(self, command: Command) -> bytes:
        if command.p2 != 0x93:
            raise CardStatus(0x6A86)
        self._require_pin()
        domains = self._domains()
        kid = command.p1
        if kid == DEVICE_KEY:
            raise CardStatus(0x6A86)
        if kid in self.state.keys:
            raise CardStatus(0x6A89)
        blob = command.data or self.state.files.get(FID_UNWRAP_STAGING, b"")
        try:
            describe_blob(blob)
        except KeyBlobError:
            raise CardStatus(0x6A80) from None
        for index, domain in enumerate(domains):
            if domain is None or not domain.complete:
                continue
            if not hmac.compare_digest(kcv_of(domain.dkek), blob[:8]):
                continue
            try:
                with Dkek.from_value(domain.dkek) as dkek:
                    decoded = decode_key(dkek, blob)
            except KeyBlobError:
                raise CardStatus(0x6A80) from None
            record = self._record_for(decoded.private_key)
            record.algorithms = decoded.allowed_algorithms
            record.domain = index
            self.state.keys[kid] = record
            self._key_cache.pop(kid, None)
            self._changed()
            return b""
        raise CardStatus(0x6A80)

    @staticmethod
    def _record_for(key: WrappableKey) -> KeyRecord:
        if isinstance(key, rsa.RSAPrivateKey):
            numbers = key.private_numbers()
            bits = key.key_size
            if bits % 8 or not 1024 <= bits <= 4096:
                raise CardStatus(0x6A80)
            return KeyRecord(
                kind="rsa",
                n=numbers.public_numbers.n,
                e=numbers.public_numbers.e,
                p=numbers.p,
                q=numbers.q,
            )
        if isinstance(key, ec.EllipticCurvePrivateKey):
            curve = curve_by_cryptography_curve(key.curve)
            return KeyRecord(kind="ec", curve=curve.name, d=key.private_numbers().private_value)
        if isinstance(key, EcKeyMaterial):
            return KeyRecord(kind="ec", curve=key.curve.name, d=key.private_value)
        return KeyRecord(kind="aes", secret=key.key)

    # --- private-key operations -----------------------------------------------------------

    def _usable_key(self, command: Command) -> tuple[KeyRecord, SecretKey]:
        self._require_pin()
        kid = command.p1
        record = self._key_record(kid)
        if kid == DEVICE_KEY:
            raise CardStatus(0x6985)
        if record.algorithms and command.p2 not in record.algorithms:
            raise CardStatus(0x6985)
        if record.use_counter is not None and record.use_counter == 0:
            raise CardStatus(0x6985)
        if not command.data:
            raise CardStatus(0x6700)
        return record, self._secret(kid, record)

    def _used(self, record: KeyRecord) -> None:
        if record.use_counter is not None:
            record.use_counter -= 1
            self._changed()

    def _sign(self, command: Command) -> bytes:
        algorithm = command.p2
        rsa_algorithm = (
            algorithm in (ALGO_RSA_RAW, ALGO_RSA_PKCS1_DIGESTINFO, ALGO_RSA_PSS)
            or algorithm in _RSA_PKCS1_HASH
            or algorithm in _RSA_PSS_HASH
        )
        ec_algorithm = algorithm == ALGO_EC_RAW or algorithm in _EC_HASH
        if not rsa_algorithm and not ec_algorithm:
            raise CardStatus(0x6A86)
        record, secret = self._usable_key(command)
        data = command.data
        if rsa_algorithm:
            if not isinstance(secret, rsa.RSAPrivateKey):
                raise CardStatus(0x6A81)
            signature = self._rsa_sign(secret, algorithm, data)
        else:
            if not isinstance(secret, tuple):
                raise CardStatus(0x6A81)
            curve, private_value = secret
            message_hash = digest(_EC_HASH[algorithm], data) if algorithm in _EC_HASH else data
            if len(message_hash) > 128:
                raise CardStatus(0x6A80)
            r, s = ecdsa_sign(curve, private_value, message_hash, self._rng.bytes(16))
            signature = utils.encode_dss_signature(r, s)
        self._used(record)
        return signature

    def _rsa_sign(self, key: rsa.RSAPrivateKey, algorithm: int, data: bytes) -> bytes:
        size = (key.key_size + 7) // 8
        if algorithm == ALGO_RSA_RAW:
            return self._rsa_raw(key, data)
        if algorithm == ALGO_RSA_PKCS1_DIGESTINFO:
            if len(data) > size - 11:
                raise CardStatus(0x6A80)
            block = b"\x00\x01" + b"\xff" * (size - 3 - len(data)) + b"\x00" + data
            return self._rsa_raw(key, block)
        try:
            if algorithm in _RSA_PKCS1_HASH:
                hash_function = hash_algorithm(_RSA_PKCS1_HASH[algorithm])
                return key.sign(data, padding.PKCS1v15(), hash_function)
            if algorithm == ALGO_RSA_PSS:
                name = _HASH_BY_LENGTH.get(len(data))
                if name is None:
                    raise CardStatus(0x6A80)
                hash_function = hash_algorithm(name)
                return key.sign(
                    data,
                    padding.PSS(padding.MGF1(hash_function), padding.PSS.DIGEST_LENGTH),
                    utils.Prehashed(hash_function),
                )
            hash_function = hash_algorithm(_RSA_PSS_HASH[algorithm])
            return key.sign(
                data,
                padding.PSS(padding.MGF1(hash_function), padding.PSS.DIGEST_LENGTH),
                hash_function,
            )
        except ValueError:
            raise CardStatus(0x6A80) from None

    @staticmethod
    def _rsa_raw(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
        size = (key.key_size + 7) // 8
        value = int.from_bytes(data, "big")
        if len(data) > size or value >= key.private_numbers().public_numbers.n:
            raise CardStatus(0x6A80)
        return rsa_private_operation(key, value).to_bytes(size, "big")

    def _decipher(self, command: Command) -> bytes:
        algorithm = command.p2
        if algorithm not in (
            ALGO_RSA_DECRYPT_RAW,
            ALGO_RSA_DECRYPT_PKCS1,
            ALGO_RSA_DECRYPT_OAEP,
            ALGO_EC_DH,
        ):
            raise CardStatus(0x6A86)
        record, secret = self._usable_key(command)
        data = command.data
        if algorithm == ALGO_EC_DH:
            if not isinstance(secret, tuple):
                raise CardStatus(0x6A81)
            curve, private_value = secret
            try:
                result = ecdh(curve, private_value, data)
            except ValueError:
                raise CardStatus(0x6A80) from None
        else:
            if not isinstance(secret, rsa.RSAPrivateKey):
                raise CardStatus(0x6A81)
            if algorithm == ALGO_RSA_DECRYPT_RAW:
                result = self._rsa_raw(secret, data)
            elif algorithm == ALGO_RSA_DECRYPT_PKCS1:
                result = self._pkcs1_unpad(self._rsa_raw(secret, data))
            else:
                oaep_hash = hashes.SHA256()
                try:
                    result = secret.decrypt(
                        data, padding.OAEP(padding.MGF1(oaep_hash), oaep_hash, None)
                    )
                except ValueError:
                    raise CardStatus(0x6A80) from None
        self._used(record)
        return result

    @staticmethod
    def _pkcs1_unpad(block: bytes) -> bytes:
        separator = block.find(b"\x00", 2)
        if block[:2] != b"\x00\x02" or separator < 10:
            raise CardStatus(0x6A80)
        return block[separator + 1 :]
