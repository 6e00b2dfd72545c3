"""Copy a key to another device of its key-domain group: :func:`migrate_key`.

A key in an XKEK domain can be wrapped on its device and unwrapped on any other member
of the group, once both hold the same KEK.  The KEK is pairwise, so the migration
always derives on both sides first: the source with the target's exchange key, the
target with the source's; the two KCVs must agree before a key is wrapped.  Then:

1. WRAP KEY on the source (the blob under the pairwise KEK; its KCV is checked against
   the one both devices show), with the key's PRKD and certificate or CV request, read
   as :func:`keymanager.workflows.keys.backup_key` does;
2. the restore of :func:`keymanager.workflows.key_restore.restore_backup` on the target
   (KCV matched to the target's domain before UNWRAP, a free reference, the same PRKD —
   label and ID — and the same certificate, recorded in the target's key-domain
   registry, rolled back if it fails);
3. a proof on the target that the copy is the key: a test signature (ECDSA-SHA256 or
   RSA-PSS-SHA256, or the plain-hash variants the key's algorithm list allows) verified
   on the host with the key's public key; a key that may not sign is proven by ECDH or
   an RSA decryption instead.  A copy whose proof fails is deleted again.  AES keys have
   no public key: the card's check of the blob's MAC under the shared KEK is all there is.

Refused before any card is changed, each with its own error: a key in no XKEK domain
(:class:`KeyNotInXkekDomain`), a target that is not a member of the key's group
(:class:`TargetNotInGroup`), a sealed key (:class:`KeySealed`: recorded so, or refused
by the card when a KEK is already there to try a WRAP with).  A sealed key that nothing
told of before the derive is refused by the card's WRAP then: no key is copied, the two
domains hold their pairwise KEK (the message says so).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keymanager.card.errors import (
    ApduError,
    CardError,
    ConditionsNotSatisfied,
    TransportError,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import Algorithm, KeyDomainStatus
from keymanager.card.keystore import (
    DEVICE_KEY_REFERENCE,
    EE_CERTIFICATE_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    KeyStore,
    fid,
)
from keymanager.card.keystore_certificates import PublicKey
from keymanager.card.xkek import ExchangeKey
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.errors import DkekError
from keymanager.dkek.keyblob import describe_blob
from keymanager.dkek.wky import KeyBackup
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.key_domains import keys_with_domains, record_quietly
from keymanager.workflows.key_restore import RestoreResult, backup_public_key, restore_backup
from keymanager.workflows.key_support import first_tlv
from keymanager.workflows.xkek_group import (
    GroupFile,
    KcvMismatch,
    KeyNotInXkekDomain,
    KeyNotProven,
    KeySealed,
    NotAMember,
    TargetNotInGroup,
    XkekDomainMissing,
    XkekWorkflowError,
    derive_with_peer,
    exchange_key_of,
    group_domain,
    short_uid,
)

__all__ = ["TEST_MESSAGE", "MigrationResult", "migrate_key", "prove_copy"]

TEST_MESSAGE = b"keymanager: proof of a key copied within its key-domain group"
"""What the copy signs (or what its proof is made of) on the target."""


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`migrate_key` did."""

    source_serial: str
    target_serial: str
    source_reference: int
    target_reference: int
    label: str
    kind: str
    source_domain: int
    target_domain: int
    group_uid: str
    kcv: str
    """The pairwise KEK's KCV both devices showed (and the blob carried)."""
    certificate: str | None
    """``"x509"``, ``"cv-request"`` or ``None``, as copied."""
    proof: str
    """What proved the copy (``ECDSA-SHA256 test signature verified``), or why nothing
    could (an AES key)."""

    @property
    def checks(self) -> list[str]:
        """What was proven (for the ceremony record)."""
        return [f"the KCVs of both devices agree ({self.kcv})", self.proof]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source_serial,
            "target": self.target_serial,
            "key_reference": self.source_reference,
            "target_key_reference": self.target_reference,
            "label": self.label,
            "type": self.kind,
            "source_domain": self.source_domain,
            "target_domain": self.target_domain,
            "group_uid": self.group_uid,
            "kcv": self.kcv,
            "certificate": self.certificate,
            "proof": self.proof,
        }


@dataclass(frozen=True)
class _Side:
    """One device of the migration: its domain of the group and its exchange key."""

    hsm: SmartCardHsm
    serial: str
    domain: int
    exchange_ref: int
    exchange: ExchangeKey


def _source_domain(source: SmartCardHsm, key_reference: int) -> tuple[int, KeyDomainStatus, str]:
    """The XKEK domain of the key (slot, status) and its label; refusals name why not."""
    if key_reference == DEVICE_KEY_REFERENCE:
        raise KeyNotInXkekDomain(
            "the device key (reference 0) cannot be copied; nothing was changed"
        )
    _registry, keys = keys_with_domains(source)
    key = next((k for k in keys if k.key_reference == key_reference), None)
    if key is None:
        raise WorkflowError(f"there is no key with reference {key_reference}; nothing was changed")
    if key.exportable is False:
        raise KeySealed(
            f"key {key_reference} ({key.label}) is sealed: the card refuses to export it, so "
            "it cannot be copied to another device; nothing was changed"
        )
    if key.domain_source == "unknown" or key.key_domain is None:
        raise KeyNotInXkekDomain(
            f"the key domain of key {key_reference} ({key.label}) is not recorded: only keys "
            "of an XKEK domain can be copied (Find key domains places keys once the domain "
            "has a KEK); nothing was changed"
        )
    status = source.key_domain_status(key.key_domain)
    if status is None or not status.uid:
        kind = "an empty slot" if status is None else "a DKEK domain"
        raise KeyNotInXkekDomain(
            f"key {key_reference} ({key.label}) is in key domain {key.key_domain}, {kind}, "
            "not an XKEK domain: copy it with backup and restore instead; nothing was changed"
        )
    return key.key_domain, status, key.label


def _side(hsm: SmartCardHsm, serial: str, domain: int) -> _Side:
    found = exchange_key_of(hsm, domain)
    if found is None:
        raise XkekDomainMissing(
            f"key domain {domain} of device {serial} holds no exchange key; nothing was changed"
        )
    return _Side(hsm, serial, domain, found[0], found[1])


def _check_group_file(path: Path, uid: bytes, source: str, target: str) -> None:
    group = GroupFile.load(path)
    if group.uid != uid:
        raise TargetNotInGroup(
            f"{path} is the file of group {group.short_uid}, but the key belongs to group "
            f"{short_uid(uid)}; nothing was changed"
        )
    for serial in (source, target):
        if group.member(serial) is None:
            error = TargetNotInGroup if serial == target else NotAMember
            raise error(
                f"device {serial} is not a member of group {group.short_uid} in {path}; "
                "nothing was changed"
            )


def _probe_seal(source: SmartCardHsm, key_reference: int, status: KeyDomainStatus) -> None:
    """With a KEK in the domain already, a WRAP tells a sealed key before anything changes."""
    if status.kcv is None:
        return
    try:
        source.wrap_key(key_reference)  # the blob is dropped
    except ConditionsNotSatisfied:
        raise KeySealed(
            f"key {key_reference} is sealed: the card refuses to export it (6985), so it "
            "cannot be copied to another device; nothing was changed"
        ) from None
    except TransportError:
        raise
    except CardError:
        return  # the migration's own WRAP tells, after the derive


def _read_backup(source: SmartCardHsm, key_reference: int, blob: bytes) -> KeyBackup:
    """The blob with the key's PRKD and certificate, read as ``backup_key`` reads them."""
    files = CardFiles.enumerate(source)
    raw_prkd = files.read(fid(PRKD_PREFIX, key_reference))
    prkd = first_tlv(raw_prkd) if raw_prkd is not None else None
    raw_certificate = files.read(fid(EE_CERTIFICATE_PREFIX, key_reference))
    certificate = first_tlv(raw_certificate) if raw_certificate else None
    if certificate is not None and prkd is None and not certificate.startswith(b"\x67"):
        certificate = None  # readers would take it for the description, as in backup_key
    return KeyBackup(blob=blob, prkd=prkd, certificate=certificate)


def _allows(allowed: bytes, algorithm: int) -> bool:
    return not allowed or algorithm in allowed


def prove_copy(hsm: SmartCardHsm, key_reference: int, public_key: PublicKey, allowed: bytes) -> str:
    """Prove that key ``key_reference`` is the private key of ``public_key`` (see above).

    :param allowed: the key's allowed-algorithm list (empty: unrestricted).
    :returns: what was verified, in words.
    :raises KeyNotProven: the answer does not verify, or the list allows no proof.
    """
    digest = hashlib.sha256(TEST_MESSAGE).digest()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if _allows(allowed, Algorithm.ECDSA_SHA256):
                signature = hsm.sign(key_reference, Algorithm.ECDSA_SHA256, TEST_MESSAGE)
                public_key.verify(signature, TEST_MESSAGE, ec.ECDSA(hashes.SHA256()))
                return "ECDSA-SHA256 test signature verified"
            if _allows(allowed, Algorithm.ECDSA):
                signature = hsm.sign(key_reference, Algorithm.ECDSA, digest)
                public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
                return "ECDSA test signature (SHA-256 hash) verified"
            if _allows(allowed, Algorithm.ECDH):
                ephemeral = ec.generate_private_key(public_key.curve)
                point = ephemeral.public_key().public_bytes(
                    Encoding.X962, PublicFormat.UncompressedPoint
                )
                shared = hsm.ecdh(key_reference, point)
                expected = ephemeral.exchange(ec.ECDH(), public_key)
                if shared[: len(expected)] != expected:
                    raise InvalidSignature
                return "ECDH with a host key agreed"
        else:
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            if _allows(allowed, Algorithm.RSA_PSS_SHA256):
                signature = hsm.sign(key_reference, Algorithm.RSA_PSS_SHA256, TEST_MESSAGE)
                public_key.verify(signature, TEST_MESSAGE, pss, hashes.SHA256())
                return "RSA-PSS-SHA256 test signature verified"
            if _allows(allowed, Algorithm.RSA_PKCS1_SHA256):
                signature = hsm.sign(key_reference, Algorithm.RSA_PKCS1_SHA256, TEST_MESSAGE)
                public_key.verify(signature, TEST_MESSAGE, padding.PKCS1v15(), hashes.SHA256())
                return "RSA PKCS#1 v1.5 SHA-256 test signature verified"
            if _allows(allowed, Algorithm.RSA_DECRYPT_PKCS1):
                cryptogram = public_key.encrypt(digest, padding.PKCS1v15())
                plain = hsm.decipher(key_reference, cryptogram, Algorithm.RSA_DECRYPT_PKCS1)
                if plain != digest:
                    raise InvalidSignature
                return "RSA decryption of a host cryptogram matched"
    except InvalidSignature:
        raise KeyNotProven(
            f"the copy in key {key_reference} failed its proof: the card's answer does not "
            "verify with the key's public key"
        ) from None
    except ApduError as error:
        raise KeyNotProven(
            f"the copy in key {key_reference} could not be proven: the card refused the "
            f"test operation ({error})"
        ) from None
    raise KeyNotProven(
        f"the algorithm list of key {key_reference} allows no signature, ECDH or decryption "
        "to prove the copy with"
    )


@ceremony_step("copy key to group device", witness=True)
def migrate_key(
    source: SmartCardHsm,
    target: SmartCardHsm,
    interaction: Interaction,
    key_reference: int,
    *,
    group_path: Path | None = None,
    target_interaction: Interaction | None = None,
) -> MigrationResult:
    """Copy key ``key_reference`` of ``source`` to ``target``, a member of its group.

    :param group_path: the group file: both devices must be members recorded in it
        (without it, membership is what the cards say: the target's XKEK domain of the
        key's group, and each device's exchange key read from the card).
    :param target_interaction: asks for the target card's PIN (default ``interaction``).
    :raises KeyNotInXkekDomain: the key's domain is not an XKEK domain (or not known).
    :raises TargetNotInGroup: the target holds no XKEK domain of the key's group.
    :raises KeySealed: the card refuses to export the key.
    :raises KcvMismatch: the two devices derived different KEKs (no key copied).
    :raises KeyNotProven: the copy's proof failed (the copy was deleted again).
    """
    asked_target = target_interaction or interaction
    source_serial, target_serial = source.serial(), target.serial()
    if source_serial == target_serial:
        raise XkekWorkflowError(
            f"source and target are the same device ({source_serial}); nothing was changed"
        )
    domain, status, label = _source_domain(source, key_reference)
    uid = status.uid
    on_target = group_domain(target, uid)
    if on_target is None:
        raise TargetNotInGroup(
            f"device {target_serial} is not a member of group {short_uid(uid)} (it holds no "
            f"XKEK domain of it): admit it to the group first; nothing was changed"
        )
    if group_path is not None:
        _check_group_file(group_path, uid, source_serial, target_serial)
    from_side = _side(source, source_serial, domain)
    to_side = _side(target, target_serial, on_target[0])
    verify_user_pin(source, interaction, f"copying key {key_reference} to device {target_serial}")
    verify_user_pin(target, asked_target, f"receiving key {key_reference} from {source_serial}")
    _probe_seal(source, key_reference, source.key_domain_status(domain) or status)
    source_kcv = derive_with_peer(source, domain, from_side.exchange_ref, to_side.exchange, uid)
    target_kcv = derive_with_peer(
        target, to_side.domain, to_side.exchange_ref, from_side.exchange, uid
    )
    if source_kcv != target_kcv:
        raise KcvMismatch(
            f"device {source_serial} derived KCV {format_kcv(source_kcv)} but device "
            f"{target_serial} derived {format_kcv(target_kcv)}: they do not share a KEK; no "
            "key was copied (the domains hold what they derived)"
        )
    kek_words = (
        f"the XKEK domains of both devices now hold their pairwise KEK (KCV "
        f"{format_kcv(source_kcv)})"
    )
    try:
        blob = source.wrap_key(key_reference)
    except ConditionsNotSatisfied:
        error = KeySealed(
            f"key {key_reference} is sealed: the card refuses to export it (6985); no key "
            f"was copied; {kek_words}"
        )
        error.nothing_changed = False
        raise error from None
    try:
        header = describe_blob(blob)
    except DkekError as error:
        raise XkekWorkflowError(
            f"the card's answer to WRAP KEY is not a key blob ({error}); no key was copied"
        ) from None
    if header.kcv != source_kcv:
        raise KcvMismatch(
            f"the key blob carries KCV {format_kcv(header.kcv)}, not the domain's "
            f"{format_kcv(source_kcv)}: the key is not in that domain; no key was copied"
        )
    backup = _read_backup(source, key_reference, blob)
    restored = restore_backup(
        target,
        asked_target,
        backup,
        origin=f"key {key_reference} of device {source_serial}",
    )
    proof = _prove_or_remove(target, asked_target, restored, backup, header.allowed_algorithms)
    certificate = None
    if backup.certificate is not None:
        certificate = "cv-request" if backup.has_cv_request else "x509"
    interaction.inform(
        f"Key {key_reference} ({label}) copied from device {source_serial} to device "
        f"{target_serial} as key {restored.key_reference} (XKEK domain {to_side.domain}, "
        f"KCV {format_kcv(source_kcv)}); {proof}."
    )
    return MigrationResult(
        source_serial=source_serial,
        target_serial=target_serial,
        source_reference=key_reference,
        target_reference=restored.key_reference,
        label=restored.label,
        kind=restored.kind,
        source_domain=domain,
        target_domain=to_side.domain,
        group_uid=uid.hex().upper(),
        kcv=format_kcv(source_kcv),
        certificate=certificate,
        proof=proof,
    )


def _prove_or_remove(
    target: SmartCardHsm,
    interaction: Interaction,
    restored: RestoreResult,
    backup: KeyBackup,
    allowed: bytes,
) -> str:
    """The copy's proof; a copy that fails it is deleted from the target."""
    if restored.kind == "AES":
        return "an AES key has no public key to verify a test with: the card checked the blob's MAC"
    public_key = backup_public_key(backup)
    if public_key is None:
        return (
            "not proven: the key has no certificate or CV request to verify a test signature with"
        )
    try:
        return prove_copy(target, restored.key_reference, public_key, allowed)
    except KeyNotProven as error:
        reference = restored.key_reference
        try:
            KeyStore(target).delete_key(reference)
            record_quietly(target, interaction, lambda registry: registry.forget_key(reference))
        except CardError:
            raise KeyNotProven(f"{error}; removing it failed too: delete key {reference}") from None
        raise KeyNotProven(f"{error}; the copy was deleted from the target") from None
