"""What people see of key domains: the outline and the audit, from keymanager's registry.

The card: domain 0 (a custodian DKEK, labelled "Payments" by keymanager), a key
keymanager generated there (recorded, exportable), a key made around keymanager in
domain 0 (not recorded), and a transient import (a recorded transient domain whose KEK
is gone, holding one sealed key).  Runs under both simulator profiles.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from keymanager.card.domain_registry import REGISTRY_FID, read_registry
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.keystore import KeyStore
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.audit import audit
from keymanager.workflows.import_p12 import ImportJournal
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.key_domains import find_key_domains, rename_domain
from keymanager.workflows.keys import KeyAlgorithm, generate_key
from keymanager.workflows.outline import (
    SEALED_TEXT,
    UNRECORDED_GROUP_ID,
    NodeKind,
    is_transient_with_keys,
    is_unrecorded,
    read_outline,
)
from keymanager.workflows.plugins.transient_import import transient_import
from tests.workflows.p12_support import (
    P12_PASSWORD,
    PIN,
    fresh_card,
    host_key,
    session,
    write_p12,
)


def script(*answers: tuple[str, object]) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    for kind, value in answers:
        interaction.answer(kind, value)
    return interaction


@dataclass
class DomainCard:
    card: SmartCardHsmSimulator
    transient: int
    """The transient import's key domain."""
    sealed: int
    """The transient import's (sealed) key."""
    recorded: int
    """The AES key keymanager generated in domain 0 (recorded as exportable: its list
    holds WRAP)."""
    unrecorded: int
    """The key made in domain 0 around keymanager."""


@pytest.fixture
def domain_card(tmp_path: Path) -> DomainCard:
    card, _share = fresh_card(b"key domain views")
    path = tmp_path / "in.p12"
    write_p12(path, host_key("p256"), common_name="imported and sealed")
    result = transient_import(
        session(card),
        script(("secret", P12_PASSWORD), ("secret", PIN), ("choices", "all"), ("confirm", False)),
        path=path,
        journal=ImportJournal(tmp_path / "journal.json"),
    )
    assert result.ok, result.summary()
    [imported] = result.keys
    assert imported.key_reference is not None and result.domain is not None
    hsm = session(card)
    made = generate_key(
        hsm, script(("secret", PIN)), KeyAlgorithm.parse("aes:128"), "recorded", domain=0
    )
    around = KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "around keymanager", key_domain=0)
    rename_domain(hsm, script(), 0, "Payments")
    return DomainCard(
        card, result.domain, imported.key_reference, made.key_reference, around.key_reference
    )


def counting(card: SmartCardHsmSimulator) -> list[bytes]:
    """Every command APDU the simulator gets from now on."""
    seen: list[bytes] = []
    original: Callable[[bytes], bytes] = card.process_apdu  # type: ignore[assignment]

    def process(apdu: bytes) -> bytes:
        seen.append(bytes(apdu))
        return original(apdu)

    card.process_apdu = process  # type: ignore[method-assign]
    return seen


def registry_reads(apdus: list[bytes]) -> int:
    fid = REGISTRY_FID.to_bytes(2, "big")
    return sum(1 for apdu in apdus if apdu[1] == 0xB1 and apdu[2:4] == fid)


def wraps(apdus: list[bytes]) -> list[int]:
    """The key references of the WRAP KEY commands (CLA 80, or 8C inside a channel)."""
    return [apdu[2] for apdu in apdus if apdu[0] & ~0x0C == 0x80 and apdu[1] == 0x72]


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def test_outline_nests_keys_under_their_recorded_domain(
    domain_card: DomainCard, simulator_profile: str
) -> None:
    hsm = session(domain_card.card)
    apdus = counting(domain_card.card)
    outline = read_outline(hsm)
    # the registry costs one READ per outline; Pico HSM's ENUMERATE lists no data
    # objects, so the key store's data-object listing reads CFFE once more to see it exists
    assert registry_reads(apdus) == (2 if simulator_profile == "pico" else 1)
    assert wraps(apdus) == []

    transient = outline.find(f"domain:{domain_card.transient}")
    assert transient is not None
    assert transient.title == (
        f"Key domain {domain_card.transient} — transient import of {today()}, KEK deleted: "
        "1 key, sealed"
    )
    assert transient.detail("Purpose") == "transient import"
    assert is_transient_with_keys(transient)
    [sealed] = transient.children
    assert sealed.node_id == f"key:{domain_card.sealed}"
    assert sealed.title.endswith(", sealed")
    assert sealed.detail("Export") == SEALED_TEXT
    assert sealed.detail("Key domain") == f"{domain_card.transient} (recorded by keymanager)"

    payments = outline.find("domain:0")
    assert payments is not None and not is_transient_with_keys(payments)
    assert payments.title.startswith("Key domain 0 — Payments, KCV ")
    assert payments.title.endswith(": 1 key, exportable")
    assert payments.detail("Label") == "Payments"
    [recorded] = payments.children
    assert recorded.node_id == f"key:{domain_card.recorded}"
    assert recorded.title.endswith(", exportable")
    assert recorded.detail("Key domain") == "0 (recorded by keymanager)"

    group = outline.find(UNRECORDED_GROUP_ID)
    assert group is not None and group.kind is NodeKind.KEY_GROUP
    assert group.title == "Domain not recorded (1)" and is_unrecorded(group)
    [unrecorded] = group.children
    assert unrecorded.node_id == f"key:{domain_card.unrecorded}"
    assert not unrecorded.title.endswith(("sealed", "exportable"))  # not known
    assert is_unrecorded(unrecorded) and not is_unrecorded(recorded)
    keys = outline.find("keys")
    assert keys is not None and keys.title == "Keys in no key domain (0)"


def test_find_key_domains_records_what_it_finds(domain_card: DomainCard) -> None:
    hsm = session(domain_card.card)
    group = read_outline(hsm).find(UNRECORDED_GROUP_ID)
    assert group is not None
    keys = [child.data for child in group.children]
    apdus = counting(domain_card.card)
    probe = find_key_domains(hsm, script(("secret", PIN)), keys=keys)  # type: ignore[arg-type]
    assert wraps(apdus) == [domain_card.unrecorded]  # only the key nobody recorded
    assert probe.domains == {domain_card.unrecorded: 0}
    record = read_registry(hsm).keys[domain_card.unrecorded]
    assert (record.domain, record.probed, record.sealed) == (0, True, False)

    outline = read_outline(session(domain_card.card))
    assert outline.find(UNRECORDED_GROUP_ID) is None
    node = outline.find(f"key:{domain_card.unrecorded}")
    assert node is not None and node.parent is outline.find("domain:0")
    assert node.detail("Key domain") == "0 (probed)" and node.title.endswith(", exportable")
    payments = outline.find("domain:0")
    assert payments is not None and payments.title.endswith(": 2 keys, exportable")


def test_audit_takes_domains_from_the_registry_without_wrapping(
    domain_card: DomainCard,
) -> None:
    hsm = session(domain_card.card)
    apdus = counting(domain_card.card)
    report = audit(hsm)
    assert wraps(apdus) == [] and registry_reads(apdus) == 1
    domains = {domain.number: domain for domain in report.domains}
    transient = domains[domain_card.transient]
    assert (transient.purpose, transient.label, transient.created) == ("transient", "", today())
    assert [(k.key_reference, k.domain_source, k.exportable) for k in transient.keys] == [
        (domain_card.sealed, "recorded", False)
    ]
    assert (domains[0].purpose, domains[0].label) == ("unknown", "Payments")
    assert [(k.key_reference, k.domain_source, k.exportable) for k in domains[0].keys] == [
        (domain_card.recorded, "recorded", True)
    ]
    [unknown] = report.other_keys
    assert (unknown.key_reference, unknown.domain_source, unknown.exportable) == (
        domain_card.unrecorded,
        "unknown",
        None,
    )

    data = json.loads(report.to_json())
    by_number = {d["domain"]: d for d in data["key_domains"]}
    assert by_number[domain_card.transient]["purpose"] == "transient"
    assert by_number[domain_card.transient]["created"] == today()
    assert by_number[0]["label"] == "Payments"
    [sealed] = by_number[domain_card.transient]["keys"]
    assert (sealed["domain_source"], sealed["domain_learnt"], sealed["exportable"]) == (
        "recorded",
        "recorded by keymanager",
        False,
    )
    assert data["other_keys"][0]["domain_source"] == "unknown"

    text = report.to_text()
    assert f"purpose transient import, label -, created {today()}" in text
    assert "purpose unknown" not in text and "label Payments" in text
    assert "domain recorded by keymanager, sealed" in text
    assert "domain recorded by keymanager, exportable" in text
    assert "domain unknown, unknown" in text


def test_audit_probes_only_the_keys_the_registry_does_not_know(
    domain_card: DomainCard,
) -> None:
    hsm = session(domain_card.card)
    apdus = counting(domain_card.card)
    report = audit(hsm, script(("secret", PIN)), probe_wrap=True)
    assert wraps(apdus) == [domain_card.unrecorded]
    domains = {domain.number: domain for domain in report.domains}
    assert [(k.key_reference, k.domain_source) for k in domains[0].keys] == [
        (domain_card.recorded, "recorded"),
        (domain_card.unrecorded, "probed"),
    ]
    assert report.other_keys == ()
    assert "domain probed, exportable" in report.to_text()
    # recorded: the next audit needs no probe
    again = counting(domain_card.card)
    later = audit(session(domain_card.card))
    assert wraps(again) == []
    assert [k.domain_source for k in later.domains[0].keys] == ["recorded", "probed"]
