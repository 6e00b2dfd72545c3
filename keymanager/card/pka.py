"""Public key authentication (PKA): custodian keys that unlock a SmartCard-HSM, M of N.

A card initialised with ``93 N M`` is unlocked when M of its N registered custodian
keys authenticated in one session (with option ``0x0010`` the user PIN is needed too).
This module speaks the device side's APDUs (``../shared/spec/pka-sm-xkek.md``, "PKA"):

* :func:`pka_status` — ``80 54 00 00``: N, keys still missing, M, authenticated now;
* :func:`register_public_key` — teach the card the custodian device's chain (MSE SET
  DST + PSO VERIFY CERTIFICATE for each certificate it does not know), then register
  the authenticated request (``80 54 00|01 00|slot``);
* :func:`registered_keys` — ``80 54 02 slot``: each slot's CHR, and whether it
  authenticated in this session (``9001``);
* :func:`pka_challenge`, :func:`authentication_message`, :func:`authenticate_custodian`
  — GET CHALLENGE, what the custodian card signs (ECDSA-SHA256 over the protected
  device's CHR ‖ the challenge), MSE SET AT + EXTERNAL AUTHENTICATE.

The custodian's half — a key on the custodian's own card that signs the challenge — is
:func:`custodian_signature`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import utils

from keymanager.card.apdu import LE_MAX, SW_OK, CommandApdu
from keymanager.card.cvc import CvCertificate
from keymanager.card.errors import CardError, error_for_status
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import Algorithm
from keymanager.card.pka_file import PkaFile
from keymanager.dkek.tlv import encode_tlv, read_tlv

_NO_PKA = (0x6A88, 0x6D00, 0x6A86, 0x6985, 0x6A81)
SW_AUTHENTICATED = 0x9001
CHALLENGE_LENGTH = 8


class PkaError(CardError):
    """Base of the public-key-authentication errors."""


class PkaNotEnabled(PkaError):
    """The card was not initialised for public key authentication."""


class PkaChainInvalid(PkaError):
    """The card refused the custodian device's certificate chain or the key's request."""


class PkaKeyAlreadyRegistered(PkaError):
    """The custodian's key is registered on this card already."""


class PkaNoFreeSlot(PkaError):
    """Every slot holds a key, and replacing was not asked for (or not allowed)."""


class PkaReplaceNotAllowed(PkaError):
    """The card was initialised without "registered keys may be replaced" (0x0008)."""


class PkaLoginRequired(PkaError):
    """The card registers keys only in a PIN or SO-PIN session (Pico HSM does)."""


class PkaUnknownCustodian(PkaError):
    """No registered key has this CHR."""


class PkaSignatureRefused(PkaError):
    """The card did not accept the custodian's signature of its challenge."""


@dataclass(frozen=True)
class PkaStatus:
    """The four bytes of ``80 54 00 00``."""

    total: int
    missing: int
    required: int
    authenticated: int

    @classmethod
    def parse(cls, data: bytes) -> PkaStatus:
        if len(data) < 4:
            raise PkaError(f"the PKA status has {len(data)} bytes, not 4")
        return cls(data[0], data[1], data[2], data[3])

    @property
    def registered(self) -> int:
        return self.total - self.missing

    @property
    def unlocked(self) -> bool:
        """Whether enough custodians authenticated in this session."""
        return self.authenticated >= self.required

    @property
    def text(self) -> str:
        """E.g. ``2 of 3 keys registered, 1 authenticated (2 needed)``."""
        return (
            f"{self.registered} of {self.total} keys registered, "
            f"{self.authenticated} authenticated ({self.required} needed)"
        )

    def to_dict(self) -> dict[str, int | bool]:
        return {
            "total": self.total,
            "registered": self.registered,
            "required": self.required,
            "authenticated": self.authenticated,
            "unlocked": self.unlocked,
        }


@dataclass(frozen=True)
class RegisteredKey:
    """One slot of the card's PKA table."""

    slot: int
    chr: str | None
    """``None``: the slot is empty."""
    authenticated: bool


def _management(hsm: SmartCardHsm, p1: int, p2: int, data: bytes, name: str) -> tuple[bytes, int]:
    command = CommandApdu(0x80, 0x54, p1, p2, data, le=LE_MAX, name=name)
    response = hsm.connection.transmit(command)
    return response.data, response.sw


def pka_status(hsm: SmartCardHsm) -> PkaStatus | None:
    """The card's PKA status, or ``None`` when it has no public key authentication."""
    data, sw = _management(hsm, 0x00, 0x00, b"", "PKA STATUS")
    if sw in _NO_PKA:
        return None
    if sw != SW_OK:
        raise error_for_status(sw, "PKA STATUS")
    return PkaStatus.parse(data)


def _require_pka(hsm: SmartCardHsm) -> PkaStatus:
    status = pka_status(hsm)
    if status is None:
        raise PkaNotEnabled(
            "the card was not initialised for public key authentication "
            "(initialise it with custodian keys: init --pka N/M)"
        )
    return status


def _manage_security_environment(hsm: SmartCardHsm, p2: int, reference: str, name: str) -> int:
    """MSE SET (``00 22 81 <p2> | 83 <reference>``): the key a following command uses."""
    data = encode_tlv(0x83, reference.encode("latin-1"))
    return hsm.connection.transmit(CommandApdu(0x00, 0x22, 0x81, p2, data, name=name)).sw


def _set_dst(hsm: SmartCardHsm, reference: str) -> int:
    return _manage_security_environment(hsm, 0xB6, reference, "MSE SET DST")


def teach_certificate(hsm: SmartCardHsm, certificate: CvCertificate) -> None:
    """Make the card know ``certificate``'s public key (verified under its CAR's key).

    MSE SET DST with its CHR (known already: done), else with its CAR and PSO VERIFY
    CERTIFICATE.  Also used for XKEK peers (:mod:`keymanager.card.xkek`).

    :raises PkaChainInvalid: the card does not know the issuer, or refuses the certificate.
    """
    if _set_dst(hsm, certificate.chr) == SW_OK:
        return  # known already
    if certificate.car is None:
        raise PkaChainInvalid(f"the certificate {certificate.chr} names no issuer")
    sw = _set_dst(hsm, certificate.car)
    if sw != SW_OK:
        raise PkaChainInvalid(
            f"the card does not know {certificate.car}, the issuer of {certificate.chr} "
            f"(SW {sw:04X}): the custodian device is not from a PKI this card trusts"
        )
    # PSO VERIFY CERTIFICATE takes the certificate's contents: 7F4E body and 5F37 signature
    contents = certificate.body + encode_tlv(0x5F37, certificate.signature)
    command = CommandApdu(0x00, 0x2A, 0x00, 0xBE, contents, name="PSO VERIFY CERTIFICATE")
    sw = hsm.connection.transmit(command).sw
    if sw != SW_OK:
        raise PkaChainInvalid(
            f"the card refused the certificate {certificate.chr} (SW {sw:04X}): its signature "
            "does not verify under its issuer"
        )


def register_public_key(
    hsm: SmartCardHsm, pka: PkaFile, *, replace_slot: int | None = None
) -> PkaStatus:
    """Register the custodian key of ``pka`` (verify the file first: :meth:`PkaFile.check`).

    :param replace_slot: replace the key in this slot (the card must allow it).
    :raises PkaNotEnabled, PkaChainInvalid, PkaKeyAlreadyRegistered, PkaNoFreeSlot,
        PkaReplaceNotAllowed, PkaLoginRequired: as named.
    """
    status = _require_pka(hsm)
    if replace_slot is None and status.missing == 0:
        raise PkaNoFreeSlot(
            f"all {status.total} keys are registered; replace one (--slot N) if the card allows it"
        )
    for certificate in (pka.issuer, pka.device):
        if certificate is not None:
            teach_certificate(hsm, certificate)
    outer_car = pka.request.outer_car or pka.device.chr
    sw = _set_dst(hsm, outer_car)
    if sw != SW_OK:
        raise PkaChainInvalid(f"the card does not know the device {outer_car} (SW {sw:04X})")
    # the command takes the value of the 67 template: 7F21 request ‖ 42 ‖ 5F37
    request_value = read_tlv(pka.request.raw, 0).value
    p1, p2 = (0x00, 0x00) if replace_slot is None else (0x01, replace_slot)
    data, sw = _management(hsm, p1, p2, request_value, "REGISTER PUBLIC KEY")
    if sw == SW_OK:
        return PkaStatus.parse(data)
    if sw == 0x6A89:
        raise PkaKeyAlreadyRegistered(f"the key {pka.chr} is registered on this card already")
    if sw == 0x6A84:
        raise PkaNoFreeSlot(f"the card has no free slot for {pka.chr}")
    if sw == 0x6985 and replace_slot is not None:
        raise PkaReplaceNotAllowed(
            "the card was initialised without 'registered keys may be replaced'"
        )
    if sw == 0x6982:
        raise PkaLoginRequired(
            f"the card registers {pka.chr} only after a login (SW 6982): verify the user PIN "
            "first (--pin-env)"
        )
    if sw in (0x6A80, 0x6300):
        raise PkaChainInvalid(
            f"the card refused the key's request (SW {sw:04X}): the device's signature on it "
            "does not verify"
        )
    raise error_for_status(sw, "REGISTER PUBLIC KEY")


def registered_keys(hsm: SmartCardHsm, total: int) -> list[RegisteredKey]:
    """Every slot: the registered key's CHR (``None`` if empty) and its state."""
    keys = []
    for slot in range(total):
        data, sw = _management(hsm, 0x02, slot, b"", f"LIST PUBLIC KEY {slot}")
        if sw in (SW_OK, SW_AUTHENTICATED) and data:
            keys.append(RegisteredKey(slot, data.decode("latin-1"), sw == SW_AUTHENTICATED))
        else:
            keys.append(RegisteredKey(slot, None, False))
    return keys


def pka_challenge(hsm: SmartCardHsm) -> bytes:
    """GET CHALLENGE for the custodians to sign (the card keeps it for this session)."""
    return hsm.get_challenge(CHALLENGE_LENGTH)


def authentication_message(device_chr: str, challenge: bytes) -> bytes:
    """What a custodian card signs with ECDSA-SHA256: the device's CHR ‖ the challenge."""
    return device_chr.encode("latin-1") + challenge


def authenticate_custodian(hsm: SmartCardHsm, custodian_chr: str, signature: bytes) -> bool:
    """MSE SET AT (the custodian's key) + EXTERNAL AUTHENTICATE (``r ‖ s``).

    :returns: ``False`` when the card says this custodian authenticated already.
    :raises PkaUnknownCustodian: no key with this CHR is registered.
    :raises PkaSignatureRefused: the signature does not verify (wrong key or challenge).
    """
    name = "MSE SET AT (custodian key)"
    sw = _manage_security_environment(hsm, 0xA4, custodian_chr, name)
    if sw == 0x6985:
        return False
    if sw in (0x6A88, 0x6A80):
        raise PkaUnknownCustodian(f"no key {custodian_chr} is registered on this card")
    if sw != SW_OK:
        raise error_for_status(sw, name)
    command = CommandApdu(0x00, 0x82, 0x00, 0x00, signature, name="EXTERNAL AUTHENTICATE")
    sw = hsm.connection.transmit(command).sw
    if sw != SW_OK:
        raise PkaSignatureRefused(
            f"the card did not accept {custodian_chr}'s signature (SW {sw:04X}): the wrong "
            "key, or a challenge of another session"
        )
    return True


def custodian_signature(
    custodian: SmartCardHsm, key_ref: int, message: bytes, field_bytes: int
) -> bytes:
    """The custodian card signs ``message`` (ECDSA-SHA256); returned as plain ``r ‖ s``.

    :param field_bytes: the byte length of the key's curve (32 for P-256 and
        brainpoolP256r1): each half of ``r ‖ s`` has exactly this length.
    """
    der = custodian.sign(key_ref, Algorithm.ECDSA_SHA256, message)
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(field_bytes, "big") + s.to_bytes(field_bytes, "big")
