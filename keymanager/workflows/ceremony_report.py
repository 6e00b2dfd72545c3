"""The ceremony record printed for the binder: participants, devices, each step, KCVs,
the verification verdict and a signature line for every participant.

The text comes from the record alone (no card); the PDF is the multi-page Courier PDF of
:func:`keymanager.workflows.printable.render_document_pdf`, written atomically.  The
report says what :func:`~keymanager.workflows.ceremony_record.verify_record` found, so
a printed report of an altered record says so on its first page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keymanager.dkek.fileio import write_private_file
from keymanager.workflows.ceremony_record import read_lines, verify_record
from keymanager.workflows.printable import render_document_pdf

__all__ = ["report_text", "write_report_pdf"]


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_value(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(_value(item) for item in value)
    return "-" if value is None else str(value)


def _change_lines(changes: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for area, label in (("domains", "Key domain"), ("keys", "Key"), ("pins", "PIN")):
        for name, change in changes.get(area, {}).items():
            before, after = change.get("before"), change.get("after")
            lines.append(f"      {label} {name}: {_value(before)}  ->  {_value(after)}")
    result = changes.get("result")
    if isinstance(result, dict) and result:
        lines.append(f"      Result: {_value(result)}")
    return lines


def report_text(record: Path) -> str:
    """The report's text (what the PDF shows)."""
    verification = verify_record(record)
    entries: list[dict[str, Any]] = []
    for line in read_lines(record):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            entries.append(value)
    opening = entries[0] if entries and entries[0].get("type") == "start" else {}
    out = [
        f"Ceremony: {opening.get('title', '(unreadable)')}",
        f"Record:   {record.name}",
        f"Started:  {opening.get('time', '-')}",
    ]
    if opening.get("rehearsal"):
        out.append("REHEARSAL: run against simulated cards; no real device was changed.")
    out += ["", f"Verification: {verification.text()}", "", "Participants:"]
    for person in opening.get("participants", []):
        out.append(f"  {person.get('name')} ({person.get('role')})")
    devices: dict[str, dict[str, Any]] = {}
    for device in opening.get("devices", []):
        devices[str(device.get("serial"))] = device
    for entry in entries[1:]:
        device = entry.get("device") or {}
        if device.get("serial"):
            devices.setdefault(str(device["serial"]), device)
    out += ["", "Devices:"]
    for serial, device in devices.items():
        details = ", ".join(f"{k} {v}" for k, v in device.items() if k != "serial")
        out.append(f"  {serial}" + (f" ({details})" if details else ""))
    out += ["", "Steps:"]
    for entry in entries[1:]:
        if entry.get("type") == "step":
            witness = f", witnessed by {entry['witness']}" if entry.get("witness") else ""
            serial = (entry.get("device") or {}).get("serial", "-")
            out.append(
                f"  {entry.get('sequence')}. {entry.get('time')}  {entry.get('workflow')} on "
                f"{serial}, by {entry.get('actor')}{witness}: {entry.get('result')}"
            )
            out += _change_lines(entry.get("changes") or {})
            for check in entry.get("checks") or []:
                out.append(f"      Checked: {check}")
        elif entry.get("type") == "close":
            signature = entry.get("signature") or {}
            key = signature.get("key") or {}
            out += [
                "",
                f"Closed {entry.get('time')} by {signature.get('signer')}: "
                f"{signature.get('algorithm')} signature by key {key.get('key_reference')} "
                f"({key.get('label', '-')}) on {key.get('serial', '-')}",
                f"Head (SHA-256 of the record before closing): {entry.get('head')}",
            ]
    out += ["", "Signatures:"]
    for person in opening.get("participants", []):
        out += [
            "",
            f"  {person.get('name')} ({person.get('role')})",
            "  Signature: ______________________________   Date: ______________",
        ]
    return "\n".join(out) + "\n"


def write_report_pdf(record: Path, output: Path, *, overwrite: bool = False) -> int:
    """Write the report to ``output`` (PDF); returns the number of pages."""
    title = "Key ceremony record"
    pdf = render_document_pdf(title, report_text(record))
    write_private_file(output, pdf, overwrite=overwrite)
    return pdf.count(b"/Type /Page ")
