"""The reading side of the key store: listing keys, CA certificates and data objects.

:class:`KeyListing` is a part of :class:`keymanager.card.keystore.KeyStore`; it only
reads (ENUMERATE and READ BINARY).  Files are found through
:class:`~keymanager.card.keystore_files.CardFiles`: a key's certificate ``CExx`` is
read where its PRKD ``C4xx`` is, a CA certificate where its description ``C8xx``
points, a data object where its ``C9xx`` points, whether ENUMERATE listed the file or
not (Pico HSM lists no certificate or data files); ``6A82`` means absent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography import x509

from keymanager.card.errors import MalformedResponse
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore_certificates import (
    TAG_CV_REQUEST,
    TAG_X509,
    PublicKeyFacts,
    load_certificate_file,
    parse_cv_request_public_key,
    public_key_facts,
)
from keymanager.card.keystore_files import CardFiles
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
)
from keymanager.card.pkcs15 import (
    CertificateDescription,
    KeyKind,
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

        ``CExx`` is read where the listing is not conclusive (Pico HSM) as well as where
        it lists the file, so a certificate or CV request is found on both; a file a
        conclusive listing does not show is never asked for.  Only what was read tells
        a certificate from a CV request (:attr:`KeyInfo.certificate_kind`).
        """
        files = CardFiles.enumerate(self._hsm)
        return [
            self._key_info(reference, files, load_certificate=load_certificates)
            for reference in self._key_references(files)
        ]

    @staticmethod
    def _key_references(files: CardFiles) -> list[int]:
        return sorted(
            number for number in files.numbers(KEY_PREFIX) if number != DEVICE_KEY_REFERENCE
        )

    def load_certificate(self, key: KeyInfo) -> KeyInfo:
        """``key`` with its ``CExx`` read: the certificate or CV request filled in.

        One READ (``6A82``: there is none).  Everything else about ``key`` is kept.
        """
        if key.certificate_loaded:
            return key
        certificate_fid = fid(EE_CERTIFICATE_PREFIX, key.key_reference)
        found = _read_certificate_file(CardFiles(self._hsm, {certificate_fid}), key.key_reference)
        mark = f"CE{key.key_reference:02X}"
        problems = [problem for problem in key.problems if mark not in problem]
        return replace(
            key,
            certificate=found.certificate,
            cv_request=found.cv_request,
            public_key=found.facts.public_key if found.facts is not None else key.public_key,
            kind=key.kind if key.kind is not None else (found.facts.kind if found.facts else None),
            size=key.size if key.size is not None else (found.facts.size if found.facts else None),
            problems=tuple(problems) + found.problems,
            has_certificate_file=found.present,
        )

    def list_ca_certificates(self) -> list[CaCertificateInfo]:
        """The CA certificates (``CAxx``) with their descriptions (``C8xx``).

        Each description's certificate is read where the description points (listed
        or not); a ``CAxx`` the listing shows without a description is listed too.
        """
        return self._ca_certificates(CardFiles.enumerate(self._hsm))

    def _ca_certificates(self, files: CardFiles) -> list[CaCertificateInfo]:
        result: list[CaCertificateInfo] = []
        pointed_at: set[int] = set()
        for number in sorted(files.numbers(CD_PREFIX)):
            info, target = self._ca_info(number, files)
            result.append(info)
            pointed_at.add(target)
        for number in sorted(files.numbers(CA_CERTIFICATE_PREFIX)):
            if fid(CA_CERTIFICATE_PREFIX, number) not in pointed_at:
                result.append(self._ca_info(number, files, described=False)[0])
        return sorted(result, key=lambda info: info.number)

    def list_data_objects(self) -> list[DataObjectInfo]:
        """The data objects: descriptions ``C9xx`` and undescribed ``CDxx`` / ``CFxx`` files.

        Only the descriptions are read, never the (possibly PIN-protected) contents;
        where the listing does not show data files, the file a description points at
        is looked for with a READ (a refused READ of a ``CDxx`` still shows it exists).
        """
        files = CardFiles.enumerate(self._hsm)
        result: list[DataObjectInfo] = []
        described: set[int] = set()
        for number in sorted(files.numbers(DCOD_PREFIX)):
            raw = files.read(fid(DCOD_PREFIX, number))
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
            problems: tuple[str, ...] = ()
            if target is not None:
                described.add(target)
                if not files.exists(target):
                    problems = (f"the data object file {target:04X} is missing",)
            result.append(
                DataObjectInfo(
                    number,
                    target,
                    description.label,
                    description.application,
                    description.private,
                    description,
                    problems,
                )
            )
        for prefix in (PROTECTED_DATA_PREFIX, DATA_PREFIX):
            for number in sorted(files.numbers(prefix)):
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
        files: CardFiles,
        *,
        load_certificate: bool = True,
    ) -> KeyInfo:
        problems: list[str] = []
        description: PrivateKeyDescription | None = None
        raw_prkd = files.read(fid(PRKD_PREFIX, reference))
        if raw_prkd is not None:
            try:
                description = decode_prkd(raw_prkd)
            except Pkcs15Error as error:
                problems.append(f"the key description C4{reference:02X} is unreadable: {error}")
        certificate_fid = fid(EE_CERTIFICATE_PREFIX, reference)
        subject_known = description is not None and bool(description.subject)
        if (
            description is not None
            and description.kind is KeyKind.AES
            and not files.known_present(certificate_fid)
        ):
            found = _CertificateFile(present=False)  # a secret key has no certificate
        elif load_certificate or not subject_known:
            found = _read_certificate_file(files, reference)
        else:
            # not read now: it is there if listed, or (a listing that hides certificate
            # files) as far as the description names a certificate
            found = _CertificateFile(
                present=files.known_present(certificate_fid)
                or not files.conclusive(certificate_fid)
            )
        problems.extend(found.problems)
        facts = found.facts
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
            certificate=found.certificate,
            cv_request=found.cv_request,
            public_key=facts.public_key if facts is not None else None,
            problems=tuple(problems),
            has_certificate_file=found.present,
        )

    def _ca_info(
        self, number: int, files: CardFiles, *, described: bool = True
    ) -> tuple[CaCertificateInfo, int]:
        problems: list[str] = []
        description: CertificateDescription | None = None
        certificate_fid = fid(CA_CERTIFICATE_PREFIX, number)
        raw_cd = files.read(fid(CD_PREFIX, number)) if described else None
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
        raw = files.read(certificate_fid)
        if raw is None:
            problems.append(f"the certificate file {certificate_fid:04X} is missing")
        else:
            try:
                certificate = load_certificate_file(raw)
            except MalformedResponse as error:
                problems.append(f"the certificate {certificate_fid:04X} is unreadable: {error}")
        info = CaCertificateInfo(
            number=number,
            label=description.label if description is not None else NO_DESCRIPTION_LABEL,
            id=description.id if description is not None else None,
            certificate=certificate,
            description=description,
            problems=tuple(problems),
        )
        return info, certificate_fid


@dataclass(frozen=True)
class _CertificateFile:
    """What a key's ``CExx`` holds (or, unread, whether it is there)."""

    present: bool
    certificate: x509.Certificate | None = None
    cv_request: bytes | None = None
    facts: PublicKeyFacts | None = None
    problems: tuple[str, ...] = ()


def _read_certificate_file(files: CardFiles, reference: int) -> _CertificateFile:
    """Read ``CExx`` (listed or not) and tell an X.509 certificate from a CV request."""
    raw = files.read(fid(EE_CERTIFICATE_PREFIX, reference))
    if raw is None:
        return _CertificateFile(present=False)
    if not raw:
        empty = f"the certificate file CE{reference:02X} is empty"
        return _CertificateFile(present=True, problems=(empty,))
    if raw[0] == TAG_X509:
        try:
            certificate = load_certificate_file(raw)
            facts = public_key_facts(certificate, None)
        except (ValueError, MalformedResponse) as error:
            return _CertificateFile(
                present=True,
                problems=(f"the certificate CE{reference:02X} is unreadable: {error}",),
            )
        return _CertificateFile(present=True, certificate=certificate, facts=facts)
    if raw[0] == TAG_CV_REQUEST:
        try:
            facts = parse_cv_request_public_key(raw)
        except MalformedResponse as error:
            return _CertificateFile(
                present=True,
                cv_request=raw,
                problems=(f"the CV request CE{reference:02X} is unreadable: {error}",),
            )
        return _CertificateFile(present=True, cv_request=raw, facts=facts)
    return _CertificateFile(
        present=True,
        problems=(f"CE{reference:02X} holds neither a certificate nor a CV request",),
    )
