"""The audit report's device header and its CSV: one row per key, domain columns repeated.

Every row is compared with what the card itself says (serial, token label, firmware
version, device identity, key-domain status, the key list), not with fixed values.
"""

from __future__ import annotations

import csv
import io

import pytest

from keymanager.card.errors import CardError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, EcKeySpec, InitParams
from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import TokenInfo, encode_tokeninfo
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import format_kcv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.audit import AuditReport, audit
from keymanager.workflows.audit_export import (
    CSV_COLUMNS,
    DEVICE_COLUMNS,
    DOMAIN_COLUMNS,
    KEY_COLUMNS,
    NO_DOMAIN,
    UNKNOWN_DOMAIN,
    audit_csv,
    audit_html,
)
from keymanager.workflows.audit_sample import sample_report
from keymanager.workflows.interaction import ScriptedInteraction

PIN = "648219"
LABEL = "Audit card"
GENERATED = {"zero a": 0, "zero b": 0, "one": 1}
"""The keys :func:`_card` generates, and the key domain each is generated in."""


def _card(*, label: str | None = LABEL) -> tuple[SmartCardHsmSimulator, str | None]:
    """Domain 0 (2 keys), domain 1 (1 key), domain 2 waiting for shares, slot 3 empty;
    the keys made around keymanager (no registry entry); the label as the card kept it
    (a Pico HSM keeps none)."""
    simulator = SmartCardHsmSimulator(seed=b"audit csv")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1, key_domains=4))
    hsm.import_dkek_share(bytes(range(32)), 0)
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(1, 1)
    hsm.import_dkek_share(bytes(range(1, 33)), 1)
    hsm.create_dkek_domain(2, 2)
    kept: str | None = None
    if label is not None:
        try:
            hsm.write_file(0x2F03, encode_tokeninfo(TokenInfo(label=label)))
            kept = label
        except CardError:  # a Pico HSM cannot store a token label
            pass
    store = KeyStore(hsm)
    for key_label, domain in GENERATED.items():
        store.generate_key(EcKeySpec("secp256r1"), key_label, key_domain=domain)
    return simulator, kept


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    rows = list(reader)
    assert all(None not in row for row in rows)  # no row longer than the header
    return rows


def _check_device_columns(
    rows: list[dict[str, str]], report: AuditReport, hsm: SmartCardHsm
) -> None:
    identity = hsm.device_certificate().identity().text
    for row in rows:
        assert row["report_created"] == report.created
        assert row["serial"] == hsm.serial()
        assert row["firmware"] == hsm.info.version_text
        assert row["authenticity"] == identity == report.device


def _check_one_row_per_key(rows: list[dict[str, str]], hsm: SmartCardHsm) -> None:
    listed = KeyStore(hsm).list_keys()
    with_key = [row for row in rows if row["key_reference"]]
    assert sorted(int(row["key_reference"]) for row in with_key) == sorted(
        key.key_reference for key in listed
    )
    by_reference = {key.key_reference: key for key in listed}
    for row in with_key:
        key = by_reference[int(row["key_reference"])]
        assert row["key_label"] == key.label
        assert row["key_id"] == (key.id.hex().upper() if key.id else "")
        assert (row["key_type"], row["key_size"]) == (
            key.kind.value if key.kind else "",
            str(key.size),
        )


def test_one_row_per_key_with_the_domain_columns_repeated() -> None:
    simulator, label = _card()
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    report = audit(hsm, ScriptedInteraction().answer("secret", PIN), probe_wrap=True)
    rows = _rows(audit_csv(report))
    _check_device_columns(rows, report, hsm)
    assert {row["device_label"] for row in rows} == {label or ""}
    _check_one_row_per_key(rows, hsm)
    slots = {slot.index: slot.status for slot in hsm.key_domains()}
    assert {row["domain"] for row in rows} == {str(number) for number in slots}
    for number, status in slots.items():
        of_domain = [row for row in rows if row["domain"] == str(number)]
        placed = [key for key in KeyStore(hsm).list_keys() if GENERATED[key.label] == number]
        # one row per key of the domain; a domain without keys still gets one row
        assert len(of_domain) == max(1, len(placed))
        for row in of_domain:
            assert row["domain_keys"] == str(len(placed))
            if status is None:
                assert (row["domain_state"], row["kcv_status"]) == ("empty", "empty")
                continue
            assert int(row["shares_total"]) == status.shares_total
            assert int(row["shares_outstanding"]) == status.shares_outstanding
            if status.complete and status.kcv is not None:
                assert (row["kcv"], row["kcv_status"]) == (format_kcv(status.kcv), "known")
            else:
                assert row["kcv"] == "" and row["kcv_status"] in ("pending", "hidden")
        if not placed:
            assert all(of_domain[0][column] == "" for column in KEY_COLUMNS)
        else:
            assert {row["key_label"] for row in of_domain} == {key.label for key in placed}
            assert {row["domain_source"] for row in of_domain} == {"probed"}
    # the labels in the report's header
    text = report.to_text()
    assert f"Label           : {label or '(none)'}" in text
    assert f"Firmware        : {hsm.info.version_text}" in text


def test_keys_in_no_known_domain_follow_with_empty_domain_columns() -> None:
    simulator, _ = _card(label=None)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.verify_pin(PIN)
    report = audit(hsm)  # no probe, keys made around keymanager: unknown
    rows = _rows(audit_csv(report))
    _check_device_columns(rows, report, hsm)
    _check_one_row_per_key(rows, hsm)
    assert {row["device_label"] for row in rows} == {""}
    unknown = [row for row in rows if row["domain"] in (UNKNOWN_DOMAIN, NO_DOMAIN)]
    assert len(unknown) == len(report.other_keys) == len(GENERATED)
    assert all(row["domain"] == UNKNOWN_DOMAIN for row in unknown)
    assert all(row[column] == "" for row in unknown for column in DOMAIN_COLUMNS[1:])
    assert rows[-len(unknown) :] == unknown  # after the domains
    # each slot has its one row with empty key columns
    slots = [row for row in rows if row not in unknown]
    assert [row["domain"] for row in slots] == [str(slot.index) for slot in hsm.key_domains()]
    assert all(row[column] == "" for row in slots for column in KEY_COLUMNS)


def test_a_device_without_domains_and_keys_gives_one_device_row() -> None:
    simulator = SmartCardHsmSimulator(seed=b"audit csv bare")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN))
    report = audit(hsm)
    assert report.domains == () and report.other_keys == ()
    [row] = _rows(audit_csv(report))
    _check_device_columns([row], report, hsm)
    assert all(row[column] == "" for column in DOMAIN_COLUMNS + KEY_COLUMNS)


def test_sample_report_renders_every_kind_of_row() -> None:
    report = sample_report()
    rows = _rows(audit_csv(report))
    keys = [key for domain in report.domains for key in domain.keys] + list(report.other_keys)
    empty_domains = [domain for domain in report.domains if not domain.keys]
    assert len(rows) == len(keys) + len(empty_domains)
    assert {row[column] for row in rows for column in DEVICE_COLUMNS} >= {
        report.created,
        report.serial,
        report.label,
    }
    html = audit_html(report)
    assert all(key.label in html for key in keys)
    assert "Key domain 0: Payments (custodian DKEK of 2026-11-20)" in html


def test_an_unreadable_label_is_said_so() -> None:
    simulator, _ = _card(label=None)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.verify_pin(PIN)
    try:
        hsm.write_file(0x2F03, b"\x30\x05\x02\x01")  # a truncated TokenInfo
    except CardError:
        pytest.skip("this device stores no token label (Pico HSM)")
    report = audit(hsm)
    assert report.label is None and report.label_problem is not None
    assert "EF.TokenInfo is malformed" in report.label_problem
    assert f"Label           : unknown ({report.label_problem})" in report.to_text()
    assert {row["device_label"] for row in _rows(audit_csv(report))} == {""}
