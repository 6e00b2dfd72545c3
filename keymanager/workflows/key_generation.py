"""Generate an RSA, EC or AES key on the card: :func:`generate_key`.

An explicit allowed-algorithm list that leaves out wrap (``92``) or holds only
hash-specific ids is warned about (:func:`keymanager.workflows.key_checks.algorithm_list_warnings`),
and so is a key domain without a complete DKEK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keymanager.card.errors import NoKeyDomainSupport
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import AES_DEFAULT_ALGORITHMS, EcKeySpec, KeySpec, RsaKeySpec
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    KeyStore,
    fid,
)
from keymanager.card.pkcs15 import (
    KeyKind,
    encode_prkd,
    secret_key_description,
)
from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.errors import UnsupportedKey
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import DomainNotReady, WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.key_checks import (
    algorithm_list_warnings,
)
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.key_support import (
    JournalEntry,
    KeyJournal,
    Rollback,
    card_serial,
    choose_reference,
    domain_wait_words,
    domains_by_kcv,
    end_unless_removed,
)
from keymanager.workflows.sealing import (
    SEALED_WORDS,
    SealNotProven,
    check_seal,
    generation_algorithms,
    recorded_seal,
)

# --- generate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyAlgorithm:
    """A key to generate: ``rsa:BITS``, ``ec:CURVE`` or ``aes:BITS``."""

    kind: KeyKind
    bits: int = 0
    curve: str = ""

    @classmethod
    def parse(cls, text: str) -> KeyAlgorithm:
        """Read ``rsa:2048``, ``ec:prime256v1`` / ``ec:brainpoolP256r1``, ``aes:256``.

        :raises ValueError: anything else (the message says what is accepted).
        """
        family, _, value = text.strip().partition(":")
        family = family.lower()
        if family == "rsa":
            try:
                RsaKeySpec(int(value))
            except ValueError:
                raise ValueError("RSA keys are rsa:1024 to rsa:4096 in steps of 256") from None
            return cls(KeyKind.RSA, bits=int(value))
        if family == "ec":
            try:
                curve = curve_by_name(value)
            except UnsupportedKey as error:
                raise ValueError(str(error)) from None
            return cls(KeyKind.EC, bits=curve.p.bit_length(), curve=curve.name)
        if family == "aes":
            if value not in ("128", "192", "256"):
                raise ValueError("AES keys are aes:128, aes:192 or aes:256")
            return cls(KeyKind.AES, bits=int(value))
        raise ValueError(f"{text!r}: use rsa:BITS, ec:CURVE or aes:BITS")

    def spec(self) -> KeySpec:
        """The asymmetric key spec for GENERATE ASYMMETRIC KEY PAIR."""
        if self.kind is KeyKind.RSA:
            return RsaKeySpec(self.bits)
        return EcKeySpec(self.curve)

    def describe(self) -> str:
        if self.kind is KeyKind.EC:
            return f"EC {self.curve}"
        return f"{self.kind.value} {self.bits}"


@dataclass(frozen=True)
class GeneratedKey:
    """A key :func:`generate_key` made."""

    key_reference: int
    label: str
    algorithm: str
    key_id: str
    domain: int | None
    allowed_algorithms: str | None
    sealed: bool = False
    """The algorithm list lacks WRAP: the card refuses to export the key."""
    seal_proof: str = ""
    """What proved the seal (a WRAP refused by the card), when a seal was asked for."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "algorithm": self.algorithm,
            "id": self.key_id,
            "domain": self.domain,
            "allowed_algorithms": self.allowed_algorithms,
            "sealed": self.sealed,
            "seal_proof": self.seal_proof or None,
        }


def _no_key_domain_words(hsm: SmartCardHsm, domain: int) -> str:
    """Why ``domain`` (neither a DKEK nor an XKEK domain on the card) takes no key."""
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    if not slots:
        return f"this card has no key domains, so no key domain {domain}"
    if any(slot.index == domain for slot in slots):
        return (
            f"key domain {domain} is empty on this card: create a DKEK domain in it or "
            "admit the device to a key-domain group there first"
        )
    return (
        f"this card has no key domain {domain} (its {len(slots)} key-domain slot(s) are "
        f"0 to {len(slots) - 1})"
    )


@ceremony_step("generate key")
def generate_key(
    hsm: SmartCardHsm,
    interaction: Interaction,
    algorithm: KeyAlgorithm,
    label: str,
    *,
    domain: int | None = None,
    allowed_algorithms: bytes | None = None,
    key_reference: int | None = None,
    journal: KeyJournal | None = None,
    seal: bool = False,
) -> GeneratedKey:
    """Generate an RSA, EC or AES key on the card with label, algorithms and key domain.

    RSA and EC go through :meth:`KeyStore.generate_key` (CV request in ``CExx``, PRKD as
    OpenSC writes it); AES keys get sc-hsm-embedded's ``A8`` PRKD with the key reference
    as ID.  The key is recorded in the key-domain registry with its domain.

    :param seal: "the card must never export this key": an algorithm list without WRAP
        (:func:`keymanager.workflows.sealing.generation_algorithms`), proven by a WRAP
        the card refuses before the key is reported; a key the card would export is
        deleted again.
    :raises DomainNotReady: ``domain`` is no key domain (DKEK or XKEK) on this card: the
        slot is empty, or the card has no such slot.
    :raises SealNotProven: ``seal`` and the card did not refuse WRAP (the key is gone).
    """
    if not label.strip():
        raise WorkflowError("a key needs a label")
    kek_present = False
    if domain is not None:
        by_kcv, hidden, incomplete = domains_by_kcv(hsm)
        with_kek = {d for ds in by_kcv.values() for d in ds} | set(hidden)
        if domain not in with_kek | set(incomplete):
            raise DomainNotReady(f"{_no_key_domain_words(hsm, domain)}; nothing was changed")
        kek_present = domain in with_kek
        if not kek_present:
            interaction.warn(
                f"Key domain {domain} has no complete DKEK "
                f"({domain_wait_words(hsm, domain)}): a key generated there cannot be backed "
                "up, and may never be (a card can keep a key made before its domain's DKEK "
                "was complete unexportable); import the remaining shares first to be able "
                "to back it up."
            )
    if allowed_algorithms is not None:
        for warning in algorithm_list_warnings(algorithm.kind, allowed_algorithms, seal=seal):
            interaction.warn(warning[0].upper() + warning[1:] + ".")
    allowed_algorithms = generation_algorithms(algorithm.kind, allowed_algorithms, seal=seal)
    verify_user_pin(hsm, interaction, f"generating the key {label!r}")
    files = CardFiles.enumerate(hsm)
    reference = choose_reference(files, key_reference)
    serial = card_serial(hsm)
    planned = {fid(KEY_PREFIX, reference): "", fid(PRKD_PREFIX, reference): ""}
    if algorithm.kind is not KeyKind.AES:
        planned[fid(EE_CERTIFICATE_PREFIX, reference)] = ""  # the CV request
    if journal is not None:
        journal.begin(serial, JournalEntry("generation", reference, planned))
    try:
        if algorithm.kind is KeyKind.AES:
            key_id = bytes([reference])
            hsm.generate_aes_key(
                reference,
                algorithm.bits,
                allowed_algorithms=allowed_algorithms,
                key_domain=domain,
            )
            rollback = Rollback(hsm, reference)
            try:
                files.delete(fid(PRKD_PREFIX, reference))
                hsm.write_file(
                    fid(PRKD_PREFIX, reference),
                    encode_prkd(secret_key_description(label, key_id, algorithm.bits)),
                )
            except BaseException:
                rollback.run()
                raise
            allowed = allowed_algorithms
            if allowed is None:
                allowed = bytes(int(a) for a in AES_DEFAULT_ALGORITHMS)
        else:
            info = KeyStore(hsm).generate_key(
                algorithm.spec(),
                label,
                key_reference=reference,
                allowed_algorithms=allowed_algorithms,
                key_domain=domain,
            )
            key_id = info.id or b""
            allowed = allowed_algorithms
        seal_proof = ""
        if seal:
            try:
                seal_proof = check_seal(hsm, reference, kek_present=kek_present)
            except SealNotProven:
                Rollback(hsm, reference).run()
                raise
        if domain is not None:  # without one the card chooses: not recorded (Find key domains)
            record_quietly(
                hsm,
                interaction,
                lambda registry: registry.record_key(
                    reference,
                    key_id,
                    domain,
                    sealed=recorded_seal(allowed, seal_proof),
                    kind=algorithm.kind,
                    size=algorithm.bits,
                ),
            )
    except BaseException as error:
        end_unless_removed(journal, serial, reference, error)
        raise
    if journal is not None:
        journal.end(serial, reference)
    sealed_text = f"; sealed: {SEALED_WORDS} ({seal_proof})" if seal else ""
    interaction.inform(
        f"Generated {algorithm.describe()} key {label!r} in reference {reference} "
        f"(ID {key_id.hex().upper()}){sealed_text}."
    )
    return GeneratedKey(
        key_reference=reference,
        label=label,
        algorithm=algorithm.describe(),
        key_id=key_id.hex().upper(),
        domain=domain,
        allowed_algorithms=allowed.hex().upper() if allowed is not None else None,
        sealed=recorded_seal(allowed, seal_proof) is True or (seal and bool(seal_proof)),
        seal_proof=seal_proof,
    )
