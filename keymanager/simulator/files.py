"""File commands of the simulator: SELECT, ENUMERATE, READ/UPDATE BINARY, DELETE FILE.

Also GET CHALLENGE (the last challenge is kept for public-key authentication).  Key
files (``CCxx``) exist while the key does but cannot be read; private data objects
(``CDxx``) need the user PIN; EF ``2F02`` holds the device certificates and cannot be
changed or deleted.
"""

from __future__ import annotations

from keymanager.dkek.tlv import encode_tlv
from keymanager.simulator.apdu import CardStatus, Command, tlv_map
from keymanager.simulator.core import (
    AID,
    APPLET_TYPE,
    DEVICE_KEY,
    FID_DEVICE_CERTIFICATES,
    FID_TOKEN_INFO,
    KEY_PREFIX,
    MAX_FILE_SIZE,
    PRIVATE_DATA_PREFIX,
    VERSION,
    SimulatorCore,
)

_PICO_ENUMERATED = (KEY_PREFIX, 0xC4, 0xC8, 0xC9)
"""What Pico HSM's ENUMERATE lists: keys, PRKDs, CDs and DCODs (no CE/CA/CD/CF)."""


class FileCommands(SimulatorCore):
    """Mixin: INS A4, 58, B1, D7, E4 and 84."""

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
        # Pico HSM puts the AID's length byte into the DF name as well.
        name = bytes([len(AID)]) + AID if self.profile.malformed_df_name else AID
        return encode_tlv(
            0x62, encode_tlv(0x82, b"\x78") + encode_tlv(0x84, name) + encode_tlv(0x85, info)
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
            if command.p2 == 0x0C and self.profile.select_p2_0c_rejected:
                raise CardStatus(0x6A86)
            self._applet_selected = True
            self._logout()
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

    # --- files ----------------------------------------------------------------------------

    def _enumerate(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(0x6A86)
        profile = self.profile
        fids = {
            KEY_PREFIX << 8 | kid
            for kid in self.state.keys
            if kid != DEVICE_KEY or profile.device_key_in_enumerate
        }
        if profile.enumerate_lists_data_files:
            fids.update(fid for fid in self.state.files if fid != FID_DEVICE_CERTIFICATES)
        else:  # Pico HSM: key files and the PKCS#15 descriptions only
            fids.update(fid for fid in self.state.files if fid >> 8 in _PICO_ENUMERATED)
        return b"".join(fid.to_bytes(2, "big") for fid in sorted(fids))

    @staticmethod
    def _offset(tags: dict[int, bytes]) -> int:
        value = tags.get(0x54)
        if value is None or not 1 <= len(value) <= 2:
            raise CardStatus(0x6A80)
        return int.from_bytes(value, "big")

    def _read_binary(self, command: Command) -> bytes:
        fid = self._fid_from_p1p2(command)
        offset = self._offset(tlv_map(command.data))
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
        if fid == FID_TOKEN_INFO and self.profile.token_label_write_fails:
            raise CardStatus(0x6F00)  # Pico HSM crashes here; nothing is written
        tags = tlv_map(command.data)
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
        if not self.state.initialised and self.profile.challenge_before_init_fails:
            raise CardStatus(0x6A82)
        challenge = self._rng.bytes(command.ne)
        self._pka_challenge = challenge  # what EXTERNAL AUTHENTICATE's signature covers
        return challenge
