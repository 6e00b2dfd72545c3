"""Checks before a key is made or brought onto the card, and their words.

* :func:`algorithm_list_warnings`: an allowed-algorithm list that leaves out wrap
  (``92``, so the key can never be backed up) or holds only hash-specific signature
  ids that PKCS#11 applications (OpenSC) never ask for.
* :func:`key_already_on_card` / :func:`confirm_new_key`: a key being imported or
  restored that is already on the card (same public key) is named and the user asked.
* :func:`domain_words`: what a key domain still needs (shares outstanding), for the
  refusals of backup, restore and generation.
* :func:`remove_left_key`: a key file a refused UNWRAP left behind (a card that created
  ``CCxx`` before it refused the blob) is found and removed.

Algorithm ids as the card uses them are in :class:`keymanager.card.hsm_types.Algorithm`.
"""

from __future__ import annotations

import contextlib

from cryptography.hazmat.primitives import serialization

from keymanager.card.errors import CardError, NoKeyDomainSupport, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import Algorithm, KeyDomainSlot
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    KeyInfo,
    KeyStore,
    fid,
)
from keymanager.card.keystore_certificates import PublicKey
from keymanager.card.pkcs15 import KeyKind
from keymanager.workflows.interaction import Cancelled, Interaction

PKCS11_ALGORITHMS: dict[KeyKind, frozenset[int]] = {
    KeyKind.RSA: frozenset(
        {
            Algorithm.RSA_RAW,
            Algorithm.RSA_DECRYPT_RAW,
            Algorithm.RSA_DECRYPT_PKCS1,
            Algorithm.RSA_DECRYPT_OAEP,
            Algorithm.RSA_PSS,
        }
    ),
    KeyKind.EC: frozenset({Algorithm.ECDSA, Algorithm.ECDH}),
}
"""The ids OpenSC's SmartCard-HSM driver asks for (it hashes and pads on the host)."""

HASH_SPECIFIC: dict[KeyKind, frozenset[int]] = {
    KeyKind.RSA: frozenset(
        {
            Algorithm.RSA_PKCS1_SHA1,
            Algorithm.RSA_PKCS1_SHA224,
            Algorithm.RSA_PKCS1_SHA256,
            Algorithm.RSA_PKCS1_SHA384,
            Algorithm.RSA_PKCS1_SHA512,
            Algorithm.RSA_PSS_SHA1,
            Algorithm.RSA_PSS_SHA224,
            Algorithm.RSA_PSS_SHA256,
            Algorithm.RSA_PSS_SHA384,
            Algorithm.RSA_PSS_SHA512,
        }
    ),
    KeyKind.EC: frozenset(
        {
            Algorithm.ECDSA_SHA1,
            Algorithm.ECDSA_SHA224,
            Algorithm.ECDSA_SHA256,
            Algorithm.ECDSA_SHA384,
            Algorithm.ECDSA_SHA512,
        }
    ),
}
"""Ids where the card hashes the data itself: PKCS#11 applications never use them."""

_NAMES = {
    Algorithm.RSA_RAW: "RSA raw",
    Algorithm.ECDSA: "ECDSA",
    Algorithm.ECDH: "ECDH",
}


def algorithm_name(algorithm_id: int) -> str:
    """``73`` → ``ECDSA-SHA256``; an id the card does not define is named as unknown."""
    try:
        member = Algorithm(algorithm_id)
    except ValueError:
        return f"unknown id {algorithm_id:02X}"
    if member in _NAMES:
        return _NAMES[member]
    return member.name.replace("_", "-")


def describe_algorithms(allowed: bytes) -> str:
    """``7392`` → ``73 ECDSA-SHA256, 92 WRAP``."""
    return ", ".join(f"{a:02X} {algorithm_name(a)}" for a in allowed)


def algorithm_list_warnings(kind: KeyKind, allowed: bytes, *, seal: bool = False) -> list[str]:
    """What is wrong with an explicit allowed-algorithm list for a key of ``kind``.

    :param seal: the key is meant never to leave the card (a missing wrap is intended).
    """
    warnings = []
    unknown = [a for a in allowed if a not in {int(m) for m in Algorithm}]
    if unknown:
        names = ", ".join(f"{a:02X}" for a in unknown)
        warnings.append(
            f"the algorithm list holds ids the card does not define ({names}): they allow nothing"
        )
    if not seal and Algorithm.WRAP not in allowed:
        warnings.append(
            "the algorithm list leaves out wrap (92): the key can never be backed up "
            "(add 92, or seal the key if that is meant)"
        )
    hashed = [a for a in allowed if a in HASH_SPECIFIC.get(kind, frozenset())]
    usable = [a for a in allowed if a in PKCS11_ALGORITHMS.get(kind, frozenset())]
    if hashed and not usable:
        plain = "70 ECDSA" if kind is KeyKind.EC else "20 RSA raw (or 40 RSA-PSS)"
        named = describe_algorithms(bytes(hashed))
        warnings.append(
            f"the algorithm list holds only hash-specific ids ({named}) "
            f"that PKCS#11 applications (OpenSC) do not use: they ask for {plain}, so they "
            "cannot use this key"
        )
    return warnings


# --- key domains ---------------------------------------------------------------------


def domain_slots(hsm: SmartCardHsm) -> list[KeyDomainSlot]:
    """The card's key-domain slots (none on a card without key domains)."""
    try:
        return hsm.key_domains()
    except NoKeyDomainSupport:
        return []


def waiting_domains(hsm: SmartCardHsm) -> dict[int, str]:
    """Every DKEK domain that waits for shares, with what it waits for in words
    (``key domain 0 has 1 of 1 DKEK shares outstanding``), and every XKEK domain whose
    KCV reads zero (no KEK derived yet, or hidden until login)."""
    waiting = {}
    for slot in domain_slots(hsm):
        status = slot.status
        if status is not None and status.uid and status.kcv is None:
            waiting[slot.index] = (
                f"key domain {slot.index} is an XKEK domain whose KEK is not derived yet "
                "(group derive)"
            )
            continue
        if status is None or status.uid or not status.shares_outstanding:
            continue
        waiting[slot.index] = (
            f"key domain {slot.index} has {status.shares_outstanding} of "
            f"{status.shares_total} DKEK shares outstanding"
        )
    return waiting


# --- the same key already on the card --------------------------------------------------


def _spki(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_already_on_card(hsm: SmartCardHsm, public_key: PublicKey | None) -> KeyInfo | None:
    """The key on the card with this public key (from its certificate or CV request)."""
    if public_key is None:
        return None
    wanted = _spki(public_key)
    for key in KeyStore(hsm).list_keys(load_certificates=True):
        if key.public_key is not None and _spki(key.public_key) == wanted:
            return key
    return None


def confirm_new_key(
    hsm: SmartCardHsm, interaction: Interaction, public_key: PublicKey | None, what: str
) -> None:
    """Ask before ``what`` (e.g. "restoring key.wky") puts a second copy of a key there.

    :raises Cancelled: the same key is on the card and the user did not go on.
    """
    existing = key_already_on_card(hsm, public_key)
    if existing is None:
        return
    message = (
        f"This key is already on the card: key {existing.key_reference} "
        f"({existing.label}) has the same public key. Go on with {what} anyway "
        "(the card then holds it twice)?"
    )
    if not interaction.confirm(message):
        raise Cancelled(
            f"the key is already on the card as key {existing.key_reference} "
            f"({existing.label}); nothing was changed"
        )


# --- what a refused UNWRAP left ------------------------------------------------------------


def remove_left_key(hsm: SmartCardHsm, reference: int) -> bool:
    """Delete the key file (and any metadata) at ``reference`` that a refused command left.

    :returns: whether a key file was there (and is now removed).
    """
    try:
        files = CardFiles.enumerate(hsm)
        present = not files.known_absent(fid(KEY_PREFIX, reference))
    except TransportError:
        raise
    except CardError:
        return False
    if not present:
        return False
    found = False
    for file in (
        fid(EE_CERTIFICATE_PREFIX, reference),
        fid(PRKD_PREFIX, reference),
        fid(KEY_PREFIX, reference),
    ):
        with contextlib.suppress(CardError):
            hsm.delete_file(file)
            found = found or file == fid(KEY_PREFIX, reference)
    return found
