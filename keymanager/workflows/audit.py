"""The audit report: the device, and per key domain its KCV (or "hidden"), shares and keys.

The report names the device (serial, token label, firmware version, and the
authenticity verdict of its device certificate chain, :attr:`AuditReport.device`),
whether the session ran on secure messaging (:attr:`AuditReport.secure_messaging`), the
time it was made, and every key-domain slot with the keys in it.  Renderings: text and
JSON here, CSV (one row per key) and HTML in :mod:`keymanager.workflows.audit_export`.

Which domain a key belongs to is stored on the card only as part of the key (tag
``92`` at generation, or the DKEK a blob was unwrapped under); no READ, status query
or PKCS#15 file tells it.  The report therefore learns it one of two ways, and says
which for every key (``domain_source``):

* ``recorded``: keymanager's key-domain registry on the card
  (:mod:`keymanager.card.domain_registry`, one READ) names the key's domain, written
  when keymanager made the key; the registry also tells each domain's purpose, label
  and creation date, and whether a key is sealed;
* ``probed``: a WRAP probe found it (recorded in the registry by an earlier probe, or
  by this audit with ``probe_wrap=True``): the key is wrapped (WRAP KEY, the user PIN
  verified) and the KCV at the head of the blob names the domain whose KCV it equals;
  the blob, encrypted under the DKEK, is dropped at once.  A key the card refuses to
  wrap with ``6985`` is sealed; with ``6A88`` it belongs to no complete domain;
* ``unknown``: neither.  ``probe_wrap=True`` probes only these keys and records what it
  finds in the registry, so the next audit needs no probe.

The registry is a display aid anyone with the user PIN can rewrite; "sealed" is the
card's own refusal to export (:mod:`keymanager.card.seal`).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keymanager.card.cvc import unreadable_identity_text
from keymanager.card.domain_registry import DomainRecord, annotate_keys, read_registry
from keymanager.card.errors import CardError, NoKeyDomainSupport, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import CertificateKind, KeyInfo, KeyStore
from keymanager.card.secure_messaging import SecureMessagingError
from keymanager.dkek.dkek import format_kcv
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.key_domains import find_key_domains, with_recorded
from keymanager.workflows.outline import (
    DOMAIN_SOURCE_TEXT,
    NO_DKEK_TEXT,
    domain_without_dkek,
    token_label,
)

if TYPE_CHECKING:
    from keymanager.workflows.xkek_members import KnownMember


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
    """How the domain was learnt: ``"recorded"`` (keymanager's registry, written when
    keymanager made the key), ``"probed"`` (a WRAP probe) or ``"unknown"``."""
    cv_request: bool = False
    """``CExx`` holds the card's CV request (from generation), not a certificate."""
    exportable: bool | None = None
    """``False``: sealed (the card refuses to export it); ``None``: not known."""
    in_no_domain: bool = False
    """A probe found the key in no complete key domain (the card answered ``6A88``)."""

    @property
    def learnt(self) -> str:
        """How the domain was learnt, in words."""
        return DOMAIN_SOURCE_TEXT.get(self.domain_source, self.domain_source)

    @property
    def domain_known(self) -> bool:
        """The domain (or that there is none) is known: recorded, or found by a probe."""
        return self.domain is not None or self.in_no_domain or self.domain_source == "recorded"

    @property
    def export_state(self) -> str:
        """``sealed``, ``exportable`` or ``unknown``."""
        if self.exportable is None:
            return "unknown"
        return "exportable" if self.exportable else "sealed"

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
            "domain_learnt": self.learnt,
            "exportable": self.exportable,
            "in_no_domain": self.in_no_domain,
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
    no_dkek: bool = False
    """The domain holds no DKEK (its KCV reads zero with the PIN verified, or keymanager
    recorded it so): its keys can never be backed up."""
    keys: tuple[AuditedKey, ...] = ()
    purpose: str | None = None
    """What keymanager recorded the domain for (``custodian``, ``transient``, ``random``,
    ``unknown``); ``None``: no record."""
    label: str = ""
    created: str | None = None
    """The date keymanager recorded the domain (ISO 8601), if it did."""
    workflow: str | None = None
    """The keymanager workflow that recorded it."""
    uid: str | None = None
    """An XKEK domain's group UID (128 hex digits); ``None``: a DKEK domain."""
    members: tuple[KnownMember, ...] | None = None
    """An XKEK domain's members as a group file records them
    (:func:`keymanager.workflows.xkek_members.with_group_members`); ``None``: no file."""

    @property
    def purpose_text(self) -> str:
        """The purpose as the outline says it (``transient import``), or "not recorded"."""
        if self.purpose is None:
            return "not recorded"
        return {
            "custodian": "custodian DKEK",
            "transient": "transient import",
            "random": "random DKEK",
            "no_dkek": "domain without DKEK",
            "xkek": "XKEK group domain",
        }.get(self.purpose, "not recorded")

    @property
    def description(self) -> str:
        """``Payments (custodian DKEK of 2026-12-01)``, as :meth:`DomainRecord.describe`."""
        if self.purpose is None:
            return "not recorded by keymanager"
        if self.purpose == "unknown":
            return self.label or "purpose not recorded"
        text = f"{self.purpose_text} of {self.created}" if self.created else self.purpose_text
        return f"{self.label} ({text})" if self.label else text

    @property
    def sealed_keys(self) -> int:
        return sum(key.exportable is False for key in self.keys)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "domain": self.number,
            "state": self.state,
            "shares_total": self.shares_total,
            "shares_outstanding": self.shares_outstanding,
            "kcv": self.kcv,
            "kcv_hidden": self.kcv_hidden,
            "no_dkek": self.no_dkek,
            "purpose": self.purpose,
            "label": self.label,
            "created": self.created,
            "workflow": self.workflow,
            "uid": self.uid,
            "keys": [key.to_dict() for key in self.keys],
        }
        if self.members is not None:
            data["members"] = [member.to_dict() for member in self.members]
        return data


def _domain_line(domain: AuditedDomain) -> str:
    """``Key domain 1: DKEK, 1 share(s), 0 outstanding, KCV …`` or, for an XKEK domain,
    ``Key domain 1: XKEK domain, group 0123456789ABCDEF…, KCV …``."""
    if domain.uid is not None:
        kek = f"KCV {domain.kcv}" if domain.kcv else "KEK not derived yet"
        if domain.kcv_hidden:
            kek += " (or its KCV hidden until the PIN is verified)"
        return f"Key domain {domain.number}: XKEK domain, group {domain.uid[:16]}…, {kek}"
    if domain.shares_outstanding:
        kcv = "KCV pending (shares outstanding)"
    elif domain.no_dkek:
        kcv = NO_DKEK_TEXT
    elif domain.kcv_hidden:
        kcv = "KCV hidden until the PIN is verified"
    else:
        kcv = f"KCV {domain.kcv or '-'}"
    return (
        f"Key domain {domain.number}: {domain.state}, {domain.shares_total} share(s), "
        f"{domain.shares_outstanding} outstanding, {kcv}"
    )


@dataclass(frozen=True)
class AuditReport:
    """The audit of one device."""

    serial: str | None
    reader: str
    version: str
    """The firmware (applet) version, ``4.0``."""
    pin: str
    so_pin: str
    domains: tuple[AuditedDomain, ...]
    other_keys: tuple[AuditedKey, ...]
    """Keys whose domain is unknown or that belong to none."""
    domains_probed: bool
    device: str = "unknown"
    """The device identity (``DeviceIdentity.text``: the words status and the GUI use),
    the verdict on the device certificate chain (genuine, Pico HSM, NOT GENUINE…)."""
    label: str | None = None
    """The token label (EF.TokenInfo), ``None`` without one."""
    label_problem: str | None = None
    """Why the token label could not be read (``None``: it could, or there is none)."""
    registry_damaged: str | None = None
    """Why keymanager's key-domain registry could not be read (its keys read as unknown)."""
    secure_messaging: str | None = None
    """What the audit ran on: ``active``, ``unavailable`` or ``off``
    (``SecureMessagingStatus``; ``None``: not recorded)."""
    secure_messaging_text: str = ""
    """The same in words, as the outline says it (``SecureMessagingState.text``)."""
    pka: dict[str, Any] | None = None
    """Public key authentication (``PkaOverview.to_dict()``: counts, options, slots);
    ``None``: the device has none."""
    created: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "reader": self.reader,
            "version": self.version,
            "device": self.device,
            "label": self.label,
            "label_problem": self.label_problem,
            "pin": self.pin,
            "so_pin": self.so_pin,
            "created": self.created,
            "domains_probed": self.domains_probed,
            "registry_damaged": self.registry_damaged,
            "secure_messaging": self.secure_messaging,
            "secure_messaging_text": self.secure_messaging_text,
            "pka": self.pka,
            "key_domains": [domain.to_dict() for domain in self.domains],
            "other_keys": [key.to_dict() for key in self.other_keys],
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    @property
    def label_text(self) -> str:
        """The token label as people read it: the label, ``(none)`` or why it is unknown."""
        if self.label_problem:
            return f"unknown ({self.label_problem})"
        return self.label or "(none)"

    def to_text(self) -> str:
        """The report as plain text for people."""
        lines = [
            f"Audit of SmartCard-HSM {self.serial or '(serial unknown)'} in {self.reader!r}",
            f"Created         : {self.created}",
            f"Label           : {self.label_text}",
            f"Firmware        : {self.version}",
            f"Device          : {self.device}",
            f"Secure messaging: {self.secure_messaging_text or 'not recorded'}",
            f"User PIN        : {self.pin}",
            f"SO-PIN          : {self.so_pin}",
        ]
        if self.pka is not None:
            pin_too = ", and the user PIN" if self.pka.get("pin_too") else ""
            lines.append(f"Public key authentication: {self.pka['text']}{pin_too}")
            for slot in self.pka["slots"]:
                state = "authenticated" if slot["authenticated"] else "not authenticated"
                lines.append(
                    f"    slot {slot['slot']}: "
                    + (f"{slot['chr']}, {state}" if slot["chr"] else "empty")
                )
        if not self.domains:
            lines.append(f"Key domains     : none ({NO_DKEK_TEXT})")
        for domain in self.domains:
            if domain.state == "empty":
                lines.append(f"Key domain {domain.number}: empty")
                continue
            lines.append(_domain_line(domain))
            if domain.purpose is not None:
                lines.append(
                    f"    purpose {domain.purpose_text}, label {domain.label or '-'}, "
                    f"created {domain.created or '-'} (recorded by keymanager, "
                    f"{domain.workflow or 'unknown workflow'})"
                )
            else:
                lines.append("    purpose not recorded by keymanager")
            lines.extend(f"    {member.text}" for member in domain.members or ())
            sealed = f", {domain.sealed_keys} sealed" if domain.sealed_keys else ""
            lines.append(f"    {len(domain.keys)} key(s){sealed}")
            lines.extend(_key_line(key) for key in domain.keys)
        if self.registry_damaged:
            lines.append(f"Key-domain registry damaged: {self.registry_damaged}")
        elsewhere = [key for key in self.other_keys if key.in_no_domain or key.domain_known]
        unknown = [key for key in self.other_keys if key not in elsewhere]
        if elsewhere:
            lines.append("Keys in no complete key domain:")
            lines.extend(_key_line(key) for key in elsewhere)
        if unknown:
            lines.append(
                "Keys whose domain is unknown (keymanager has no record; audit "
                "--probe-domains finds it by wrapping each and records it; a sealed key "
                "cannot be probed):"
            )
            lines.extend(_key_line(key) for key in unknown)
        elif not any(domain.keys for domain in self.domains):
            lines.append("No keys.")
        return "\n".join(lines) + "\n"


def _key_line(key: AuditedKey) -> str:
    what = f"{key.kind} {key.size}" if key.kind else "unknown type"
    cert = f", certificate {key.certificate}" if key.certificate else ""
    if key.cv_request:
        cert = ", CV request (no certificate)"
    how = f"domain {key.learnt}" if key.domain_known else "domain unknown"
    return (
        f"    [{key.key_reference:3d}] {key.label} ({what}, ID {key.key_id or '-'}{cert}); "
        f"{how}, {key.export_state}"
    )


def _audited(
    key: KeyInfo, domain: int | None, source: str, *, in_no_domain: bool = False
) -> AuditedKey:
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
        exportable=key.exportable,
        in_no_domain=in_no_domain,
    )


def _domain_fields(record: DomainRecord | None) -> dict[str, Any]:
    if record is None:
        return {}
    return {
        "purpose": record.purpose.name.lower(),
        "label": record.label,
        "created": record.created.date().isoformat(),
        "workflow": record.workflow,
    }


def audit(
    hsm: SmartCardHsm, interaction: Interaction | None = None, *, probe_wrap: bool = False
) -> AuditReport:
    """Audit the device: key domains with KCV, share counts and purpose, and their keys.

    Each key's domain comes from keymanager's registry on the card where it has one (no
    WRAP for those keys).

    :param probe_wrap: find the domain of each key the registry does not know by
        wrapping it, and record the answers in the registry (asks for the user PIN
        through ``interaction`` when it is not verified yet).
    """
    if probe_wrap:
        if interaction is None:
            raise ValueError("probing key domains needs an interaction to ask for the PIN")
        verify_user_pin(hsm, interaction, "auditing the key domains")
    try:
        serial: str | None = hsm.serial()
    except (TransportError, SecureMessagingError):
        raise
    except (CardError, ValueError):
        serial = None
    try:
        device = hsm.device_certificate().identity().text
    except (TransportError, SecureMessagingError):
        raise
    except CardError as error:
        device = unreadable_identity_text(error)
    label, label_problem = token_label(hsm)
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    listed = KeyStore(hsm).list_keys(load_certificates=True)  # only CExx tells X.509 from CV
    registry = read_registry(hsm)  # one READ: domains and keys keymanager recorded
    keys = annotate_keys(listed, registry)
    in_no_domain: set[int] = set()
    if probe_wrap and slots:
        assert interaction is not None
        unknown = [key for key in keys if key.domain_source == "unknown"]
        if unknown:
            probe = find_key_domains(hsm, interaction, keys=unknown)
            keys = with_recorded(keys, probe)
            in_no_domain = {ref for ref, domain in probe.domains.items() if domain is None}
    placed: dict[int, list[AuditedKey]] = {slot.index: [] for slot in slots}
    others: list[AuditedKey] = []
    for key in keys:
        domain, source = key.key_domain, key.domain_source
        if key.key_reference in in_no_domain:
            source = "probed"
        audited = _audited(key, domain, source, in_no_domain=key.key_reference in in_no_domain)
        if domain is not None and domain in placed:
            placed[domain].append(audited)
        else:
            others.append(audited)
    domains = []
    pin_verified = hsm.pin_status().verified
    for slot in slots:
        status = slot.status
        if status is None:
            domains.append(AuditedDomain(slot.index, "empty"))
            continue
        complete = status.shares_outstanding == 0
        record = registry.domain(slot.index, status)
        no_dkek = domain_without_dkek(status, record, pin_verified=pin_verified)
        domains.append(
            AuditedDomain(
                number=slot.index,
                state="XKEK" if status.uid else "DKEK",
                shares_total=status.shares_total,
                shares_outstanding=status.shares_outstanding,
                kcv=format_kcv(status.kcv) if complete and status.kcv is not None else None,
                kcv_hidden=complete
                and status.kcv is None
                and not no_dkek
                and not (status.uid and pin_verified),  # XKEK, PIN verified: no KEK yet
                no_dkek=no_dkek,
                uid=status.uid.hex().upper() if status.uid else None,
                keys=tuple(placed[slot.index]),
                **_domain_fields(record),
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
        label=label,
        label_problem=label_problem,
        registry_damaged=registry.damaged,
        secure_messaging=hsm.secure_messaging.status.value,
        secure_messaging_text=hsm.secure_messaging.text,
        pka=_pka(hsm),
    )


def _pka(hsm: SmartCardHsm) -> dict[str, Any] | None:
    """The PKA state for the report (``None``: no PKA, or it cannot be read)."""
    from keymanager.workflows.pka import pka_overview

    try:
        overview = pka_overview(hsm)
    except (TransportError, SecureMessagingError):
        raise
    except CardError:
        return None
    return overview.to_dict() if overview is not None else None
