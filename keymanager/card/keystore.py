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
import hashlib
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.errors import CardError, FileNotFound, MalformedResponse
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import KeySpec
from keymanager.card.pkcs15 import (
    GENERATED_KEY_ACCESS,
    AccessFlags,
    CertificateDescription,
    DataObjectDescription,
    KeyKind,
    KeyUsage,
    Pkcs15Error,
    PrivateKeyDescription,
    decode_cd,
    decode_dcod,
    decode_oid,
    decode_prkd,
    default_usage,
    encode_cd,
    encode_prkd,
    key_id_for_public_key,
    key_kind_and_size,
)
from keymanager.dkek.curves import SUPPORTED_CURVES, CurveParameters
from keymanager.dkek.keyblob import KeyType, describe_blob
from keymanager.dkek.tlv import TlvError, iter_tlvs, read_tlv

logger = logging.getLogger(__name__)

KEY_PREFIX = 0xCC
PRKD_PREFIX = 0xC4
EE_CERTIFICATE_PREFIX = 0xCE
CD_PREFIX = 0xC8
CA_CERTIFICATE_PREFIX = 0xCA
DCOD_PREFIX = 0xC9
PROTECTED_DATA_PREFIX = 0xCD
DATA_PREFIX = 0xCF

DEVICE_KEY_REFERENCE = 0
MAX_KEY_REFERENCE = 0xFF
NO_DESCRIPTION_LABEL = "(no description)"
"""Label shown for a key whose ``C4xx`` is missing (OpenSC's PKCS#11 does not show it)."""

IMPORTED_KEY_ACCESS = AccessFlags.SENSITIVE
"""Access flags written for an unwrapped key: sensitive, but neither local nor
always-sensitive / never-extractable, since it existed outside the card."""

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_TAG_X509 = 0x30
_TAG_CV_REQUEST = 0x67


def fid(prefix: int, number: int) -> int:
    """The file identifier ``prefix ‖ number``."""
    return prefix << 8 | number


class KeyStoreError(CardError):
    """A key-store operation cannot be done as asked; the message says why."""


class KeyReferenceTaken(KeyStoreError):
    """The requested key reference already holds a key."""


class NoFreeKeyReference(KeyStoreError):
    """All key references 1 to 255 (or all CA certificate numbers) are in use."""


class KeyNotFound(KeyStoreError):
    """There is no key with that reference."""


# --- what the store reports ----------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """One key on the card and what its metadata says about it.

    :param described: whether the key has a readable PRKD; keys without one get the
        label :data:`NO_DESCRIPTION_LABEL` and are invisible to OpenSC's PKCS#11.
    :param certificate: the X.509 certificate from ``CExx``, if it holds one.
    :param cv_request: the card's CV request from ``CExx`` (after on-card generation).
    :param allowed_algorithms: known only right after an import (from the blob header)
        or a generation; the card does not tell them later.
    :param problems: readable descriptions of metadata that could not be decoded.
    :param has_certificate_file: whether ``CExx`` exists (certificate or CV request);
        when the listing did not read it, :meth:`KeyStore.load_certificate` does.
    :param key_domain: the key domain the key belongs to, as far as known: the card
        does not report it, so it comes from keymanager's key-domain registry
        (:mod:`keymanager.card.domain_registry`) or a WRAP probe.
    :param domain_source: how :attr:`key_domain` was learnt: ``"recorded"`` (the
        registry), ``"probed"`` (a WRAP probe) or ``"unknown"``.
    :param exportable: ``False`` when the key is sealed (its allowed-algorithm list
        lacks WRAP, so the card refuses to export it), ``True`` when it may be
        exported, ``None`` when not known.
    """

    key_reference: int
    label: str
    id: bytes | None
    kind: KeyKind | None
    size: int | None
    usage: KeyUsage | None
    described: bool
    description: PrivateKeyDescription | None = None
    certificate: x509.Certificate | None = None
    cv_request: bytes | None = None
    public_key: PublicKey | None = None
    allowed_algorithms: bytes | None = None
    key_domain: int | None = None
    problems: tuple[str, ...] = field(default=())
    has_certificate_file: bool = False
    domain_source: str = "unknown"
    exportable: bool | None = None

    @property
    def certificate_subject(self) -> str | None:
        """The certificate's subject (RFC 4514), from the certificate or the PRKD."""
        if self.certificate is not None:
            return self.certificate.subject.rfc4514_string()
        if self.description is not None and self.description.subject:
            return name_to_text(self.description.subject)
        return None

    @property
    def certificate_loaded(self) -> bool:
        """Whether ``CExx`` was read (so :attr:`certificate` and :attr:`cv_request` are final)."""
        return (
            self.certificate is not None
            or self.cv_request is not None
            or not (self.has_certificate_file)
        )


@dataclass(frozen=True)
class CaCertificateInfo:
    """A CA certificate in ``CAxx`` and its description in ``C8xx``."""

    number: int
    label: str
    id: bytes | None
    certificate: x509.Certificate | None
    description: CertificateDescription | None
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DataObjectInfo:
    """A data object (``CDxx`` private or ``CFxx`` public) and its description ``C9xx``."""

    number: int
    fid: int | None
    label: str
    application: str
    private: bool
    description: DataObjectDescription | None
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PublicKeyFacts:
    """What a public key tells the PRKD: kind, size in bits and OpenSC's ID.

    ``public_key`` is ``None`` for an EC key on a curve :mod:`cryptography` lacks.
    """

    kind: KeyKind
    size: int
    key_id: bytes
    public_key: PublicKey | None


def name_to_text(der_name: bytes) -> str | None:
    """An X.501 ``Name`` in DER as RFC 4514 text; ``None`` if it cannot be read."""
    try:
        attributes: list[x509.RelativeDistinguishedName] = []
        for rdn in iter_tlvs(read_tlv(der_name).value):
            members = []
            for pair in iter_tlvs(rdn.value):
                oid_tlv = read_tlv(pair.value)
                value_tlv = read_tlv(pair.value, oid_tlv.next_offset)
                tag = value_tlv.tag[0]
                if tag == 0x1E:  # BMPString
                    text = value_tlv.value.decode("utf-16-be")
                elif tag == 0x0C:  # UTF8String
                    text = value_tlv.value.decode("utf-8")
                else:  # Printable, IA5, Teletex, Numeric...: read as Latin-1
                    text = value_tlv.value.decode("latin-1")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    members.append(
                        x509.NameAttribute(x509.ObjectIdentifier(decode_oid(oid_tlv.value)), text)
                    )
            attributes.append(x509.RelativeDistinguishedName(members))
        return x509.Name(attributes).rfc4514_string()
    except (TlvError, ValueError, UnicodeDecodeError):
        return None


# --- the store -----------------------------------------------------------------------


class KeyStore:
    """Keys, certificates and data objects of one card session."""

    def __init__(self, hsm: SmartCardHsm) -> None:
        self._hsm = hsm

    # --- listing ---------------------------------------------------------------------

    def list_keys(self, *, load_certificates: bool = False) -> list[KeyInfo]:
        """Every key except the device key, with label, ID, size and certificate subject.

        One ENUMERATE, then one READ of each ``C4xx``.  The certificate file ``CExx``
        is read only when the PRKD does not name the certificate's subject (OpenSC and
        this store write it there when a certificate is stored), or when
        ``load_certificates`` asks for every certificate; otherwise
        :meth:`load_certificate` fetches it when somebody looks at it.  A card of keys
        with certificates therefore lists in one APDU per key plus a constant.
        """
        fids = set(self._hsm.enumerate_objects())
        references = sorted(
            number for number in _numbers(fids, KEY_PREFIX) if number != DEVICE_KEY_REFERENCE
        )
        return [
            self._key_info(reference, fids, load_certificate=load_certificates)
            for reference in references
        ]

    def load_certificate(self, key: KeyInfo) -> KeyInfo:
        """``key`` with its ``CExx`` read: the certificate or CV request filled in."""
        if key.certificate_loaded:
            return key
        fids = {
            fid(KEY_PREFIX, key.key_reference),
            fid(EE_CERTIFICATE_PREFIX, key.key_reference),
        }
        if key.description is not None:
            fids.add(fid(PRKD_PREFIX, key.key_reference))
        return self._key_info(
            key.key_reference, fids, load_certificate=True, description=key.description
        )

    def list_ca_certificates(self) -> list[CaCertificateInfo]:
        """The CA certificates (``CAxx``) with their descriptions (``C8xx``)."""
        fids = set(self._hsm.enumerate_objects())
        numbers = sorted(_numbers(fids, CD_PREFIX) | _numbers(fids, CA_CERTIFICATE_PREFIX))
        return [self._ca_info(number, fids) for number in numbers]

    def list_data_objects(self) -> list[DataObjectInfo]:
        """The data objects: descriptions ``C9xx`` and undescribed ``CDxx`` / ``CFxx`` files.

        Only the descriptions are read, never the (possibly PIN-protected) contents.
        """
        fids = set(self._hsm.enumerate_objects())
        result: list[DataObjectInfo] = []
        described: set[int] = set()
        for number in sorted(_numbers(fids, DCOD_PREFIX)):
            raw = self._read_optional(fid(DCOD_PREFIX, number), fids)
            if raw is None:
                continue
            try:
                description = decode_dcod(raw)
            except Pkcs15Error as error:
                result.append(
                    DataObjectInfo(
                        number,
                        None,
                        NO_DESCRIPTION_LABEL,
                        "",
                        False,
                        None,
                        (f"the data object description C9{number:02X} is unreadable: {error}",),
                    )
                )
                continue
            target = (
                int.from_bytes(description.path[-2:], "big") if len(description.path) >= 2 else None
            )
            if target is not None:
                described.add(target)
            result.append(
                DataObjectInfo(
                    number,
                    target,
                    description.label,
                    description.application,
                    description.private,
                    description,
                )
            )
        for prefix in (PROTECTED_DATA_PREFIX, DATA_PREFIX):
            for number in sorted(_numbers(fids, prefix)):
                if fid(prefix, number) in described:
                    continue
                result.append(
                    DataObjectInfo(
                        number,
                        fid(prefix, number),
                        NO_DESCRIPTION_LABEL,
                        "",
                        prefix == PROTECTED_DATA_PREFIX,
                        None,
                        ("the data object has no description (C9xx)",),
                    )
                )
        return result

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
        facts = _public_key_facts(certificate, public_key)
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
        facts = _public_key_facts(certificate, None)
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
        taken = _numbers(fids, CA_CERTIFICATE_PREFIX) | _numbers(fids, CD_PREFIX)
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
        keys = _numbers(fids, KEY_PREFIX)
        if requested is not None:
            if not 0 < requested <= MAX_KEY_REFERENCE:
                raise KeyStoreError(f"key references are 1 to 255, not {requested}")
            if requested in keys:
                raise KeyReferenceTaken(f"key reference {requested} already holds a key")
            return requested
        used = keys | _numbers(fids, PRKD_PREFIX) | _numbers(fids, EE_CERTIFICATE_PREFIX)
        for reference in range(1, MAX_KEY_REFERENCE + 1):
            if reference not in used:
                return reference
        raise NoFreeKeyReference("all key references 1 to 255 are in use")

    def _key_info(
        self,
        reference: int,
        fids: set[int],
        *,
        load_certificate: bool = True,
        description: PrivateKeyDescription | None = None,
    ) -> KeyInfo:
        problems: list[str] = []
        raw_prkd: bytes | None = b"" if description is not None else None
        if description is None:
            raw_prkd = self._read_optional(fid(PRKD_PREFIX, reference), fids)
            if raw_prkd is not None:
                try:
                    description = decode_prkd(raw_prkd)
                except Pkcs15Error as error:
                    problems.append(f"the key description C4{reference:02X} is unreadable: {error}")
        certificate: x509.Certificate | None = None
        cv_request: bytes | None = None
        facts: PublicKeyFacts | None = None
        certificate_fid = fid(EE_CERTIFICATE_PREFIX, reference)
        has_certificate_file = certificate_fid in fids
        subject_known = description is not None and bool(description.subject)
        raw_ce = (
            self._read_optional(certificate_fid, fids)
            if load_certificate or not subject_known
            else None
        )
        if raw_ce:
            if raw_ce[0] == _TAG_X509:
                try:
                    certificate = load_certificate_file(raw_ce)
                    facts = _public_key_facts(certificate, None)
                except (ValueError, MalformedResponse) as error:
                    certificate = None
                    problems.append(f"the certificate CE{reference:02X} is unreadable: {error}")
            elif raw_ce[0] == _TAG_CV_REQUEST:
                cv_request = raw_ce
                try:
                    facts = parse_cv_request_public_key(raw_ce)
                except MalformedResponse as error:
                    problems.append(f"the CV request CE{reference:02X} is unreadable: {error}")
            else:
                problems.append(f"CE{reference:02X} holds neither a certificate nor a CV request")
        if description is None and raw_prkd is None:
            problems.append("the key has no description (C4xx): OpenSC does not show it")
        return KeyInfo(
            key_reference=reference,
            label=description.label if description is not None else NO_DESCRIPTION_LABEL,
            id=description.id if description is not None else None,
            kind=description.kind if description else (facts.kind if facts else None),
            size=description.size if description else (facts.size if facts else None),
            usage=description.usage if description is not None else None,
            described=description is not None,
            description=description,
            certificate=certificate,
            cv_request=cv_request,
            public_key=facts.public_key if facts is not None else None,
            problems=tuple(problems),
            has_certificate_file=has_certificate_file,
        )

    def _ca_info(self, number: int, fids: set[int]) -> CaCertificateInfo:
        problems: list[str] = []
        description: CertificateDescription | None = None
        certificate_fid = fid(CA_CERTIFICATE_PREFIX, number)
        raw_cd = self._read_optional(fid(CD_PREFIX, number), fids)
        if raw_cd is not None:
            try:
                description = decode_cd(raw_cd)
                if len(description.path) >= 2:
                    certificate_fid = int.from_bytes(description.path[-2:], "big")
            except Pkcs15Error as error:
                problems.append(
                    f"the certificate description C8{number:02X} is unreadable: {error}"
                )
        else:
            problems.append("the certificate has no description (C8xx)")
        certificate: x509.Certificate | None = None
        raw = self._read_optional(certificate_fid, fids)
        if raw is None:
            problems.append(f"the certificate file {certificate_fid:04X} is missing")
        else:
            try:
                certificate = load_certificate_file(raw)
            except MalformedResponse as error:
                problems.append(f"the certificate {certificate_fid:04X} is unreadable: {error}")
        return CaCertificateInfo(
            number=number,
            label=description.label if description is not None else NO_DESCRIPTION_LABEL,
            id=description.id if description is not None else None,
            certificate=certificate,
            description=description,
            problems=tuple(problems),
        )

    def _read_optional(self, file: int, fids: set[int]) -> bytes | None:
        """Read a file that ENUMERATE listed; ``None`` if it is not there (any more)."""
        if file not in fids:
            return None
        try:
            return self._hsm.read_file(file)
        except FileNotFound:
            return None

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


def _numbers(fids: Iterable[int], prefix: int) -> set[int]:
    return {file & 0xFF for file in fids if file >> 8 == prefix}


def blob_key_kind(key_type: KeyType) -> KeyKind:
    """The PKCS#15 key kind of a key blob's type."""
    if key_type in (KeyType.RSA, KeyType.RSA_CRT):
        return KeyKind.RSA
    if key_type is KeyType.EC:
        return KeyKind.EC
    return KeyKind.AES


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


def ca_certificate_id(certificate: x509.Certificate) -> bytes:
    """The PKCS#15 ID of a CA certificate: OpenSC's key ID for RSA and EC keys, else
    SHA-1 of the DER SubjectPublicKeyInfo (CA keys may be of types the card cannot hold)."""
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key_id_for_public_key(public)
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(spki, usedforsecurity=False).digest()


def load_certificate_file(data: bytes) -> x509.Certificate:
    """The X.509 certificate at the start of a certificate file, fully decoded.

    :mod:`cryptography` decodes some fields only when they are used (the public key,
    the names), so a damaged certificate would fail later, somewhere in the GUI.
    Everything the key manager shows is decoded here once (extensions are not shown,
    and a real card's certificate with an odd extension stays readable).

    :raises MalformedResponse: not a certificate, or a part of it does not decode
        (including a key of an algorithm or curve :mod:`cryptography` does not know).
    """
    try:
        certificate = x509.load_der_x509_certificate(_first_element(data))
        certificate.public_key()
        certificate.subject.rfc4514_string()
        certificate.issuer.rfc4514_string()
        _ = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
        _ = certificate.serial_number
    except (ValueError, UnsupportedAlgorithm, TypeError) as error:
        raise MalformedResponse(f"not a readable X.509 certificate: {error}") from None
    return certificate


def _first_element(data: bytes) -> bytes:
    """The first complete TLV of a file (a certificate EF may be longer than its content)."""
    try:
        return bytes(data[: read_tlv(data).next_offset])
    except TlvError as error:
        raise MalformedResponse(f"not a well-formed TLV: {error}") from None


def _public_key_facts(
    certificate: x509.Certificate | None, public_key: PublicKey | None
) -> PublicKeyFacts | None:
    if certificate is not None:
        from_certificate = certificate.public_key()
        if not isinstance(from_certificate, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError(f"a SmartCard-HSM cannot hold {type(from_certificate).__name__} keys")
        if public_key is not None and from_certificate.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ValueError("the public key does not match the certificate")
        public_key = from_certificate
    if public_key is None:
        return None
    kind, size = key_kind_and_size(public_key)
    return PublicKeyFacts(kind, size, key_id_for_public_key(public_key), public_key)


# --- the public key in a CV request ----------------------------------------------------


def parse_cv_request_public_key(data: bytes) -> PublicKeyFacts:
    """Kind, size, OpenSC ID and public key from a CV request or CV certificate.

    Accepts ``67 { 7F21 … }`` (authenticated request, what GENERATE returns) or a bare
    ``7F21``.  RSA keys carry ``81`` modulus and ``82`` exponent; EC keys the point in
    ``86`` and usually the domain parameters (``81`` prime …).

    :raises MalformedResponse: the structure or the key is not as expected.
    """
    try:
        element = read_tlv(data)
        if element.tag == b"\x67":
            element = read_tlv(element.value)
        if element.tag != b"\x7f\x21":
            raise MalformedResponse("the CV request has no certificate (7F21)")
        body = _find(element.value, b"\x7f\x4e", "certificate body (7F4E)")
        template = _find(body, b"\x7f\x49", "public key (7F49)")
        fields = {child.tag: child.value for child in iter_tlvs(template)}
    except TlvError as error:
        raise MalformedResponse(f"the CV request is malformed: {error}") from None
    point = fields.get(b"\x86")
    if point is not None:
        return _ec_facts(point, fields)
    modulus = fields.get(b"\x81")
    exponent = fields.get(b"\x82")
    if not modulus or not exponent:
        raise MalformedResponse("the CV request's public key has neither a point nor a modulus")
    numbers = rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big"))
    try:
        public = numbers.public_key()
    except ValueError as error:
        raise MalformedResponse(f"the CV request's RSA key is invalid: {error}") from None
    return PublicKeyFacts(KeyKind.RSA, public.key_size, key_id_for_public_key(public), public)


def _find(data: bytes, tag: bytes, what: str) -> bytes:
    for child in iter_tlvs(data):
        if child.tag == tag:
            return child.value
    raise MalformedResponse(f"the CV request has no {what}")


def _ec_facts(point: bytes, fields: dict[bytes, bytes]) -> PublicKeyFacts:
    if len(point) < 3 or point[0] != 0x04 or len(point) % 2 == 0:
        raise MalformedResponse("the CV request's EC point is not an uncompressed point")
    width = (len(point) - 1) // 2
    curve = _curve_for(width, fields.get(b"\x81"), fields.get(b"\x82"))
    key_id = hashlib.sha1(point[1 : 1 + width], usedforsecurity=False).digest()
    size = curve.field_bits if curve is not None else (521 if width == 66 else width * 8)
    public: ec.EllipticCurvePublicKey | None = None
    if curve is not None and curve.cryptography_curve is not None:
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(curve.cryptography_curve(), point)
        except ValueError as error:
            raise MalformedResponse(f"the CV request's EC point is invalid: {error}") from None
    return PublicKeyFacts(KeyKind.EC, size, key_id, public)


def _curve_for(width: int, prime: bytes | None, a: bytes | None) -> CurveParameters | None:
    """The curve of a CV public key; ``None`` when the template does not pin it down
    (the size is still right: it only depends on the field width)."""
    matches = [curve for curve in SUPPORTED_CURVES if curve.field_bytes == width]
    if prime:
        matches = [curve for curve in matches if curve.p == int.from_bytes(prime, "big")]
    if a:
        matches = [curve for curve in matches if curve.a == int.from_bytes(a, "big")]
    return matches[0] if len(matches) == 1 else None
