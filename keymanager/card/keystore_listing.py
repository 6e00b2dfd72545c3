"""The reading side of the key store: listing keys, CA certificates and data objects.

:class:`KeyListing` is a part of :class:`keymanager.card.keystore.KeyStore`; it only
reads (ENUMERATE and READ BINARY).
"""

from __future__ import annotations

from cryptography import x509

from keymanager.card.errors import FileNotFound, MalformedResponse
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore_certificates import (
    TAG_CV_REQUEST,
    TAG_X509,
    PublicKeyFacts,
    load_certificate_file,
    parse_cv_request_public_key,
    public_key_facts,
)
from keymanager.card.keystore_types import (
    CA_CERTIFICATE_PREFIX,
    CD_PREFIX,
    DATA_PREFIX,
    DCOD_PREFIX,
    DEVICE_KEY_REFERENCE,
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    NO_DESCRIPTION_LABEL,
    PRKD_PREFIX,
    PROTECTED_DATA_PREFIX,
    CaCertificateInfo,
    DataObjectInfo,
    KeyInfo,
    fid,
    numbers_of,
)
from keymanager.card.pkcs15 import (
    CertificateDescription,
    Pkcs15Error,
    PrivateKeyDescription,
    decode_cd,
    decode_dcod,
    decode_prkd,
)


class KeyListing:
    """Listing and reading: keys with their metadata, CA certificates, data objects."""

    _hsm: SmartCardHsm

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
            number for number in numbers_of(fids, KEY_PREFIX) if number != DEVICE_KEY_REFERENCE
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
        numbers = sorted(numbers_of(fids, CD_PREFIX) | numbers_of(fids, CA_CERTIFICATE_PREFIX))
        return [self._ca_info(number, fids) for number in numbers]

    def list_data_objects(self) -> list[DataObjectInfo]:
        """The data objects: descriptions ``C9xx`` and undescribed ``CDxx`` / ``CFxx`` files.

        Only the descriptions are read, never the (possibly PIN-protected) contents.
        """
        fids = set(self._hsm.enumerate_objects())
        result: list[DataObjectInfo] = []
        described: set[int] = set()
        for number in sorted(numbers_of(fids, DCOD_PREFIX)):
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
            for number in sorted(numbers_of(fids, prefix)):
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
            if raw_ce[0] == TAG_X509:
                try:
                    certificate = load_certificate_file(raw_ce)
                    facts = public_key_facts(certificate, None)
                except (ValueError, MalformedResponse) as error:
                    certificate = None
                    problems.append(f"the certificate CE{reference:02X} is unreadable: {error}")
            elif raw_ce[0] == TAG_CV_REQUEST:
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
