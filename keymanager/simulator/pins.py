"""PIN commands of the simulator: VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER, INITIALIZE.

The user PIN (reference ``81``), the SO PIN / initialisation code (reference ``88``),
the transport-PIN state and INITIALIZE DEVICE (INS ``50``, with PKA's ``93 N M`` and
options ``0008`` / ``0010``), which also answers Pico HSM's "free memory and version"
query when sent without data.  On a PKA card the VERIFY status query answers ``9000``
when the user is authenticated by PKA (:mod:`~keymanager.simulator.pka`).
"""

from __future__ import annotations

import hmac

from keymanager.simulator.apdu import CardStatus, Command, tlv_map
from keymanager.simulator.core import (
    APPLET_TYPE,
    DEVICE_KEY,
    FID_DEVICE_CERTIFICATES,
    OPTION_PKA_AND_PIN,
    OPTION_RESET_RETRY_COUNTER,
    OPTION_RRC_UNBLOCK_ONLY,
    OPTION_TRANSPORT_PIN,
    PIN_MAX,
    PIN_MIN,
    PKA_MAX_KEYS,
    VERSION,
    SimulatorCore,
)
from keymanager.simulator.state import SO_PIN_TRIES, KeyDomain


class PinCommands(SimulatorCore):
    """Mixin: INS 20 (VERIFY), 24 (CHANGE REFERENCE DATA), 2C (RESET RETRY COUNTER), 50."""

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

    def _logged_in(self) -> None:
        self._verified = True
        if self.state.unsaved_dkek_domains:  # Pico HSM stores the new DKEK now
            self.state.unsaved_dkek_domains.clear()
            self._changed()

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
            if not command.data and self._user_authenticated():
                return b""  # the PIN, M custodians (PKA), or both with option 0010
            self._user_pin_status()
            if not self.state.user_pin:
                raise CardStatus(0x6984)  # PKA only: the PIN is not usable
            if not command.data:
                raise CardStatus(0x63C0 | self.state.user_pin_tries)
            if len(command.data) > PIN_MAX:
                raise CardStatus(0x6700)
            self._check_user_pin(command.data)
            self._logged_in()
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
            if not state.user_pin:
                raise CardStatus(0x6984)  # PKA only: no user PIN to change
            if state.user_pin_tries == 0:
                raise CardStatus(0x6983)
            old_length = len(state.user_pin)
            new_pin = command.data[old_length:]
            if not PIN_MIN <= len(new_pin) <= PIN_MAX:
                raise CardStatus(0x6700)
            self._check_user_pin(command.data[:old_length])
            state.user_pin = bytes(new_pin)
            if self.profile.transport_pin_clearable:
                state.transport_pin = False
            self._logged_in()
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
        if not state.user_pin:
            raise CardStatus(0x6984)  # PKA only: no user PIN to reset
        enforced = self.profile.rrc_unblock_only_enforced
        if command.p1 == 0x00:
            if state.options & OPTION_RRC_UNBLOCK_ONLY and enforced:
                raise CardStatus(0x6986)
            new_pin = command.data[8:]
            if len(command.data) < 8 or not PIN_MIN <= len(new_pin) <= PIN_MAX:
                raise CardStatus(0x6700)
        elif len(command.data) != 8:
            raise CardStatus(0x6700)
        self._check_so_pin(command.data[:8])
        if command.p1 == 0x00:
            state.user_pin = bytes(command.data[8:])
            if self.profile.transport_pin_clearable:
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
        tags = tlv_map(command.data)
        options_value = tags.get(0x80, b"\x00\x00")
        user_pin = tags.get(0x81)
        init_code = tags.get(0x82)
        retries_value = tags.get(0x91, bytes([3]))
        pka = tags.get(0x93, b"")
        options = int.from_bytes(options_value, "big")
        pka_only = len(pka) == 2 and not options & OPTION_PKA_AND_PIN
        if user_pin is None and pka_only:
            user_pin = b""  # PKA only: no user PIN ("PIN not usable")
        if (
            len(options_value) != 2
            or user_pin is None
            or not (PIN_MIN <= len(user_pin) <= PIN_MAX or (pka_only and not user_pin))
            or init_code is None
            or len(init_code) != 8
            or len(retries_value) != 1
            or not 1 <= retries_value[0] <= 15
        ):
            raise CardStatus(0x6A80)
        shares = tags.get(0x92)
        slots_value = tags.get(0x97)
        if (
            (shares is not None and len(shares) != 1)
            or (slots_value is not None and len(slots_value) != 1)
            or len(pka) not in (0, 2)
            or (len(pka) == 2 and not 1 <= pka[1] <= pka[0] <= PKA_MAX_KEYS)
        ):
            raise CardStatus(0x6A80)
        self._check_so_pin(init_code)

        state = self.state
        state.keys = {DEVICE_KEY: state.keys[DEVICE_KEY]}
        state.files = {FID_DEVICE_CERTIFICATES: state.files[FID_DEVICE_CERTIFICATES]}
        self._key_cache.clear()
        state.options = options
        state.user_pin = bytes(user_pin)
        state.user_pin_max = state.user_pin_tries = retries_value[0]
        state.transport_pin = bool(state.options & OPTION_TRANSPORT_PIN)
        state.so_pin_tries = SO_PIN_TRIES
        state.public_key_authentication = bytes(pka)
        state.pka_keys = {}
        state.pka_known_keys = {}
        if shares is None and slots_value is None:
            state.key_domains = None
        else:
            slot_count = max(1, slots_value[0]) if slots_value is not None else 1
            domains: list[KeyDomain | None] = [None] * slot_count
            if shares is not None:
                domains[0] = self._new_domain(shares[0])
            state.key_domains = domains
        state.initialised = True
        state.unsaved_dkek_domains.clear()
        self._logout()
        self._current_ef = None
        self._changed()
        return b""
