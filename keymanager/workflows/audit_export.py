"""Renderings of an :class:`~keymanager.workflows.audit.AuditReport`: CSV and HTML, free of Qt.

:func:`audit_csv` writes **one row per key**: the report's columns (when it was made,
the device's serial, label, firmware, authenticity, and whether the audit ran on
secure messaging) and the key domain's columns are repeated on every row of the
domain's keys; a key-domain slot without keys (an empty slot too) still gets one row,
with empty key columns; the keys in no known
domain follow, ``domain`` saying ``unknown`` (keymanager has no record and no probe
found it) or ``none`` (recorded or probed as in no complete domain), with empty domain
columns.  A device without key domains and keys gives one row of device columns.  The
columns are :data:`CSV_COLUMNS` (documented in docs/user-guide.md, "Auditor").

:func:`audit_html` is the same report for :class:`QTextDocument` (the GUI's PDF export
and printing): the device, then each key domain with its keys.  The KCV is shown only
for complete domains; :func:`kcv_status` says why it is not otherwise.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator

from keymanager.workflows.audit import AuditedDomain, AuditedKey, AuditReport

DEVICE_COLUMNS = (
    "report_created",
    "serial",
    "device_label",
    "firmware",
    "authenticity",
    "secure_messaging",
)
"""The report's own columns, the same on every row."""
DOMAIN_COLUMNS = (
    "domain",
    "domain_state",
    "kcv",
    "kcv_status",
    "shares_total",
    "shares_outstanding",
    "domain_purpose",
    "domain_label",
    "domain_created",
    "domain_keys",
    "domain_keys_sealed",
)
"""The key domain's columns, repeated on every row of its keys."""
KEY_COLUMNS = (
    "key_reference",
    "key_label",
    "key_type",
    "key_size",
    "key_id",
    "certificate_kind",
    "certificate",
    "domain_source",
    "export",
)
"""One key's columns (empty on the row of a domain without keys)."""
CSV_COLUMNS = DEVICE_COLUMNS + DOMAIN_COLUMNS + KEY_COLUMNS
UNKNOWN_DOMAIN = "unknown"
"""``domain`` of a key whose domain is not known."""
NO_DOMAIN = "none"
"""``domain`` of a key recorded or probed as in no complete key domain."""


def kcv_status(domain: AuditedDomain) -> str:
    """``known``, ``pending`` (shares outstanding), ``hidden`` (until login), ``none`` (no
    DKEK: keys cannot be backed up) or ``empty``."""
    if domain.state == "empty":
        return "empty"
    if domain.shares_outstanding:
        return "pending"
    if domain.no_dkek:
        return "none"
    if domain.kcv_hidden or domain.kcv is None:
        return "hidden"
    return "known"


def kcv_text(domain: AuditedDomain) -> str:
    """The KCV as people read it."""
    status = kcv_status(domain)
    if status == "known":
        return domain.kcv or ""
    return {
        "pending": "pending: shares outstanding",
        "hidden": "hidden until the PIN is verified",
        "none": "no DKEK: keys cannot be backed up",
        "empty": "",
    }[status]


def domain_of_key(key: AuditedKey) -> str:
    """The key's domain as people read it: ``0 (recorded by keymanager)``, ``unknown``…"""
    if key.domain is not None:
        return f"{key.domain} ({key.learnt})"
    if key.in_no_domain:
        return "no complete domain (probed)"
    if key.domain_source == "recorded":
        return "none (recorded by keymanager)"
    if key.domain_source == "probed":
        return "unknown (probed: sealed)" if key.exportable is False else "unknown (probed)"
    return "unknown"


def purpose_of(domain: AuditedDomain) -> str:
    """The domain's purpose and label as people read them (empty for an empty slot)."""
    if domain.state == "empty":
        return ""
    return domain.description


def key_type(key: AuditedKey) -> str:
    """``EC 256``, ``RSA 2048``, ``AES 128``, or ``unknown``."""
    return f"{key.kind} {key.size}" if key.kind else "unknown"


def all_keys(report: AuditReport) -> list[AuditedKey]:
    """Every key of the report, by key reference."""
    keys = [key for domain in report.domains for key in domain.keys] + list(report.other_keys)
    return sorted(keys, key=lambda key: key.key_reference)


def keys_by_domain(report: AuditReport) -> list[AuditedKey]:
    """Every key of the report, domain by domain (slot order), then the keys in none."""
    keys = [
        key
        for domain in report.domains
        for key in sorted(domain.keys, key=lambda key: key.key_reference)
    ]
    return keys + sorted(report.other_keys, key=lambda key: key.key_reference)


def _device_cells(report: AuditReport) -> tuple[str, ...]:
    return (
        report.created,
        report.serial or "",
        report.label or "",
        report.version,
        report.device,
        report.secure_messaging or "",
    )


def _domain_cells(domain: AuditedDomain) -> tuple[object, ...]:
    empty = domain.state == "empty"
    return (
        domain.number,
        domain.state,
        domain.kcv if kcv_status(domain) == "known" else "",
        kcv_status(domain),
        "" if empty else domain.shares_total,
        "" if empty else domain.shares_outstanding,
        domain.purpose or "",
        domain.label,
        domain.created or "",
        len(domain.keys),
        domain.sealed_keys,
    )


def _other_domain_cells(key: AuditedKey) -> tuple[object, ...]:
    if key.domain is not None:  # recorded in a domain the device has no slot for
        number: object = key.domain
    elif key.in_no_domain or key.domain_source == "recorded":
        number = NO_DOMAIN
    else:
        number = UNKNOWN_DOMAIN
    return (number, *("",) * (len(DOMAIN_COLUMNS) - 1))


def _key_cells(key: AuditedKey) -> tuple[object, ...]:
    if key.cv_request:
        kind = "cv-request"
    elif key.certificate:
        kind = "x509"
    else:
        kind = ""
    return (
        key.key_reference,
        key.label,
        key.kind or "",
        key.size if key.size is not None else "",
        key.key_id or "",
        kind,
        key.certificate or "",
        key.domain_source,
        key.export_state,
    )


def audit_csv_rows(report: AuditReport) -> Iterator[tuple[object, ...]]:
    """The rows of :func:`audit_csv` without the header (see the module docstring)."""
    device = _device_cells(report)
    written = False
    for domain in report.domains:
        cells = device + _domain_cells(domain)
        keys = sorted(domain.keys, key=lambda key: key.key_reference)
        if not keys:
            yield cells + ("",) * len(KEY_COLUMNS)
        for key in keys:
            yield cells + _key_cells(key)
        written = True
    for key in sorted(report.other_keys, key=lambda key: key.key_reference):
        yield device + _other_domain_cells(key) + _key_cells(key)
        written = True
    if not written:
        yield device + ("",) * (len(DOMAIN_COLUMNS) + len(KEY_COLUMNS))


def audit_csv(report: AuditReport) -> str:
    """The report as CSV: a header of :data:`CSV_COLUMNS`, then one row per key.

    Reusable by any front end (the GUI's export; a command-line export): the text is
    plain data of the report, no secrets.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(audit_csv_rows(report))
    return out.getvalue()


# --- HTML (for QTextDocument: PDF and printing) ----------------------------------------


def _key_table(keys: list[AuditedKey]) -> list[str]:
    escape = html.escape
    parts = [
        "<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
        "<tr><th>Ref</th><th>Label</th><th>Type</th><th>ID</th><th>Key domain</th>"
        "<th>Export</th></tr>"
    ]
    for key in keys:
        parts.append(
            f"<tr><td>{key.key_reference}</td><td>{escape(key.label)}</td>"
            f"<td>{escape(key_type(key))}</td><td><tt>{escape(key.key_id or '-')}</tt></td>"
            f"<td>{escape(domain_of_key(key))}</td><td>{escape(key.export_state)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def device_rows(report: AuditReport) -> list[tuple[str, str]]:
    """The report's header as (name, value) pairs, as the view and the PDF show it."""
    rows = [
        ("Serial", report.serial or "unknown"),
        ("Authenticity", report.device),
        ("Secure messaging", report.secure_messaging_text or "not recorded"),
        ("Label", report.label_text),
        ("Firmware", report.version),
        ("Reader", report.reader),
        ("User PIN", report.pin),
        ("SO-PIN", report.so_pin),
        ("Report date (UTC)", report.created),
        (
            "Key domains of keys",
            "keymanager's registry; the others found by wrapping each key"
            if report.domains_probed
            else "keymanager's registry (keys it does not know not probed)",
        ),
    ]
    if report.registry_damaged:
        rows.append(("Registry", f"damaged: {report.registry_damaged}"))
    return rows


def audit_html(report: AuditReport) -> str:
    """The report as HTML for :class:`QTextDocument`: device, domains, keys per domain."""
    e = html.escape
    parts = [
        f"<h1>Audit of SmartCard-HSM {e(report.serial or '')}</h1>",
        "<table cellspacing='0' cellpadding='2'>",
        *(f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in device_rows(report)),
        "</table>",
        "<h2>Key domains</h2>",
        "<table border='1' cellspacing='0' cellpadding='4' width='100%'>",
        "<tr><th>Domain</th><th>State</th><th>Purpose</th><th>KCV</th><th>Shares</th>"
        "<th>Outstanding</th><th>Keys</th></tr>",
    ]
    if not report.domains:
        parts.append("<tr><td colspan='7'>none (the device has no DKEK)</td></tr>")
    for domain in report.domains:
        empty = domain.state == "empty"
        sealed = f" ({domain.sealed_keys} sealed)" if domain.sealed_keys else ""
        parts.append(
            f"<tr><td>{domain.number}</td><td>{e(domain.state)}</td>"
            f"<td>{e(purpose_of(domain))}</td>"
            f"<td><tt>{e(kcv_text(domain))}</tt></td>"
            f"<td>{'' if empty else domain.shares_total}</td>"
            f"<td>{'' if empty else domain.shares_outstanding}</td>"
            f"<td>{len(domain.keys)}{sealed}</td></tr>"
        )
    parts.append("</table>")
    keys = all_keys(report)
    parts.append(f"<h2>Keys per key domain ({len(keys)})</h2>")
    for domain in report.domains:
        if domain.state == "empty":
            continue
        purpose = purpose_of(domain)
        kcv = kcv_text(domain)
        parts.append(f"<h3>Key domain {domain.number}: {e(purpose)}, KCV <tt>{e(kcv)}</tt></h3>")
        in_domain = sorted(domain.keys, key=lambda key: key.key_reference)
        parts.extend(_key_table(in_domain) if in_domain else ["<p>No keys.</p>"])
    if report.other_keys:
        parts.append("<h3>Keys in no known key domain</h3>")
        parts.extend(_key_table(sorted(report.other_keys, key=lambda key: key.key_reference)))
    if not keys:
        parts.append("<p>No keys.</p>")
    if not report.domains_probed and any(
        key.domain_source == "unknown" for key in report.other_keys
    ):
        parts.append(
            "<p>The card does not tell which key domain a key belongs to and keymanager "
            "has no record of these keys; “Find key domains” wraps each (with the PIN), "
            "matches the KCV and records the answer on the card.</p>"
        )
    return "\n".join(parts)
