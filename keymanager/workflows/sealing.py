"""Sealing keys in the workflows that make them: generate, restore (and the PKCS#12 imports).

"The card must never export this key" is a promise keymanager makes only when the card
keeps it: the key gets an allowed-algorithm list without WRAP
(:func:`keymanager.card.seal.sealed_algorithms`) and, where the key's domain has a KEK, a
WRAP attempt must be refused with ``6985`` before the workflow reports success.

* generation sends the sealed list in tag ``91``;
* a restore cannot change a blob's list without its DKEK (the list is under the blob's
  MAC), so a sealed restore asks for the domain's DKEK shares, decodes the blob on the
  host, re-encodes it with the sealed list and unwraps that;
* the imports encode their blobs with the sealed list (:mod:`keymanager.workflows.import_p12`).
"""

from __future__ import annotations

from keymanager.card.errors import CardError, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import Algorithm
from keymanager.card.keystore import blob_key_kind
from keymanager.card.pkcs15 import KeyKind
from keymanager.card.seal import (
    SealCheck,
    exportable_algorithms,
    is_sealed,
    prove_sealed,
    sealed_algorithms,
)
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.errors import DkekError
from keymanager.dkek.keyblob import decode_key, describe_blob, encode_key
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.shares import collect_dkek

__all__ = [
    "PROOF_BY_LIST",
    "SEALED_WORDS",
    "SealNotProven",
    "check_seal",
    "generation_algorithms",
    "reseal_blob",
]


PROOF_BY_LIST = "WRAP refused by the card (6985)"
""":func:`check_seal`'s answer when the card's refusal proves the algorithm list."""

SEALED_WORDS = "the card refuses to export it"
"""What a result says of a sealed key, once a WRAP attempt was refused."""


class SealNotProven(WorkflowError):
    """A key meant to be sealed: the card's answer to WRAP does not prove the seal."""


def generation_algorithms(kind: KeyKind, allowed: bytes | None, *, seal: bool) -> bytes | None:
    """The allowed-algorithm list to generate a key with.

    :param allowed: the caller's explicit list (``None``: keymanager's default).
    :raises WorkflowError: ``seal`` with an explicit list that allows WRAP.
    """
    if seal:
        if allowed is not None:
            if Algorithm.WRAP in allowed:
                raise WorkflowError(
                    "the algorithm list allows wrap (92), so the key would not be sealed: "
                    "leave 92 out or do not ask for --no-export"
                )
            return allowed
        return sealed_algorithms(kind)
    if allowed is not None:
        return allowed
    return exportable_algorithms(kind)


def recorded_seal(allowed: bytes | None, proof: str) -> bool | None:
    """What the registry may say of a new key's seal: ``True`` only once the card refused
    WRAP because of the list (:data:`PROOF_BY_LIST`), ``False`` when the list allows WRAP,
    ``None`` (not known) for a list without WRAP whose refusal was not seen."""
    if proof == PROOF_BY_LIST:
        return True
    if allowed is None or not is_sealed(allowed):
        return False
    return None


def check_seal(hsm: SmartCardHsm, reference: int, *, kek_present: bool) -> str:
    """Prove the seal of a new key by a WRAP the card refuses.

    :param kek_present: the key's domain has a KEK now, so only the algorithm list can
        make the card refuse (``6985``); otherwise a ``6A88`` refusal is accepted too.
    :returns: what was checked, in words.
    :raises SealNotProven: the card exported the key, or refused for a reason that
        proves nothing.
    """
    try:
        check = prove_sealed(hsm, reference)
    except TransportError:
        raise
    except CardError as error:
        raise SealNotProven(
            f"key {reference} was to be sealed, but the WRAP attempt that proves it gave: {error}"
        ) from None
    if check is SealCheck.REFUSED_BY_LIST:
        return PROOF_BY_LIST
    if kek_present:
        raise SealNotProven(
            f"key {reference} was to be sealed, but the card refused WRAP for another "
            f"reason ({check.value})"
        )
    return "WRAP refused by the card (the key is in no key domain with a KEK)"


def reseal_blob(interaction: Interaction, blob: bytes, domain: int | None) -> bytes:
    """The key of ``blob`` re-encoded with a sealed algorithm list (asks for the shares).

    :raises WorkflowError: the shares give another DKEK than the blob's, or the blob
        does not decode.
    """
    header = describe_blob(blob)
    count = interaction.ask_number(
        "Sealing a restored key needs the DKEK it was backed up under: how many DKEK "
        "shares make it up?",
        minimum=1,
        maximum=255,
        default=1,
    )
    dkek = collect_dkek(interaction, count, domain=domain, card_kcv=header.kcv)
    try:
        if dkek.kcv() != header.kcv:
            raise WorkflowError(
                f"the shares give a DKEK with KCV {format_kcv(dkek.kcv())}, but the backup "
                f"was made under {format_kcv(header.kcv)}; nothing was changed"
            )
        try:
            decoded = decode_key(dkek, blob)
            kind = blob_key_kind(header.key_type)
            return encode_key(dkek, decoded.private_key, allowed_algorithms=sealed_algorithms(kind))
        except DkekError as error:
            raise WorkflowError(f"the backup's key blob cannot be sealed: {error}") from None
    finally:
        dkek.clear()
