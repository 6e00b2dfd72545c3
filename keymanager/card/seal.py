"""Sealed keys: an allowed-algorithm list without WRAP, so the card refuses to export the key.

A SmartCard-HSM key may carry a list of the algorithm ids it may be used with (tag ``91``
of key generation, the "allowed algorithms" field of a key blob).  A key whose list is
not empty and lacks :attr:`Algorithm.WRAP` (``92``) is refused by WRAP KEY with ``6985``
whatever its key domain holds: Pico HSM enforces this, and keymanager's simulator does in
both personalities (a decision for the genuine card, written in ``docs/card.md``).  That
refusal, made by the card, is the only guarantee keymanager gives that a key "cannot be
exported"; it is what :func:`prove_sealed` checks before a workflow says so.

The sealed lists keep everything the key type needs for its use through PKCS#11 and
keymanager: RSA signing (raw, PKCS#1 v1.5, PSS, with and without card-side hashing) and
decryption (raw, PKCS#1, OAEP); ECDSA (raw and with card-side hashing) and ECDH; AES
encryption, decryption, CMAC and derivation.
"""

from __future__ import annotations

import enum

from keymanager.card.errors import ApduError, CardError, ReferencedDataNotFound
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import AES_DEFAULT_ALGORITHMS, Algorithm
from keymanager.card.pkcs15 import KeyKind

__all__ = [
    "SealCheck",
    "SealNotEnforced",
    "exportable_algorithms",
    "is_sealed",
    "prove_sealed",
    "sealed_algorithms",
]

_RSA_ALGORITHMS = (
    Algorithm.RSA_RAW,
    Algorithm.RSA_DECRYPT_RAW,
    Algorithm.RSA_DECRYPT_PKCS1,
    Algorithm.RSA_DECRYPT_OAEP,
    Algorithm.RSA_PKCS1,
    Algorithm.RSA_PKCS1_SHA1,
    Algorithm.RSA_PKCS1_SHA224,
    Algorithm.RSA_PKCS1_SHA256,
    Algorithm.RSA_PKCS1_SHA384,
    Algorithm.RSA_PKCS1_SHA512,
    Algorithm.RSA_PSS,
    Algorithm.RSA_PSS_SHA1,
    Algorithm.RSA_PSS_SHA224,
    Algorithm.RSA_PSS_SHA256,
    Algorithm.RSA_PSS_SHA384,
    Algorithm.RSA_PSS_SHA512,
)
_EC_ALGORITHMS = (
    Algorithm.ECDSA,
    Algorithm.ECDSA_SHA1,
    Algorithm.ECDSA_SHA224,
    Algorithm.ECDSA_SHA256,
    Algorithm.ECDSA_SHA384,
    Algorithm.ECDSA_SHA512,
    Algorithm.ECDH,
)


def sealed_algorithms(kind: KeyKind) -> bytes:
    """The allowed-algorithm list of a sealed key of ``kind`` (everything but WRAP)."""
    if kind is KeyKind.RSA:
        ids: tuple[Algorithm, ...] = _RSA_ALGORITHMS
    elif kind is KeyKind.EC:
        ids = _EC_ALGORITHMS
    else:
        ids = AES_DEFAULT_ALGORITHMS
    return bytes(int(a) for a in ids)


def exportable_algorithms(kind: KeyKind) -> bytes | None:
    """The list keymanager gives a key that may be exported.

    RSA and EC: ``None`` (no list: unrestricted, as OpenSC and Smart Card Shell make
    them).  AES: the card's default AES list plus WRAP, since the default list alone
    lacks WRAP and would seal the key.
    """
    if kind is KeyKind.AES:
        return sealed_algorithms(kind) + bytes([Algorithm.WRAP])
    return None


def is_sealed(allowed_algorithms: bytes | None) -> bool | None:
    """Whether a key with this allowed-algorithm list is sealed (``None``: list unknown)."""
    if allowed_algorithms is None:
        return None
    return bool(allowed_algorithms) and Algorithm.WRAP not in allowed_algorithms


class SealCheck(enum.Enum):
    """What a WRAP attempt of a key told."""

    REFUSED_BY_LIST = "the card refuses to export it (its algorithm list lacks WRAP)"
    NO_KEY_DOMAIN = "the card refuses to export it (no key domain with a KEK)"


class SealNotEnforced(CardError):
    """The card exported a key that was meant to be sealed."""

    def __init__(self, key_reference: int) -> None:
        self.key_reference = key_reference
        super().__init__(
            f"the card exported key {key_reference} although its algorithm list lacks WRAP: "
            "this card does not enforce the seal"
        )


def prove_sealed(hsm: SmartCardHsm, key_reference: int) -> SealCheck:
    """Ask the card to WRAP the key and require a refusal.

    :returns: :attr:`SealCheck.REFUSED_BY_LIST` for ``6985``; :attr:`SealCheck.NO_KEY_DOMAIN`
        for ``6A88`` (the key's domain has no KEK: a refusal, but not one that proves the
        algorithm list; callers that need the proof run this while the KEK exists).
    :raises SealNotEnforced: the card answered with a key blob (the blob is dropped).
    :raises ApduError: any other status word.
    """
    try:
        hsm.wrap_key(key_reference)
    except ReferencedDataNotFound:
        return SealCheck.NO_KEY_DOMAIN
    except ApduError as error:
        if error.sw == 0x6985:
            return SealCheck.REFUSED_BY_LIST
        if error.sw == 0x6A88:
            return SealCheck.NO_KEY_DOMAIN
        raise
    raise SealNotEnforced(key_reference)
