"""A software SmartCard-HSM: the simulator class, its identity, persistence and dispatcher.

:class:`SmartCardHsmSimulator` implements :class:`keymanager.card.transport.VirtualCard`
(``power_on`` and ``process_apdu``) and answers the commands OpenSC's ``sc-hsm``
driver, ``sc-hsm-tool`` and the key manager send, with the status words a genuine card
gives.  Where genuine behaviour is unknown the choice is written down in the
"Simulator" section of ``docs/card.md``.

Transport features: short and extended APDUs (ISO/IEC 7816-4 cases 1 to 4), command
chaining (CLA bit ``10``), ``61xx`` + GET RESPONSE for answers longer than Le, and
secure messaging (CLA bits ``0C``) after chip authentication against the device key.
``process_apdu`` never raises for any byte string; the only exceptions it raises are
the injected faults :class:`~keymanager.card.errors.CardRemoved` and
:class:`~keymanager.card.errors.CardReset`.

The command groups live in mixins: :mod:`~keymanager.simulator.apdu` (parsing,
chaining, GET RESPONSE), :mod:`~keymanager.simulator.secure_messaging` (MSE SET AT,
GENERAL AUTHENTICATE, wrapping), :mod:`~keymanager.simulator.files`,
:mod:`~keymanager.simulator.pins`, :mod:`~keymanager.simulator.domains`,
:mod:`~keymanager.simulator.keys`, :mod:`~keymanager.simulator.operations`,
:mod:`~keymanager.simulator.pka` (public-key authentication) and
:mod:`~keymanager.simulator.xkek` (XKEK key domains), all on
the shared state of :mod:`~keymanager.simulator.core`.  This module keeps the card's
identity, presence, persistence and the INS dispatcher.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from keymanager.card.errors import CardRemoved, CardReset
from keymanager.simulator import cvc
from keymanager.simulator.apdu import ApduTransport, CardStatus, Command, parse_apdu, sw_bytes
from keymanager.simulator.core import (
    AID,
    ATR,
    CHAIN_CURVE,
    DEVICE_KEY,
    FID_DEVICE_CERTIFICATES,
    VERSION,
    SecretKey,
)
from keymanager.simulator.crypto import Randomness
from keymanager.simulator.domains import KeyDomainCommands
from keymanager.simulator.faults import FaultKind, FaultPlan
from keymanager.simulator.files import FileCommands
from keymanager.simulator.operations import KeyOperations
from keymanager.simulator.pins import PinCommands
from keymanager.simulator.pka import PublicKeyAuthentication
from keymanager.simulator.profiles import SimulatorProfile, default_profile_name, profile_by_name
from keymanager.simulator.secure_messaging import SecureChannel, SecureMessaging
from keymanager.simulator.state import CardState, KeyRecord, load_state, save_state
from keymanager.simulator.xkek import XkekCommands

__all__ = [
    "AID",
    "ATR",
    "VERSION",
    "CardStatus",
    "Command",
    "SmartCardHsmSimulator",
    "parse_apdu",
]

logger = logging.getLogger(__name__)


class SmartCardHsmSimulator(
    SecureMessaging,
    ApduTransport,
    FileCommands,
    PinCommands,
    XkekCommands,
    KeyDomainCommands,
    KeyOperations,
    PublicKeyAuthentication,
):
    """A SmartCard-HSM in software (see the module docstring and ``docs/card.md``).

    :param state_path: where the persistent state lives; loaded if the file exists,
        created otherwise, and saved atomically after every command that changes it.
        ``None`` keeps the state in memory only.
    :param seed: make every random choice deterministic (keys, challenges, the
        identity of a new card).  For an existing state file the seeded stream
        continues where it stopped when the seed is the same.
    :param profile: the card's personality (:mod:`~keymanager.simulator.profiles`), by
        name or as a :class:`SimulatorProfile`.  It is stored in the state file: a new
        card takes ``profile`` or, when ``None``, :func:`default_profile_name`
        (``$KEYMANAGER_SIMULATOR_PROFILE``); an existing state file keeps its stored
        profile unless ``profile`` is given (which then replaces it in the file).  A
        :class:`SimulatorProfile` is stored by its name only.
    :param hide_kcv_until_login: override the profile's ``hide_kcv_until_login``
        (Pico HSM shows an all-zero KCV until the user PIN was verified in this card
        session); ``None`` keeps the profile's.
    :raises ValueError: an unknown profile name (argument, environment or state file).
    """

    def __init__(
        self,
        state_path: Path | str | None = None,
        *,
        seed: bytes | None = None,
        profile: str | SimulatorProfile | None = None,
        hide_kcv_until_login: bool | None = None,
    ) -> None:
        self.state_path = None if state_path is None else Path(state_path)
        self.faults = FaultPlan()
        self._present = True
        loaded = None if self.state_path is None else load_state(self.state_path)
        created = loaded is None
        chosen = profile_by_name(profile) if isinstance(profile, str) else profile
        if loaded is None:
            self.state = self._new_state(seed)
            if chosen is None:
                chosen = profile_by_name(default_profile_name())
        else:
            self.state = loaded
            if seed is not None and loaded.drbg_seed != bytes(seed):
                loaded.drbg_seed = bytes(seed)
                loaded.drbg_counter = 0
            if chosen is None:
                chosen = profile_by_name(loaded.profile)
            elif loaded.profile != chosen.name:
                created = True  # save the explicitly chosen profile
        self.state.profile = chosen.name
        self.profile: SimulatorProfile = chosen
        self.hide_kcv_until_login = (
            chosen.hide_kcv_until_login if hide_kcv_until_login is None else hide_kcv_until_login
        )
        self._rng = Randomness(self.state.drbg_seed, self.state.drbg_counter)
        self._key_cache: dict[int, SecretKey] = {}
        self._dirty = False
        self._applet_selected = False
        self._verified = False
        self._pka_authenticated: set[int] = set()
        self._pka_challenge: bytes | None = None
        self._pka_dst: str | None = None
        self._pka_at: int | None = None
        self._current_ef: int | None = None
        self._pending: bytes | None = None
        self._chain: tuple[tuple[int, int, int, int], bytearray] | None = None
        self._sm_protocol: bytes | None = None
        self._sm_channel: SecureChannel | None = None
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
        if self.state.unsaved_dkek_domains:
            self._lose_unsaved_dkeks()
            if self.state_path is not None:
                try:
                    save_state(self.state_path, self.state)
                except OSError:
                    logger.exception("simulator: could not save the state")
        self._applet_selected = False
        self._logout()
        self._current_ef = None
        self._pending = None
        self._chain = None
        self._sm_protocol = None
        self._sm_channel = None

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
        fault = self.faults.next_apdu(bytes(apdu))
        if fault is not None:
            if fault.kind is FaultKind.REMOVE:
                self.remove()
                raise CardRemoved("the simulated card was pulled out of the reader")
            if fault.kind is FaultKind.RESET:
                self._reset_volatile()
                raise CardReset("the simulated card was reset")
            return sw_bytes(fault.sw)
        try:
            response = self._process(bytes(apdu))
        except Exception:  # the card answers every byte string; never crash the caller
            logger.exception("simulator: internal error")
            response = sw_bytes(0x6F00)
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
                    return sw_bytes(0x6581)
        return response

    # --- transport layer ------------------------------------------------------------------

    def _mse(self, command: Command) -> bytes:
        """MSE: ``81 B6`` / ``81 A4`` for PKA, ``41 A4`` for chip authentication."""
        if command.p1 == 0x81 and command.p2 in (0xB6, 0xA4):
            return self._pka_security_environment(command)
        return self._manage_security_environment(command)

    def _dispatch(self, command: Command) -> bytes:
        handlers: dict[int, Callable[[Command], bytes]] = {
            0xA4: self._select,
            0x22: self._mse,
            0x86: self._general_authenticate,
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
            0x2A: self._perform_security_operation,
            0x54: self._public_key_authentication,
            0x82: self._external_authenticate,
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
