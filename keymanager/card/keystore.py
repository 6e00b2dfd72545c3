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

Listing keys costs one ENUMERATE plus one READ for each ``C4xx`` and for each
``CExx`` that is needed (files a conclusive ENUMERATE answer does not show are not
read).  OpenSC's emulator needs about eight APDUs per key for the same (SELECT and READ
for each file, plus FCPs).

Where ENUMERATE hides certificate and data files (Pico HSM), they are read where the
descriptions point, deleted by trying, and a new file is written only after a READ
answered ``6A82`` (:mod:`keymanager.card.keystore_files`).  The parts: listing in
:mod:`~keymanager.card.keystore_listing`, finding files and free numbers in
:mod:`~keymanager.card.keystore_files`, certificate contents in
:mod:`~keymanager.card.keystore_certificates`, the reported data in
:mod:`~keymanager.card.keystore_types`; this module writes and deletes.

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

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keymanager.card.errors import CardError
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
from keymanager.card.keystore_files import CardFiles, FileInUse
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
    CertificateKind,
    DataObjectInfo,
    KeyInfo,
    KeyNotFound,
    KeyReferenceTaken,
    KeyStoreError,
    NoFreeKeyReference,
    blob_key_kind,
    fid,
)
from keymanager.card.pkcs15 import (
    GENERATED_KEY_ACCESS,
    CertificateDescription,
    KeyKind,
    KeyUsage,
    Pkcs15Error,
    PrivateKeyDescription,
    decode_cd,
    decode_prkd,
    default_usage,
    encode_cd,
    encode_prkd,
)

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
    "CardFiles",
    "CertificateKind",
    "DataObjectInfo",
    "FileInUse",
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
        from keymanager.dkek.keyblob import describe_blob  # not needed to list keys

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

        files = self.files()
        reference = files.choose_key_reference(key_reference)
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
        files.learn(fid(KEY_PREFIX, reference), present=True)
        try:
            files.replace(fid(PRKD_PREFIX, reference), prkd)
            ce = fid(EE_CERTIFICATE_PREFIX, reference)
            if certificate_der is not None:
                files.replace(ce, certificate_der)
            else:
                files.delete(ce)  # a stale certificate of an earlier key
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
        holder: bytes | None = None,
        car_is_holder: bool = False,
    ) -> KeyInfo:
        """Generate a key pair on the card and describe it as OpenSC does.

        GENERATE ASYMMETRIC KEY PAIR, then ``CExx`` := the CV request (replacing what
        was there), then the PRKD with the ID computed from the public key in the
        request and the access flags of an on-card key (``03 02 03 B8``).

        ``holder`` and ``car_is_holder`` go to
        :meth:`~keymanager.card.hsm.SmartCardHsm.generate_key_pair` (the CHR of the CV
        request, and the CHR as its CAR too: a custodian key).
        """
        files = self.files()
        reference = files.choose_key_reference(key_reference)
        request = self._hsm.generate_key_pair(
            reference,
            spec,
            allowed_algorithms=allowed_algorithms,
            key_domain=key_domain,
            use_counter=use_counter,
            holder=holder,
            car_is_holder=car_is_holder,
        )
        try:
            facts = parse_cv_request_public_key(request)
            # some cards write the CV request themselves: the delete is always tried
            files.forget(fid(EE_CERTIFICATE_PREFIX, reference))
            files.replace(fid(EE_CERTIFICATE_PREFIX, reference), request)
            description = PrivateKeyDescription(
                kind=facts.kind,
                label=label,
                id=facts.key_id if key_id is None else key_id,
                usage=default_usage(facts.kind) if usage is None else usage,
                size=facts.size,
                key_reference=reference,
                access_flags=GENERATED_KEY_ACCESS,
            )
            files.replace(fid(PRKD_PREFIX, reference), encode_prkd(description))
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
        files = self.files()
        if (
            not files.known_present(fid(KEY_PREFIX, key_reference))
            or key_reference == DEVICE_KEY_REFERENCE
        ):
            raise KeyNotFound(f"there is no key with reference {key_reference}")
        facts = public_key_facts(certificate, None)
        assert facts is not None
        raw = files.read(fid(PRKD_PREFIX, key_reference))
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
        files.replace(
            fid(EE_CERTIFICATE_PREFIX, key_reference),
            certificate.public_bytes(serialization.Encoding.DER),
        )
        subject = certificate.subject.public_bytes()
        if description is not None and description.subject != subject:
            updated = _replace_fields(description, subject=subject, key_reference=key_reference)
            files.replace(fid(PRKD_PREFIX, key_reference), encode_prkd(updated))

    def store_ca_certificate(
        self, certificate: x509.Certificate, label: str, *, number: int | None = None
    ) -> int:
        """Store a CA certificate in the first free ``CAxx`` and describe it in ``C8xx``.

        Free means neither ``C8xx`` nor ``CAxx`` exists and no description points at
        ``CAxx`` (see :meth:`free_ca_number`); both files are written only after the
        card said they are absent (a READ answering ``6A82`` where ENUMERATE may hide
        them).

        :param number: the number :meth:`free_ca_number` gave (``None``: choose now).
        :returns: the number ``xx``.
        :raises NoFreeKeyReference: all 256 numbers are taken.
        :raises FileInUse: ``number`` is not free after all; nothing was written.
        """
        files = self.files()
        if number is None:
            number = self._free_ca_number(files)
        description = CertificateDescription(
            label=label,
            id=ca_certificate_id(certificate),
            path=fid(CA_CERTIFICATE_PREFIX, number).to_bytes(2, "big"),
            authority=True,
        )
        if files.exists(fid(CD_PREFIX, number)):
            raise FileInUse(f"the CA description C8{number:02X} already exists")
        files.write_new(
            fid(CA_CERTIFICATE_PREFIX, number),
            certificate.public_bytes(serialization.Encoding.DER),
        )
        try:
            files.write_new(fid(CD_PREFIX, number), encode_cd(description))
        except BaseException:
            self._best_effort_delete([fid(CA_CERTIFICATE_PREFIX, number)])
            raise
        return number

    def free_ca_number(self) -> int:
        """The number :meth:`store_ca_certificate` would take now.

        From ENUMERATE and, where it hides ``CA`` files, from what the descriptions
        ``C8xx`` point at and a READ of the candidate (``6A82`` expected).

        :raises NoFreeKeyReference: all 256 numbers are taken.
        """
        return self._free_ca_number(self.files())

    def _free_ca_number(self, files: CardFiles) -> int:
        described: set[int] = set()
        if not files.conclusive(fid(CA_CERTIFICATE_PREFIX, 0)):
            for number in sorted(files.numbers(CD_PREFIX)):
                raw = files.read(fid(CD_PREFIX, number))
                try:
                    path = decode_cd(raw).path if raw is not None else b""
                except Pkcs15Error:
                    path = b""
                target = int.from_bytes(path[-2:], "big") if len(path) >= 2 else None
                if target is not None and target >> 8 == CA_CERTIFICATE_PREFIX:
                    described.add(target & 0xFF)
        return files.choose_ca_number(described)

    def free_key_reference(self, requested: int | None = None) -> int:
        """The reference an import or generation would take now (see
        :meth:`CardFiles.choose_key_reference`)."""
        return self.files().choose_key_reference(requested)

    def delete_ca_certificate(self, number: int) -> list[int]:
        """Delete a CA certificate: the description ``C8xx`` first, then ``CAxx``.

        :returns: the files that were deleted.
        """
        files = self.files()
        return [
            file
            for file in (fid(CD_PREFIX, number), fid(CA_CERTIFICATE_PREFIX, number))
            if files.delete(file)
        ]

    # --- deleting --------------------------------------------------------------------

    def delete_key(self, key_reference: int) -> list[int]:
        """Delete a key with its certificate and description.

        Order: ``CExx``, ``C4xx``, then ``CCxx``.  Metadata goes first so that an
        interruption never leaves a description of a deleted key; the worst case is a
        key without description, which :meth:`list_keys` shows and this method deletes
        on a second try.  Orphaned metadata (no ``CCxx``) is removed too.  A file
        ENUMERATE may hide (``CExx`` on Pico HSM) is deleted by trying: ``6A82`` means
        there was none.

        :returns: the files that were deleted, in that order.
        :raises KeyNotFound: there is neither a key nor metadata with that reference.
        :raises KeyStoreError: the reference is the device key's.
        """
        if key_reference == DEVICE_KEY_REFERENCE:
            raise KeyStoreError("the device key (reference 0) cannot be deleted")
        if not 0 < key_reference <= MAX_KEY_REFERENCE:
            raise KeyNotFound(f"there is no key with reference {key_reference}")
        files = self.files()
        removed = [
            file
            for file in (
                fid(EE_CERTIFICATE_PREFIX, key_reference),
                fid(PRKD_PREFIX, key_reference),
                fid(KEY_PREFIX, key_reference),
            )
            if files.delete(file)
        ]
        if not removed:
            raise KeyNotFound(f"there is no key with reference {key_reference}")
        return removed

    # --- internals -------------------------------------------------------------------

    def files(self) -> CardFiles:
        """A fresh view of the card's files (one ENUMERATE)."""
        return CardFiles.enumerate(self._hsm)

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
