"""Public-key authentication (PKA) of the simulator: M of N registered custodian keys.

A card initialised with ``93 02 N M`` keeps up to N custodian public keys; the user is
authenticated once M custodians proved possession of their key in this card session
(with option ``0010`` the user PIN is needed as well).  The commands
(``../shared/spec/pka-sm-xkek.md``, "PKA"; decisions in ``docs/card.md``, "Public key
authentication"):

* MSE SET DST ``00 22 81 B6 | 83 CHR``: choose a public key the card knows (``9000``) or
  learn that it does not (``6A88``);
* PSO VERIFY CERTIFICATE ``00 2A 00 BE | 7F4E ‖ 5F37``: verify a CVC under the key chosen
  by MSE SET DST and remember the certificate's public key by its CHR;
* ``80 54 00 00`` status (``N, missing, M, authenticated``), ``80 54 00 00 | 67 value``
  register, ``80 54 01 slot | 67 value`` replace (option ``0008``), ``80 54 02 slot`` list;
* MSE SET AT ``00 22 81 A4 | 83 CHR`` and EXTERNAL AUTHENTICATE ``00 82 00 00 | r ‖ s``
  (ECDSA-SHA-256 over the device CVC's CHR ‖ the last GET CHALLENGE).

The card knows from the start the simulator's root CVCA and the roots (and Pico DVs) that
:mod:`keymanager.card.roots` ships.  Signatures are checked with :mod:`cryptography`
(through :mod:`keymanager.card.cvc` for certificates).
"""

from __future__ import annotations

import functools
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from keymanager.card import roots
from keymanager.card.cvc import (
    SIMULATOR_CURVE_NAME,
    CvcError,
    CvCertificate,
    CvcPublicKey,
    CvRequest,
    simulator_root_key,
)
from keymanager.dkek.curves import CurveParameters, curve_by_name, ecdsa_verify
from keymanager.dkek.tlv import encode_tlv
from keymanager.simulator.apdu import CardStatus, Command, tlv_map
from keymanager.simulator.core import OPTION_PKA_REPLACEABLE, SimulatorCore
from keymanager.simulator.state import PkaKey

SW_AUTHENTICATED = 0x9001
"""List answer for a custodian already authenticated in this session."""


def _template_value(key: CvcPublicKey) -> bytes:
    """The value of a ``7F49`` template (OID, then the elements as parsed)."""
    return encode_tlv(0x06, key.oid) + b"".join(
        encode_tlv(tag, value) for tag, value in key.elements
    )


@functools.cache
def trusted_keys() -> dict[str, PkaKey]:
    """The public keys every simulated card knows from the start, by CHR.

    The simulator root CVCA, CardContact's root CVCA, Pico's root CVCAs (none shipped)
    and Pico's DVs (anchored instead, see :mod:`keymanager.card.roots`).  Not stored in
    the state file.
    """
    keys = {
        roots.SIMULATOR_ROOT_CHR: PkaKey(
            roots.SIMULATOR_ROOT_CHR, _template_value(simulator_root_key()), SIMULATOR_CURVE_NAME
        )
    }
    for name, encoded in {**roots.GENUINE_ROOTS, **roots.PICO_ROOTS}.items():
        try:
            public_key = CvCertificate.parse(encoded).public_key
            keys[name] = PkaKey(name, _template_value(public_key), public_key.curve().name)
        except CvcError:  # a root without domain parameters: nothing to verify with
            continue
    for name, (encoded, curve_name) in roots.PICO_DVS.items():
        public_key = CvCertificate.parse(encoded).public_key
        keys[name] = PkaKey(name, _template_value(public_key), curve_name)
    return keys


def _verify_authentication(key: PkaKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (plain ``r ‖ s``) is ECDSA-SHA-256 over ``message`` by ``key``."""
    try:
        curve = curve_by_name(key.curve)
        template = CvcPublicKey.parse(key.public_key)
        width = curve.order_bytes
        if len(signature) != 2 * width:
            return False
        r = int.from_bytes(signature[:width], "big")
        s = int.from_bytes(signature[width:], "big")
        public_key = template.ec_public_key(curve)
        if public_key is None:  # a curve cryptography lacks
            digest = hashlib.sha256(message).digest()
            return ecdsa_verify(curve, curve.decode_point(template.point), digest, r, s)
        public_key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, CvcError, ValueError):
        return False
    return True


class PublicKeyAuthentication(SimulatorCore):
    """Mixin: MSE ``81 B6`` / ``81 A4``, INS 2A (PSO VERIFY CERTIFICATE), 54 and 82."""

    # --- what the card knows --------------------------------------------------------------

    def _pka_known(self, name: str) -> PkaKey | None:
        """A public key the card knows by CHR: a trusted root or one it learned."""
        return trusted_keys().get(name) or self.state.pka_known_keys.get(name)

    def _pka_configuration(self) -> tuple[int, int]:
        """``(N, M)``; ``6A88`` when the card is not initialised with PKA."""
        pka = self.state.public_key_authentication
        if not self.state.initialised or len(pka) != 2:
            raise CardStatus(0x6A88)
        return pka[0], pka[1]

    def _pka_slot_of(self, name: str) -> int | None:
        if len(self.state.public_key_authentication) != 2:
            return None
        for slot, key in self.state.pka_keys.items():
            if key.chr == name:
                return slot
        return None

    def _pka_status(self) -> bytes:
        total, required = self._pka_configuration()
        missing = total - len(self.state.pka_keys)
        return bytes([total, missing, required, len(self._pka_authenticated)])

    # --- MSE SET DST / SET AT --------------------------------------------------------------

    def _pka_security_environment(self, command: Command) -> bytes:
        """MSE ``81 B6`` (the key for PSO VERIFY) or ``81 A4`` (the custodian to authenticate)."""
        reference = tlv_map(command.data).get(0x83)
        if not reference:
            raise CardStatus(0x6A80)
        name = reference.decode("latin-1")
        if command.p2 == 0xB6:
            self._pka_dst = None
            if self._pka_known(name) is None:
                raise CardStatus(0x6A88)
            self._pka_dst = name
            return b""
        self._pka_at = None
        slot = self._pka_slot_of(name)
        if slot is None:
            raise CardStatus(0x6A88)
        if slot in self._pka_authenticated and self.profile.pka_reauthentication_refused:
            raise CardStatus(0x6985)
        self._pka_at = slot
        return b""

    # --- PSO VERIFY CERTIFICATE -----------------------------------------------------------

    def _perform_security_operation(self, command: Command) -> bytes:
        if (command.p1, command.p2) != (0x00, 0xBE):
            raise CardStatus(0x6A86)
        if self._pka_dst is None:
            raise CardStatus(0x6985)
        issuer = self._pka_known(self._pka_dst)
        if issuer is None:
            raise CardStatus(0x6985)
        data = command.data
        encoded = data if data[:2] == b"\x7f\x21" else encode_tlv(0x7F21, data)
        try:
            certificate = CvCertificate.parse(encoded)
            issuer_key = CvcPublicKey.parse(issuer.public_key)
            issuer_curve = curve_by_name(issuer.curve)
            if certificate.car != issuer.chr or not certificate.verify_signed_by(
                issuer_key, issuer_curve
            ):
                raise CardStatus(0x6A80)
            subject: CurveParameters = certificate.public_key.curve(issuer_curve)
        except (CvcError, ValueError):
            raise CardStatus(0x6A80) from None
        if certificate.chr not in trusted_keys():
            self.state.pka_known_keys[certificate.chr] = PkaKey(
                certificate.chr, _template_value(certificate.public_key), subject.name
            )
            self._changed()
        return b""

    # --- INS 54: status, register, replace, list ------------------------------------------

    def _public_key_authentication(self, command: Command) -> bytes:
        total, _required = self._pka_configuration()
        if command.p1 == 0x00:
            if command.p2:
                raise CardStatus(0x6A86)
            if command.data:
                self._pka_register(command.data, None)
            return self._pka_status()
        if command.p2 >= total:
            raise CardStatus(0x6A86)
        if command.p1 == 0x01:
            if not command.data:
                raise CardStatus(0x6700)
            if not self.state.options & OPTION_PKA_REPLACEABLE:
                raise CardStatus(0x6985)
            self._pka_register(command.data, command.p2)
            return self._pka_status()
        if command.p1 == 0x02:
            key = self.state.pka_keys.get(command.p2)
            if key is None:
                raise CardStatus(0x6A88)
            name = key.chr.encode("latin-1")
            if command.p2 in self._pka_authenticated:
                raise CardStatus(SW_AUTHENTICATED, name)
            return name
        raise CardStatus(0x6A86)

    def _pka_register(self, data: bytes, slot: int | None) -> None:
        """Check an authenticated request (``67`` value) and keep its key in ``slot``.

        ``None``: the first free slot.  ``6A80`` the outer or inner signature does not
        verify (or the custodian device is unknown), ``6A89`` the key (or its CHR) is
        registered in another slot, ``6A84`` no free slot.
        """
        total, _required = self._pka_configuration()
        try:
            request = CvRequest.parse(encode_tlv(0x67, data))
            device = None if request.outer_car is None else self._pka_known(request.outer_car)
            if device is None or not request.verify_outer_signature(
                CvcPublicKey.parse(device.public_key), curve_by_name(device.curve)
            ):
                raise CardStatus(0x6A80)
            public_key = request.public_key
            if not public_key.is_ec or not request.verify_self_signature():
                raise CardStatus(0x6A80)
            curve = public_key.curve()
            point = public_key.point
        except (CvcError, ValueError):
            raise CardStatus(0x6A80) from None
        keys = self.state.pka_keys
        for other, key in keys.items():
            if other == slot:
                continue
            if key.chr == request.chr or CvcPublicKey.parse(key.public_key).point == point:
                raise CardStatus(0x6A89)
        if slot is None:
            slot = next((index for index in range(total) if index not in keys), None)
            if slot is None:
                raise CardStatus(0x6A84)
        keys[slot] = PkaKey(request.chr, _template_value(public_key), curve.name)
        self._pka_authenticated.discard(slot)
        if self._pka_at == slot:
            self._pka_at = None
        self._changed()

    # --- EXTERNAL AUTHENTICATE --------------------------------------------------------------

    def _external_authenticate(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(0x6A86)
        self._pka_configuration()
        if not command.data:
            raise CardStatus(0x6700)
        slot, challenge = self._pka_at, self._pka_challenge
        key = None if slot is None else self.state.pka_keys.get(slot)
        if slot is None or key is None or challenge is None:
            raise CardStatus(0x6985)
        self._pka_at = None  # one MSE SET AT per authentication
        if not _verify_authentication(key, command.data, self.device_chr + challenge):
            raise CardStatus(0x6300)
        self._pka_authenticated.add(slot)
        if self._user_authenticated() and self.state.unsaved_dkek_domains:
            self.state.unsaved_dkek_domains.clear()  # Pico HSM: PKA unlocks the DKEK too
            self._changed()
        return b""
