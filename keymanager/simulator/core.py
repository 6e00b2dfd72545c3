"""Constants and shared state of the simulated SmartCard-HSM.

:class:`SimulatorCore` declares the attributes every command mixin works on (the
persistent :class:`~keymanager.simulator.state.CardState` and the volatile session
state) and the few helpers more than one command group needs.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from keymanager.dkek.curves import CurveParameters
from keymanager.simulator import cvc
from keymanager.simulator.apdu import CardStatus
from keymanager.simulator.crypto import Randomness
from keymanager.simulator.profiles import SimulatorProfile
from keymanager.simulator.state import CardState, KeyDomain

AID = bytes.fromhex("E82B0601040181C31F0201")
ATR = bytes.fromhex("3BFE1800008131FE458031815448534D31738021408107FA")
VERSION = (4, 0)
APPLET_TYPE = 0x00

OPTION_RESET_RETRY_COUNTER = 0x0001
OPTION_TRANSPORT_PIN = 0x0002
OPTION_PKA_REPLACEABLE = 0x0008
"""Registered public-key-authentication keys may be replaced (``80 54 01 slot``)."""
OPTION_PKA_AND_PIN = 0x0010
"""The user is authenticated by M custodians *and* the user PIN."""
OPTION_RRC_UNBLOCK_ONLY = 0x0020

FID_DEVICE_CERTIFICATES = 0x2F02
FID_TOKEN_INFO = 0x2F03
FID_UNWRAP_STAGING = 0x2F10
KEY_PREFIX = 0xCC
PRIVATE_DATA_PREFIX = 0xCD
MAX_FILE_SIZE = 0x7FFF
DEVICE_KEY = 0
PIN_MIN, PIN_MAX = 6, 16
PKA_MAX_KEYS = 90
CHAIN_CURVE = cvc.CHAIN_CURVE_NAME

SecretKey = rsa.RSAPrivateKey | tuple[CurveParameters, int] | bytes


class SimulatorCore:
    """Base of the command mixins: the state they share and helpers they all use."""

    state: CardState
    profile: SimulatorProfile
    hide_kcv_until_login: bool
    _rng: Randomness
    _key_cache: dict[int, SecretKey]
    _dirty: bool
    _applet_selected: bool
    _verified: bool
    _current_ef: int | None
    _pka_authenticated: set[int]
    """Slots of the custodians authenticated in this session (:mod:`~keymanager.simulator.pka`)."""
    _pka_challenge: bytes | None
    """The last GET CHALLENGE answer (what EXTERNAL AUTHENTICATE's signature covers)."""
    _pka_dst: str | None
    """MSE SET DST: the CHR of the key PSO VERIFY CERTIFICATE verifies with."""
    _pka_at: int | None
    """MSE SET AT: the slot of the custodian EXTERNAL AUTHENTICATE is for."""

    @property
    def device_chr(self) -> bytes:
        """The device certificate's holder reference."""
        return cvc.device_chr(self.state.serial)

    def _pka_unlocked(self) -> bool:
        """Whether at least M custodians authenticated in this session (PKA cards only)."""
        pka = self.state.public_key_authentication
        return len(pka) == 2 and len(self._pka_authenticated) >= pka[1]

    def _user_authenticated(self) -> bool:
        """Whether the user counts as authenticated (``docs/card.md``, "Public key authentication").

        Without PKA: the user PIN was verified.  With PKA: M custodians authenticated, or
        the PIN was verified; with option ``0010`` both.
        """
        state = self.state
        if not state.initialised:
            return False
        if len(state.public_key_authentication) != 2:
            return self._verified
        if state.options & OPTION_PKA_AND_PIN:
            return self._verified and self._pka_unlocked()
        return self._verified or self._pka_unlocked()

    def _require_pin(self) -> None:
        if not self._user_authenticated():
            raise CardStatus(0x6982)

    def _logout(self) -> None:
        """Forget the PIN verification and the PKA session (SELECT, reset, new channel)."""
        self._verified = False
        self._pka_authenticated = set()
        self._pka_challenge = None
        self._pka_dst = None
        self._pka_at = None

    def _changed(self) -> None:
        self._dirty = True

    def _new_domain(self, shares: int, *, created: bool = False) -> KeyDomain:
        """A new key domain; ``created``: by MANAGE DKEK P1=01 rather than INITIALIZE."""
        if shares == 0:
            if created and not self.profile.zero_share_domain_has_dkek:
                return KeyDomain(total=0, imported=0)  # Pico HSM: a domain without DKEK
            return KeyDomain(total=0, imported=0, dkek=self._rng.bytes(32))
        return KeyDomain(total=shares, imported=0)

    @staticmethod
    def _has_dkek(domain: KeyDomain) -> bool:
        """Whether a complete domain has a DKEK (Pico's 0-share domains have none)."""
        return domain.total > 0 or domain.dkek != bytes(32)

    def _domains(self) -> list[KeyDomain | None]:
        if not self.state.initialised or self.state.key_domains is None:
            raise CardStatus(0x6D00)
        return self.state.key_domains
