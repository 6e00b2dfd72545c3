"""Key-domain management of the simulator (MANAGE DKEK, INS ``52``).

P1 ``00`` imports a DKEK share (or queries the status without data), ``01`` creates a
DKEK key domain, ``02`` creates an XKEK key domain (:mod:`~keymanager.simulator.xkek`),
``03`` deletes an empty domain and ``04`` deletes its DKEK (an XKEK domain's KEK).  The
status answer is total shares ‖ outstanding shares ‖ KCV, and the UID for an XKEK domain.
"""

from __future__ import annotations

from keymanager.dkek import kcv_of
from keymanager.simulator.apdu import CardStatus, Command
from keymanager.simulator.core import SimulatorCore
from keymanager.simulator.state import KeyDomain


class KeyDomainCommands(SimulatorCore):
    """Mixin: INS 52, key domains and their DKEKs."""

    def _require_domain_pin(self) -> None:
        """Key-domain management needs the user PIN (status word by profile)."""
        if self.profile.domain_ops_need_pin and not self._user_authenticated():
            raise CardStatus(self.profile.domain_ops_pin_sw)

    def _domain_status(self, domain: KeyDomain | None) -> bytes:
        if domain is None:
            return bytes(10)
        hidden = self.hide_kcv_until_login and not self._user_authenticated()
        if hidden or (domain.total > 0 and domain.imported == 0) or not self._has_dkek(domain):
            kcv = bytes(8)
        else:
            kcv = kcv_of(domain.dkek)
        if domain.is_xkek:
            return bytes([self.profile.xkek_status_total, 0]) + kcv + domain.uid
        return bytes([domain.total & 0xFF, domain.outstanding & 0xFF]) + kcv

    def _create_xkek_domain(self, index: int, data: bytes) -> bytes:
        """P1 ``02``; :class:`~keymanager.simulator.xkek.XkekCommands` implements it."""
        raise CardStatus(0x6A81)

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
                self._require_domain_pin()
            if domain is None or domain.outstanding == 0:
                raise CardStatus(0x6986)
            domain.dkek = bytes(a ^ b for a, b in zip(domain.dkek, command.data, strict=True))
            domain.imported += 1
            if (
                domain.complete
                and not self._verified
                and self.profile.dkek_lost_on_reset_before_verify
                and index not in self.state.unsaved_dkek_domains
            ):
                self.state.unsaved_dkek_domains.append(index)
            self._changed()
            return self._domain_status(domain)
        if command.p1 == 0x01:
            self._require_domain_pin()
            if len(command.data) != 1:
                raise CardStatus(0x6700)
            if domain is not None:
                raise CardStatus(0x6A89)
            domains[index] = created = self._new_domain(command.data[0], created=True)
            self._changed()
            return self._domain_status(created)
        if command.p1 == 0x02:
            return self._create_xkek_domain(index, command.data)
        if command.p1 == 0x03:
            self._require_domain_pin()
            if domain is None:
                raise CardStatus(0x6A88)
            if any(key.domain == index for key in self.state.keys.values()):
                raise CardStatus(0x6A89)
            domains[index] = None
            self._forget_unsaved_dkek(index)
            self._changed()
            if self.profile.domain_delete_answers_6a88:
                raise CardStatus(0x6A88)  # Pico HSM: "the slot is empty now"
            return self._domain_status(None)
        if command.p1 == 0x04:
            self._require_domain_pin()
            if domain is None:
                raise CardStatus(0x6A88)
            domain.imported = 0
            self._forget_unsaved_dkek(index)
            keeps_random = not domain.is_xkek and domain.total == 0 and self._has_dkek(domain)
            domain.dkek = self._rng.bytes(32) if keeps_random else bytes(32)
            self._changed()
            return self._domain_status(domain)
        raise CardStatus(0x6A86)

    def _forget_unsaved_dkek(self, index: int) -> None:
        if index in self.state.unsaved_dkek_domains:
            self.state.unsaved_dkek_domains.remove(index)

    def _lose_unsaved_dkeks(self) -> None:
        """Pico HSM: a reset before the first VERIFY loses a freshly assembled DKEK."""
        domains = self.state.key_domains or []
        for index in self.state.unsaved_dkek_domains:
            domain = domains[index] if index < len(domains) else None
            if domain is not None:
                domain.imported = 0
                domain.dkek = bytes(32)
        self.state.unsaved_dkek_domains.clear()
