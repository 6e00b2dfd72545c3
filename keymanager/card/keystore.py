"""The key store: keys, certificates and data objects of a SmartCard-HSM with their metadata.

Built only on the session API of :mod:`keymanager.card.hsm` (ENUMERATE, READ, WRITE,
DELETE, UNWRAP, GENERATE), and writing the PKCS#15 metadata of
:mod:`keymanager.card.pkcs15` exactly where and how OpenSC does, so that keys imported
or generated here show up in OpenSC's PKCS#11 module with their labels and
certificates, and keys made by OpenSC or Smart Card Shell show up here.

File identifiers (high byte = prefix, low byte = key or object number):

======  ===========================================================================
``CC``  private key ``xx`` (``CC00`` is the device key and is never listed)
``C4``  its private-key description (PRKD)
``CE``  its certificate (X.509, first byte ``30``) or, after on-card generation,
        the card's CV request (first byte ``67``)
``CA``  a CA certificate, described by ``C8`` with the same low byte
``C9``  a data-object description for ``CD`` (PIN-protected) or ``CF`` (public)
======  ===========================================================================

Listing keys costs one ENUMERATE plus one READ for each of ``C4xx`` and ``CExx`` that
exists (files not in the ENUMERATE answer are not read).  OpenSC's emulator needs
about eight APDUs per key for the same (SELECT and READ for each file, plus FCPs).

Consistency rules (see the "PKCS#15 and key store" section of ``docs/card.md``):

* metadata is written only after the key exists (UNWRAP / GENERATE first), and if
  writing it fails the new key and whatever metadata was written are deleted again
  (best effort) before the error is re-raised;
* a key is deleted metadata first (``CE``, then ``C4``), the key ``CC`` last, so an
  interruption can leave a key without description (listed, flagged, deletable again)
  but never a description of a key that is gone;
* a file is replaced by DELETE then WRITE, as OpenSC's ``sc_hsm_update_ef`` does with
  ``erase``, so no bytes of an older, longer file survive.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keymanager.card.errors import CardError, FileNotFound
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import KeySpec
from keymanager.card.keystore_certificates import (
    PublicKey,
    PublicKeyFacts,
    ca_certificate_id,
    load_certificate_file,
    name_to_text,
    parse_cv_request_public_key,
    public_key_facts,
)
from keymanager.card.keystore_listing import KeyListing
from keymanager.card.keystore_types import (
    CA_CERTIFICATE_PREFIX,
    CD_PREFIX,
    DATA_PREFIX,
    DCOD_PREFIX,
    DEVICE_KEY_REFERENCE,
    EE_CERTIFICATE_PREFIX,
    IMPORTED_KEY_ACCESS,
    KEY_PREFIX,
    MAX_KEY_REFERENCE,
    NO_DESCRIPTION_LABEL,
    PRKD_PREFIX,
    PROTECTED_DATA_PREFIX,
    CaCertificateInfo,
    DataObjectInfo,
    KeyInfo,
    KeyNotFound,
    KeyReferenceTaken,
    KeyStoreError,
    NoFreeKeyReference,
    blob_key_kind,
    fid,
    numbers_of,
)
from keymanager.card.pkcs15 import (
    GENERATED_KEY_ACCESS,
    CertificateDescription,
    KeyKind,
    KeyUsage,
    Pkcs15Error,
    PrivateKeyDescription,
    decode_prkd,
    default_usage,
    encode_cd,
    encode_prkd,
)
from keymanager.dkek.keyblob import describe_blob

__all__ = [
    "CA_CERTIFICATE_PREFIX",
    "CD_PREFIX",
    "DATA_PREFIX",
    "DCOD_PREFIX",
    "DEVICE_KEY_REFERENCE",
    "EE_CERTIFICATE_PREFIX",
    "IMPORTED_KEY_ACCESS",
    "KEY_PREFIX",
    "MAX_KEY_REFERENCE",
    "NO_DESCRIPTION_LABEL",
    "PRKD_PREFIX",
    "PROTECTED_DATA_PREFIX",
    "CaCertificateInfo",
    "DataObjectInfo",
    "KeyInfo",
    "KeyNotFound",
    "KeyReferenceTaken",
    "KeyStore",
    "KeyStoreError",
    "NoFreeKeyReference",
    "PublicKey",
    "PublicKeyFacts",
    "blob_key_kind",
    "ca_certificate_id",
    "fid",
    "load_certificate_file",
    "name_to_text",
    "parse_cv_request_public_key",
]

logger = logging.getLogger(__name__)


# --- the store -----------------------------------------------------------------------


class KeyStore(KeyListing):
    """Keys, certificates and data objects of one card session.

    Listing and reading come from :class:`~keymanager.card.keystore_listing.KeyListing`;
    this class adds importing, generating, storing certificates and deleting.
    """

    def __init__(self, hsm: SmartCardHsm) -> None:
        self._hsm = hsm

    # --- importing and generating ----------------------------------------------------

    def import_wrapped_key(
        self,
        blob: bytes,
        *,
        label: str,
        key_id: bytes | None = None,
        certificate: x509.Certificate | None = None,
        public_key: PublicKey | None = None,
        key_reference: int | None = None,
        usage: KeyUsage | None = None,
        key_size: int | None = None,
    ) -> KeyInfo:
        """UNWRAP a key blob into a free key reference, then write its PRKD and certificate.

        The PRKD's kind and size come from ``certificate`` or ``public_key`` (one is
        required for RSA and EC blobs, whose public key cannot be read back from the
        card); its ID is OpenSC's (SHA-1 of the modulus or of X) unless ``key_id`` is
        given.  AES blobs need ``key_size`` unless the blob can only hold a 128-bit key;
        their ID defaults to the key reference, as sc-hsm-embedded does.

        :param key_reference: the reference to use; ``None`` takes the lowest free one
            (no ``CC``, ``C4`` or ``CE`` file with that number).
        :raises KeyReferenceTaken: ``key_reference`` already holds a key.
        :raises NoFreeKeyReference: no reference is free.
        :raises ValueError: the blob, certificate and public key do not fit together.
        :raises CardError: the card refused a command; if that happened after UNWRAP,
            the new key has been deleted again (best effort).
        """
        header = describe_blob(blob)
        kind = blob_key_kind(header.key_type)
        facts = public_key_facts(certificate, public_key)
        if kind is KeyKind.AES:
            if facts is not None:
                raise ValueError("an AES key blob has no public key or certificate")
            if key_size is None:
                if header.encrypted_length != 32:
                    raise ValueError("give the AES key size: the blob does not reveal it")
                key_size = 128
            size = key_size
        else:
            if facts is None:
                raise ValueError(
                    "importing an RSA or EC key needs its certificate or public key "
                    "(the card cannot tell the public key of an unwrapped key)"
                )
            if facts.kind is not kind:
                raise ValueError(
                    f"the key blob holds an {kind.value} key, but the certificate or "
                    f"public key is {facts.kind.value}"
                )
            size = facts.size

        fids = set(self._hsm.enumerate_objects())
        reference = self._choose_reference(fids, key_reference)
        if key_id is None:
            key_id = facts.key_id if facts is not None else bytes([reference])
        description = PrivateKeyDescription(
            kind=kind,
            label=label,
            id=key_id,
            usage=default_usage(kind) if usage is None else usage,
            size=size,
            key_reference=reference,
            access_flags=IMPORTED_KEY_ACCESS,
            subject=certificate.subject.public_bytes() if certificate is not None else None,
        )
        if kind is KeyKind.AES:
            description = _as_secret_key(description)
        prkd = encode_prkd(description)
        certificate_der = (
            certificate.public_bytes(serialization.Encoding.DER) if certificate else None
        )

        self._hsm.unwrap_key(reference, bytes(blob))
        try:
            self._replace(fid(PRKD_PREFIX, reference), prkd, fids)
            ce = fid(EE_CERTIFICATE_PREFIX, reference)
            if certificate_der is not None:
                self._replace(ce, certificate_der, fids)
            elif ce in fids:
                self._delete_if_present(ce)  # a stale certificate of an earlier key
        except BaseException:
            self._discard_key(reference)
            raise
        return KeyInfo(
            key_reference=reference,
            label=label,
            id=key_id,
            kind=kind,
            size=size,
            usage=description.usage,
            described=True,
            description=description,
            certificate=certificate,
            public_key=facts.public_key if facts is not None else None,
            allowed_algorithms=header.allowed_algorithms,
        )

    def generate_key(
        self,
        spec: KeySpec,
        label: str,
        *,
        key_reference: int | None = None,
        key_id: bytes | None = None,
        usage: KeyUsage | None = None,
        allowed_algorithms: Sequence[int] | None = None,
        key_domain: int | None = None,
        use_counter: int | None = None,
    ) -> KeyInfo:
        """Generate a key pair on the card and describe it as OpenSC does.

        GENERATE ASYMMETRIC KEY PAIR, then ``CExx`` := the CV request (replacing what
        was there), then the PRKD with the ID computed from the public key in the
        request and the access flags of an on-card key (``03 02 03 B8``).
        """
        fids = set(self._hsm.enumerate_objects())
        reference = self._choose_reference(fids, key_reference)
        request = self._hsm.generate_key_pair(
            reference,
            spec,
            allowed_algorithms=allowed_algorithms,
            key_domain=key_domain,
            use_counter=use_counter,
        )
        try:
            facts = parse_cv_request_public_key(request)
            self._replace(fid(EE_CERTIFICATE_PREFIX, reference), request, None)
            description = PrivateKeyDescription(
                kind=facts.kind,
                label=label,
                id=facts.key_id if key_id is None else key_id,
                usage=default_usage(facts.kind) if usage is None else usage,
                size=facts.size,
                key_reference=reference,
                access_flags=GENERATED_KEY_ACCESS,
            )
            self._replace(fid(PRKD_PREFIX, reference), encode_prkd(description), fids)
        except BaseException:
            self._discard_key(reference)
            raise
        return KeyInfo(
            key_reference=reference,
            label=label,
            id=description.id,
            kind=facts.kind,
            size=facts.size,
            usage=description.usage,
            described=True,
            description=description,
            cv_request=request,
            public_key=facts.public_key,
            allowed_algorithms=None if allowed_algorithms is None else bytes(allowed_algorithms),
            key_domain=key_domain,
        )

    # --- certificates ----------------------------------------------------------------

    def store_certificate(self, key_reference: int, certificate: x509.Certificate) -> None:
        """Put an X.509 certificate into ``CExx`` (replacing a CV request or older one).

        As OpenSC does after storing a certificate, the PRKD gets the certificate's
        subject.  A certificate whose key type or size differs from the PRKD's is
        refused.

        :raises KeyNotFound: no key with that reference.
        :raises ValueError: the certificate does not fit the key's description.
        """
        fids = set(self._hsm.enumerate_objects())
        if fid(KEY_PREFIX, key_reference) not in fids or key_reference == DEVICE_KEY_REFERENCE:
            raise KeyNotFound(f"there is no key with reference {key_reference}")
        facts = public_key_facts(certificate, None)
        assert facts is not None
        raw = self._read_optional(fid(PRKD_PREFIX, key_reference), fids)
        description: PrivateKeyDescription | None = None
        if raw is not None:
            try:
                description = decode_prkd(raw)
            except Pkcs15Error:
                description = None
        if description is not None and (
            description.kind is not facts.kind or description.size != facts.size
        ):
            raise ValueError(
                f"the certificate is for a {facts.size}-bit {facts.kind.value} key, but key "
                f"{key_reference} is a {description.size}-bit {description.kind.value} key"
            )
        self._replace(
            fid(EE_CERTIFICATE_PREFIX, key_reference),
            certificate.public_bytes(serialization.Encoding.DER),
            fids,
        )
        subject = certificate.subject.public_bytes()
        if description is not None and description.subject != subject:
            updated = _replace_fields(description, subject=subject, key_reference=key_reference)
            self._replace(fid(PRKD_PREFIX, key_reference), encode_prkd(updated), fids)

    def store_ca_certificate(self, certificate: x509.Certificate, label: str) -> int:
        """Store a CA certificate in the first free ``CAxx`` and describe it in ``C8xx``.

        :returns: the number ``xx``.
        :raises NoFreeKeyReference: all 256 numbers are taken.
        """
        fids = set(self._hsm.enumerate_objects())
        taken = numbers_of(fids, CA_CERTIFICATE_PREFIX) | numbers_of(fids, CD_PREFIX)
        free = [number for number in range(256) if number not in taken]
        if not free:
            raise NoFreeKeyReference("all 256 CA certificate numbers are in use")
        number = free[0]
        description = CertificateDescription(
            label=label,
            id=ca_certificate_id(certificate),
            path=fid(CA_CERTIFICATE_PREFIX, number).to_bytes(2, "big"),
            authority=True,
        )
        self._hsm.write_file(
            fid(CA_CERTIFICATE_PREFIX, number),
            certificate.public_bytes(serialization.Encoding.DER),
        )
        try:
            self._hsm.write_file(fid(CD_PREFIX, number), encode_cd(description))
        except BaseException:
            self._best_effort_delete([fid(CD_PREFIX, number), fid(CA_CERTIFICATE_PREFIX, number)])
            raise
        return number

    def delete_ca_certificate(self, number: int) -> None:
        """Delete a CA certificate: the description ``C8xx`` first, then ``CAxx``."""
        self._delete_if_present(fid(CD_PREFIX, number))
        self._delete_if_present(fid(CA_CERTIFICATE_PREFIX, number))

    # --- deleting --------------------------------------------------------------------

    def delete_key(self, key_reference: int) -> None:
        """Delete a key with its certificate and description.

        Order: ``CExx``, ``C4xx`` (each only if present), then ``CCxx``.  Metadata goes
        first so that an interruption never leaves a description of a deleted key; the
        worst case is a key without description, which :meth:`list_keys` shows and this
        method deletes on a second try.  Orphaned metadata (no ``CCxx``) is removed too.

        :raises KeyNotFound: there is neither a key nor metadata with that reference.
        :raises KeyStoreError: the reference is the device key's.
        """
        if key_reference == DEVICE_KEY_REFERENCE:
            raise KeyStoreError("the device key (reference 0) cannot be deleted")
        if not 0 < key_reference <= MAX_KEY_REFERENCE:
            raise KeyNotFound(f"there is no key with reference {key_reference}")
        fids = set(self._hsm.enumerate_objects())
        files = [
            fid(EE_CERTIFICATE_PREFIX, key_reference),
            fid(PRKD_PREFIX, key_reference),
            fid(KEY_PREFIX, key_reference),
        ]
        present = [file for file in files if file in fids]
        if not present:
            raise KeyNotFound(f"there is no key with reference {key_reference}")
        for file in present:
            self._delete_if_present(file)

    # --- internals -------------------------------------------------------------------

    def _choose_reference(self, fids: set[int], requested: int | None) -> int:
        keys = numbers_of(fids, KEY_PREFIX)
        if requested is not None:
            if not 0 < requested <= MAX_KEY_REFERENCE:
                raise KeyStoreError(f"key references are 1 to 255, not {requested}")
            if requested in keys:
                raise KeyReferenceTaken(f"key reference {requested} already holds a key")
            return requested
        used = keys | numbers_of(fids, PRKD_PREFIX) | numbers_of(fids, EE_CERTIFICATE_PREFIX)
        for reference in range(1, MAX_KEY_REFERENCE + 1):
            if reference not in used:
                return reference
        raise NoFreeKeyReference("all key references 1 to 255 are in use")

    def _replace(self, file: int, data: bytes, fids: set[int] | None) -> None:
        """Write ``data`` as the whole content of ``file``, deleting an older file first.

        ``fids`` is the ENUMERATE answer; ``None`` means "not known" (try the delete).
        """
        if fids is None or file in fids:
            self._delete_if_present(file)
        self._hsm.write_file(file, data)

    def _delete_if_present(self, file: int) -> None:
        with contextlib.suppress(FileNotFound):
            self._hsm.delete_file(file)

    def _best_effort_delete(self, files: Iterable[int]) -> None:
        for file in files:
            try:
                self._hsm.delete_file(file)
            except CardError as error:
                logger.debug("cleanup: could not delete %04X: %s", file, error)

    def _discard_key(self, reference: int) -> None:
        """Undo a half-finished import or generation: metadata first, then the key."""
        self._best_effort_delete(
            [
                fid(EE_CERTIFICATE_PREFIX, reference),
                fid(PRKD_PREFIX, reference),
                fid(KEY_PREFIX, reference),
            ]
        )


# --- helpers -------------------------------------------------------------------------


def _as_secret_key(description: PrivateKeyDescription) -> PrivateKeyDescription:
    """The AES form as sc-hsm-embedded writes it: label, ID, usage and size only."""
    return PrivateKeyDescription(
        kind=KeyKind.AES,
        label=description.label,
        id=description.id,
        usage=description.usage,
        size=description.size,
        flags=description.flags,
        auth_id=description.auth_id,
    )


def _replace_fields(
    description: PrivateKeyDescription, *, subject: bytes, key_reference: int
) -> PrivateKeyDescription:
    if description.key_reference is not None:
        key_reference = description.key_reference
    return replace(description, key_reference=key_reference, subject=subject)
