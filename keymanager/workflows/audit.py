"""The audit report: per key domain its KCV (or "hidden"), share counts and keys.

Which domain a key belongs to is stored on the card only as part of the key (tag
``92`` at generation, or the DKEK a blob was unwrapped under); no READ, status query
or PKCS#15 file tells it.  The report therefore finds it one of two ways:

* keys generated in this session carry it (:class:`~keymanager.card.keystore.KeyInfo`
  ``key_domain``), which an audit normally does not see;
* with ``probe_wrap=True`` and the user PIN verified, each key is wrapped (WRAP KEY)
  and the KCV at the head of the blob names the domain whose KCV it equals; the blob
  itself, encrypted under the DKEK, is dropped at once.  A key the card will not wrap
  belongs to no complete domain (or to none at all).

Without probing, keys are listed under "domain unknown" and the report says so.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from keymanager.card.cvc import unreadable_identity_text
from keymanager.card.errors import ApduError, CardError, NoKeyDomainSupport, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import CertificateKind, KeyInfo, KeyStore
from keymanager.dkek.dkek import KCV_LENGTH, format_kcv
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.interaction import Interaction


@dataclass(frozen=True)
class AuditedKey:
    """One key of the report."""

    key_reference: int
    label: str
    kind: str | None
    size: int | None
    key_id: str | None
    certificate: str | None
    """The X.509 certificate's subject, if ``CExx`` holds one."""
    domain: int | None
    domain_source: str
    """``"card"`` (known from generation), ``"wrap"`` (blob KCV), ``"not wrappable"``
    or ``"unknown"``."""
    cv_request: bool = False
    """``CExx`` holds the card's CV request (from generation), not a certificate."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "type": self.kind,
            "size": self.size,
            "id": self.key_id,
            "certificate": self.certificate,
            "cv_request": self.cv_request,
            "domain": self.domain,
            "domain_source": self.domain_source,
        }


@dataclass(frozen=True)
class AuditedDomain:
    """One key-domain slot of the report."""

    number: int
    state: str
    """``"empty"``, ``"DKEK"`` or ``"XKEK"``."""
    shares_total: int = 0
    shares_outstanding: int = 0
    kcv: str | None = None
    kcv_hidden: bool = False
    keys: tuple[AuditedKey, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.number,
            "state": self.state,
            "shares_total": self.shares_total,
            "shares_outstanding": self.shares_outstanding,
            "kcv": self.kcv,
            "kcv_hidden": self.kcv_hidden,
            "keys": [key.to_dict() for key in self.keys],
        }


@dataclass(frozen=True)
class AuditReport:
    """The audit of one device."""

    serial: str | None
    reader: str
    version: str
    pin: str
    so_pin: str
    domains: tuple[AuditedDomain, ...]
    other_keys: tuple[AuditedKey, ...]
    """Keys whose domain is unknown or that belong to none."""
    domains_probed: bool
    device: str = "unknown"
    """The device identity (``DeviceIdentity.text``: the words status and the GUI use)."""
    created: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "reader": self.reader,
            "version": self.version,
            "device": self.device,
            "pin": self.pin,
            "so_pin": self.so_pin,
            "created": self.created,
            "domains_probed": self.domains_probed,
            "key_domains": [domain.to_dict() for domain in self.domains],
            "other_keys": [key.to_dict() for key in self.other_keys],
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """The report as plain text for people."""
        lines = [
            f"Audit of SmartCard-HSM {self.serial or '(serial unknown)'} in {self.reader!r}",
            f"Created         : {self.created}",
            f"Version         : {self.version}",
            f"Device          : {self.device}",
            f"User PIN        : {self.pin}",
            f"SO-PIN          : {self.so_pin}",
        ]
        if not self.domains:
            lines.append("Key domains     : none (no DKEK)")
        for domain in self.domains:
            if domain.state == "empty":
                lines.append(f"Key domain {domain.number}: empty")
                continue
            if domain.shares_outstanding:
                kcv = "pending (shares outstanding)"
            elif domain.kcv_hidden:
                kcv = "hidden until the PIN is verified"
            else:
                kcv = domain.kcv or "-"
            lines.append(
                f"Key domain {domain.number}: {domain.state}, {domain.shares_total} share(s), "
                f"{domain.shares_outstanding} outstanding, KCV {kcv}"
            )
            lines.extend(_key_line(key) for key in domain.keys)
        if self.other_keys:
            heading = (
                "Keys in no complete key domain:"
                if self.domains_probed
                else "Keys (domain unknown: the card does not tell it; audit --probe-domains "
                "finds it by wrapping each key):"
            )
            lines.append(heading)
            lines.extend(_key_line(key) for key in self.other_keys)
        elif not any(domain.keys for domain in self.domains):
            lines.append("No keys.")
        return "\n".join(lines) + "\n"


def _key_line(key: AuditedKey) -> str:
    what = f"{key.kind} {key.size}" if key.kind else "unknown type"
    cert = f", certificate {key.certificate}" if key.certificate else ""
    if key.cv_request:
        cert = ", CV request (no certificate)"
    return f"    [{key.key_reference:3d}] {key.label} ({what}, ID {key.key_id or '-'}{cert})"


def _audited(key: KeyInfo, domain: int | None, source: str) -> AuditedKey:
    return AuditedKey(
        key_reference=key.key_reference,
        label=key.label,
        kind=key.kind.value if key.kind is not None else None,
        size=key.size,
        key_id=key.id.hex().upper() if key.id else None,
        certificate=(
            key.certificate_subject if key.certificate_kind is CertificateKind.X509 else None
        ),
        domain=domain,
        domain_source=source,
        cv_request=key.certificate_kind is CertificateKind.CV_REQUEST,
    )


def audit(
    hsm: SmartCardHsm, interaction: Interaction | None = None, *, probe_wrap: bool = False
) -> AuditReport:
    """Audit the device: key domains with KCV and share counts, and the keys in each.

    :param probe_wrap: find each key's domain by wrapping it (asks for the user PIN
        through ``interaction`` when it is not verified yet).
    """
    if probe_wrap:
        if interaction is None:
            raise ValueError("probing key domains needs an interaction to ask for the PIN")
        verify_user_pin(hsm, interaction, "auditing the key domains")
    try:
        serial: str | None = hsm.serial()
    except TransportError:
        raise
    except (CardError, ValueError):
        serial = None
    try:
        device = hsm.device_certificate().identity().text
    except TransportError:
        raise
    except CardError as error:
        device = unreadable_identity_text(error)
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    keys = KeyStore(hsm).list_keys(load_certificates=True)  # only CExx tells X.509 from CV
    by_kcv: dict[bytes, int] = {}
    for slot in slots:
        status = slot.status
        if status is not None and status.complete and status.kcv is not None:
            by_kcv.setdefault(status.kcv, slot.index)
    placed: dict[int, list[AuditedKey]] = {slot.index: [] for slot in slots}
    others: list[AuditedKey] = []
    for key in keys:
        domain, source = key.key_domain, "card" if key.key_domain is not None else "unknown"
        if domain is None and probe_wrap and slots:
            try:
                blob = hsm.wrap_key(key.key_reference)
                domain = by_kcv.get(bytes(blob[:KCV_LENGTH]))
                source = "wrap" if domain is not None else "unknown"
            except (ApduError, NoKeyDomainSupport):
                source = "not wrappable"
        audited = _audited(key, domain, source)
        if domain is not None and domain in placed:
            placed[domain].append(audited)
        else:
            others.append(audited)
    domains = []
    for slot in slots:
        status = slot.status
        if status is None:
            domains.append(AuditedDomain(slot.index, "empty"))
            continue
        complete = status.shares_outstanding == 0
        domains.append(
            AuditedDomain(
                number=slot.index,
                state="XKEK" if status.uid else "DKEK",
                shares_total=status.shares_total,
                shares_outstanding=status.shares_outstanding,
                kcv=format_kcv(status.kcv) if complete and status.kcv is not None else None,
                kcv_hidden=complete and status.kcv is None,
                keys=tuple(placed[slot.index]),
            )
        )
    return AuditReport(
        serial=serial,
        reader=hsm.transport.name,
        version=hsm.info.version_text,
        pin=hsm.pin_status().describe(),
        so_pin=hsm.so_pin_status().describe(),
        domains=tuple(domains),
        other_keys=tuple(others),
        domains_probed=probe_wrap,
        device=device,
    )
