"""The values the SmartCard-HSM session takes and returns (see :mod:`keymanager.card.hsm`).

Everything here is plain data with validation: no I/O.  Secrets (PINs, the SO-PIN)
never appear in a ``repr`` or in an exception text.
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass, field

from keymanager.dkek.tlv import encode_tlv

PIN_MIN_LENGTH = 6
PIN_MAX_LENGTH = 16
SO_PIN_LENGTH = 8
"""The SO-PIN (initialisation code) is 8 bytes, usually written as 16 hex digits."""
DEFAULT_SO_PIN = bytes.fromhex("3537363231383830")
"""The initialisation code of a new card (documented by CardContact and Nitrokey)."""
MAX_RETRY_COUNTER = 10
MAX_KEY_DOMAINS = 255
MAX_PUBLIC_KEYS = 90


class InitOptions(enum.IntFlag):
    """Option bits of INITIALIZE DEVICE tag ``80`` and of the applet's FCP tag ``85``."""

    NONE = 0
    RESET_RETRY_COUNTER = 0x0001
    """RESET RETRY COUNTER with the SO-PIN is allowed (sc-hsm-tool always sets it)."""
    TRANSPORT_PIN = 0x0002
    """The initial user PIN is a transport PIN that must be changed before use."""
    SESSION_PIN = 0x0004
    """Session PIN with clear-on-reset (biometric/SoC devices)."""
    REPLACE_PKA_KEYS = 0x0008
    """Registered public-key-authentication keys may be replaced."""
    REQUIRE_PKA_AND_PIN = 0x0010
    """Both public key authentication and the user PIN are required."""
    RRC_UNBLOCK_ONLY = 0x0020
    """RESET RETRY COUNTER may only unblock the PIN, never set a new one."""


class PinState(enum.Enum):
    """What a PIN status query (VERIFY without data) says."""

    VERIFIED = "verified"
    NOT_VERIFIED = "not verified"
    BLOCKED = "blocked"
    TRANSPORT_PIN = "transport PIN"
    NOT_INITIALISED = "not initialised"


@dataclass(frozen=True)
class PinStatus:
    """A PIN's state; ``tries_left`` is known when the card said ``63Cx`` (or blocked: 0)."""

    state: PinState
    tries_left: int | None = None
    sw: int = 0x9000

    @property
    def verified(self) -> bool:
        return self.state is PinState.VERIFIED

    @property
    def blocked(self) -> bool:
        return self.state is PinState.BLOCKED

    def describe(self) -> str:
        """A short human-readable text, e.g. ``not verified, 3 tries left``."""
        if self.state is PinState.NOT_VERIFIED and self.tries_left is not None:
            plural = "try" if self.tries_left == 1 else "tries"
            return f"not verified, {self.tries_left} {plural} left"
        if self.state is PinState.TRANSPORT_PIN:
            return "transport PIN: change it before use"
        return str(self.state.value)

    @classmethod
    def from_status_word(cls, sw: int, *, version: tuple[int, int] = (2, 0)) -> PinStatus | None:
        """The status a VERIFY status query's SW stands for; ``None`` if it is not a PIN status.

        ``6984`` means "transport PIN" on version 2.0 and later, "not initialised" before.
        """
        if sw == 0x9000:
            return cls(PinState.VERIFIED, None, sw)
        if sw & 0xFFF0 == 0x63C0:
            tries = sw & 0x0F
            if tries == 0:
                return cls(PinState.BLOCKED, 0, sw)
            return cls(PinState.NOT_VERIFIED, tries, sw)
        if sw == 0x6983:
            return cls(PinState.BLOCKED, 0, sw)
        if sw == 0x6984:
            if version >= (2, 0):
                return cls(PinState.TRANSPORT_PIN, None, sw)
            return cls(PinState.NOT_INITIALISED, None, sw)
        if sw == 0x6A88:
            return cls(PinState.NOT_INITIALISED, None, sw)
        return None


_APPLET_TYPES = {0x00: "SmartCard-HSM Applet for JCOP", 0x01: "Demo Applet for JCOP"}


@dataclass(frozen=True)
class AppletInfo:
    """What SELECT of the applet tells: version, options and applet type (FCP tag ``85``).

    ``options`` and ``applet_type`` are ``None`` for applets before version 2.0, whose
    tag ``85`` holds only the version.
    """

    version: tuple[int, int]
    options: InitOptions | None = None
    applet_type: int | None = None

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def applet_description(self) -> str:
        if self.applet_type is None:
            return "SmartCard-HSM"
        return _APPLET_TYPES.get(self.applet_type, "SmartCard-HSM")


def _check_pin_bytes(pin: bytes, what: str) -> bytes:
    if not PIN_MIN_LENGTH <= len(pin) <= PIN_MAX_LENGTH:
        raise ValueError(
            f"the {what} must be {PIN_MIN_LENGTH} to {PIN_MAX_LENGTH} characters long "
            f"(it has {len(pin)})"
        )
    return pin


def encode_pin(pin: str | bytes, what: str = "PIN") -> bytes:
    """A user PIN as the card takes it (UTF-8 bytes, 6 to 16 of them).

    :raises ValueError: too short or too long (the message never contains the PIN).
    """
    raw = pin.encode("utf-8") if isinstance(pin, str) else bytes(pin)
    return _check_pin_bytes(raw, what)


def check_so_pin(so_pin: bytes, what: str = "SO-PIN") -> bytes:
    """Check that an SO-PIN is 8 bytes.

    :raises ValueError: it is not (the message never contains the SO-PIN).
    """
    if not isinstance(so_pin, bytes | bytearray) or len(so_pin) != SO_PIN_LENGTH:
        raise ValueError(
            f"the {what} must be {SO_PIN_LENGTH} bytes (16 hexadecimal digits); "
            "use parse_so_pin() for the text form"
        )
    return bytes(so_pin)


def parse_so_pin(text: str) -> bytes:
    """The 8 SO-PIN bytes from its usual form: 16 hex digits (``:`` and spaces allowed).

    :raises ValueError: not exactly 16 hexadecimal digits (the message never echoes them).
    """
    digits = "".join(ch for ch in text if ch not in ": \t")
    if len(digits) != 2 * SO_PIN_LENGTH or any(ch not in string.hexdigits for ch in digits):
        raise ValueError("the SO-PIN must be exactly 16 hexadecimal digits (0-9, A-F)")
    return bytes.fromhex(digits)


def max_retry_counter(pin_length: int) -> int:
    """The highest retry counter sc-hsm-tool allows for a PIN of this many characters."""
    if pin_length <= 6:
        return 3
    if pin_length == 7:
        return 5
    return MAX_RETRY_COUNTER


@dataclass(frozen=True, repr=False)
class InitParams:
    """Everything INITIALIZE DEVICE (``80 50 00 00``) sets.

    :param user_pin: the initial user PIN (6 to 16 characters).
    :param so_pin: the SO-PIN (initialisation code) to use from now on, 8 bytes; on a
        card that was initialised before it must be the current SO-PIN.
    :param options: tag ``80``; sc-hsm-tool sends :attr:`InitOptions.RESET_RETRY_COUNTER`.
    :param retry_counter: tag ``91``, user-PIN tries; at most 3 for a 6-character PIN,
        5 for 7 characters and 10 otherwise (the limits sc-hsm-tool enforces).
    :param dkek_shares: tag ``92``: ``None`` = no DKEK (keys cannot be backed up),
        0 = the card makes a random DKEK, n = n shares will be imported.
    :param public_key_auth: tag ``93``: (total keys n, required keys m), 1 ≤ m ≤ n ≤ 90.
    :param key_domains: tag ``97``: number of key-domain slots to allocate.
    :param current_so_pin: the SO-PIN the card has now, when it differs from
        ``so_pin``: INITIALIZE is sent with it (tag ``82`` must match the card's
        SO-PIN on a card initialised before) and
        :meth:`~keymanager.card.hsm.SmartCardHsm.initialize` then changes the SO-PIN
        to ``so_pin``.  ``None``: ``so_pin`` is the current SO-PIN (or, on a card never
        initialised, the one to set).
    """

    user_pin: str | bytes
    so_pin: bytes
    options: InitOptions = InitOptions.RESET_RETRY_COUNTER
    retry_counter: int = 3
    dkek_shares: int | None = None
    public_key_auth: tuple[int, int] | None = None
    key_domains: int | None = None
    current_so_pin: bytes | None = None
    _pin_bytes: bytes = field(init=False, compare=False, default=b"")

    def __post_init__(self) -> None:
        pin = encode_pin(self.user_pin, "initial user PIN")
        object.__setattr__(self, "_pin_bytes", pin)
        check_so_pin(self.so_pin)
        if self.current_so_pin is not None:
            check_so_pin(self.current_so_pin, "current SO-PIN")
        if not 0 <= int(self.options) <= 0xFFFF:
            raise ValueError("the options must fit in two bytes")
        limit = max_retry_counter(len(pin))
        if not 1 <= self.retry_counter <= limit:
            raise ValueError(
                f"the retry counter must be 1 to {limit} for a PIN of {len(pin)} characters"
            )
        if self.dkek_shares is not None and not 0 <= self.dkek_shares <= 255:
            raise ValueError("the number of DKEK shares must be 0 to 255")
        if self.public_key_auth is not None:
            total, required = self.public_key_auth
            if not 1 <= required <= total <= MAX_PUBLIC_KEYS:
                raise ValueError(
                    f"public key authentication needs 1 <= required <= total <= "
                    f"{MAX_PUBLIC_KEYS} (got {required} of {total})"
                )
        if self.key_domains is not None and not 1 <= self.key_domains <= MAX_KEY_DOMAINS:
            raise ValueError(f"the number of key domains must be 1 to {MAX_KEY_DOMAINS}")

    def __repr__(self) -> str:
        return (
            f"InitParams(user_pin=<redacted>, so_pin=<redacted>, options={self.options!r}, "
            f"retry_counter={self.retry_counter}, dkek_shares={self.dkek_shares}, "
            f"public_key_auth={self.public_key_auth}, key_domains={self.key_domains}, "
            f"changes_so_pin={self.changes_so_pin})"
        )

    @property
    def authorising_so_pin(self) -> bytes:
        """The SO-PIN INITIALIZE carries in tag ``82``."""
        return self.so_pin if self.current_so_pin is None else self.current_so_pin

    @property
    def changes_so_pin(self) -> bool:
        """Whether the SO-PIN is changed after initialisation."""
        return self.current_so_pin is not None and self.current_so_pin != self.so_pin

    def encode(self) -> bytes:
        """The command data: TLVs ``80 81 82 91`` and, when set, ``92 93 97``."""
        data = encode_tlv(0x80, int(self.options).to_bytes(2, "big"))
        data += encode_tlv(0x81, self._pin_bytes)
        data += encode_tlv(0x82, self.authorising_so_pin)
        data += encode_tlv(0x91, bytes([self.retry_counter]))
        if self.dkek_shares is not None:
            data += encode_tlv(0x92, bytes([self.dkek_shares]))
        if self.public_key_auth is not None:
            total, required = self.public_key_auth
            data += encode_tlv(0x93, bytes([total, required]))
        if self.key_domains is not None:
            data += encode_tlv(0x97, bytes([self.key_domains]))
        return data


@dataclass(frozen=True)
class KeyDomainStatus:
    """The answer of the key-domain / DKEK status query (``80 52 00 kd``).

    ``kcv`` is ``None`` when the card answers eight zero bytes: the KCV is hidden until
    the user PIN is verified (Pico HSM), or no share was imported yet.
    ``uid`` is the key-domain UID of an XKEK domain (empty otherwise).  An XKEK domain
    has no shares: its ``shares_total`` and ``shares_outstanding`` are 0 whatever the
    card answers (Pico HSM answers FF for the total).
    """

    shares_total: int
    shares_outstanding: int
    kcv: bytes | None
    uid: bytes = b""

    @property
    def complete(self) -> bool:
        """Whether every share was imported (the DKEK is usable)."""
        return self.shares_outstanding == 0

    @classmethod
    def parse(cls, data: bytes) -> KeyDomainStatus:
        """Parse the response; the caller checked it has at least 10 bytes."""
        kcv = bytes(data[2:10])
        uid = bytes(data[10:])
        total, outstanding = (0, 0) if uid else (data[0], data[1])  # XKEK: no shares
        return cls(total, outstanding, None if kcv == bytes(8) else kcv, uid)


@dataclass(frozen=True)
class KeyDomainSlot:
    """One allocated key-domain slot: its index and status (``None`` = slot empty)."""

    index: int
    status: KeyDomainStatus | None

    @property
    def number(self) -> int:
        """The slot's key-domain number (same as ``index``)."""
        return self.index


@dataclass(frozen=True)
class RsaKeySpec:
    """An RSA key to generate: modulus size in bits (1024 to 4096, steps of 256)."""

    bits: int = 2048
    exponent: int = 65537

    def __post_init__(self) -> None:
        if not 1024 <= self.bits <= 4096 or self.bits % 256:
            raise ValueError("RSA keys must be 1024 to 4096 bits, in steps of 256")
        if self.exponent < 3 or self.exponent % 2 == 0:
            raise ValueError("the RSA public exponent must be odd and at least 3")


@dataclass(frozen=True)
class EcKeySpec:
    """An EC key to generate on a named curve (see :mod:`keymanager.dkek.curves`)."""

    curve_name: str


KeySpec = RsaKeySpec | EcKeySpec


class Algorithm(enum.IntEnum):
    """Algorithm identifiers of SIGN / DECIPHER (P2) and allowed-algorithm lists.

    Ids 0x20 to 0x80 are in OpenSC's driver; the others come from the card's wider
    interface as Smart Card Shell and Pico HSM use it (allowed-algorithm lists of key
    generation and key blobs).
    """

    RSA_RAW = 0x20
    RSA_DECRYPT_RAW = 0x21
    RSA_DECRYPT_PKCS1 = 0x22
    RSA_DECRYPT_OAEP = 0x23
    RSA_PKCS1 = 0x30
    """PKCS#1 v1.5 signature over a DigestInfo supplied by the caller."""
    RSA_PKCS1_SHA1 = 0x31
    RSA_PKCS1_SHA224 = 0x32
    RSA_PKCS1_SHA256 = 0x33
    RSA_PKCS1_SHA384 = 0x34
    RSA_PKCS1_SHA512 = 0x35
    RSA_PSS = 0x40
    """RSA-PSS over a hash supplied by the caller."""
    RSA_PSS_SHA1 = 0x41
    RSA_PSS_SHA224 = 0x42
    RSA_PSS_SHA256 = 0x43
    RSA_PSS_SHA384 = 0x44
    RSA_PSS_SHA512 = 0x45
    ECDSA = 0x70
    """ECDSA over a hash supplied by the caller."""
    ECDSA_SHA1 = 0x71
    ECDSA_SHA224 = 0x72
    ECDSA_SHA256 = 0x73
    ECDSA_SHA384 = 0x74
    ECDSA_SHA512 = 0x75
    ECDH = 0x80
    ECDH_AUTPUK = 0x83
    ECDH_XKEK = 0x84
    WRAP = 0x92
    UNWRAP = 0x93
    REPLACE = 0x94
    EC_DERIVE = 0x98
    AES_CBC_ENCRYPT = 0x10
    AES_CBC_DECRYPT = 0x11
    AES_CMAC = 0x18
    AES_DERIVE = 0x99


AES_DEFAULT_ALGORITHMS = (
    Algorithm.AES_CBC_ENCRYPT,
    Algorithm.AES_CBC_DECRYPT,
    Algorithm.AES_CMAC,
    Algorithm.AES_DERIVE,
)
"""What an AES key may do when key generation names no algorithms (the card's default)."""
