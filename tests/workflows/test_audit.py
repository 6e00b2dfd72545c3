"""The audit report: key domains with KCV and shares, keys placed by a wrap probe."""

from __future__ import annotations

import json

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, EcKeySpec, InitParams
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.audit import audit
from keymanager.workflows.interaction import ScriptedInteraction

PIN = "648219"
SHARE = bytes(range(32))


def card(*, hide: bool = False) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=b"audit", hide_kcv_until_login=hide)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1, key_domains=4))
    hsm.import_dkek_share(SHARE, 0)
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(1, 1)  # (a 0-share domain has no DKEK on Pico HSM: no wrap probe)
    hsm.import_dkek_share(bytes(range(1, 33)), 1)
    hsm.create_dkek_domain(2, 2)  # waiting for shares
    store = KeyStore(hsm)
    store.generate_key(EcKeySpec("secp256r1"), "zero")
    store.generate_key(EcKeySpec("secp256r1"), "one", key_domain=1)
    store.generate_key(EcKeySpec("secp256r1"), "one too", key_domain=1)
    return simulator, hsm


def test_report_places_keys_by_probing_and_renders() -> None:
    simulator, _ = card()
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    report = audit(hsm, ScriptedInteraction().answer("secret", PIN), probe_wrap=True)
    by_number = {domain.number: domain for domain in report.domains}
    assert [d.state for d in report.domains] == ["DKEK", "DKEK", "DKEK", "empty"]
    assert by_number[0].kcv == format_kcv(Dkek.from_shares([SHARE]).kcv())
    assert (by_number[2].shares_total, by_number[2].shares_outstanding, by_number[2].kcv) == (
        2,
        2,
        None,
    )
    assert [k.label for k in by_number[0].keys] == ["zero"]
    assert [k.label for k in by_number[1].keys] == ["one", "one too"]
    assert all(k.domain_source == "probed" for d in report.domains for k in d.keys)
    assert report.other_keys == ()
    data = json.loads(report.to_json())
    assert data["key_domains"][1]["keys"][0]["label"] == "one"
    assert data["serial"].startswith("UTSIM") and data["domains_probed"] is True
    text = report.to_text()
    assert by_number[0].kcv is not None and by_number[0].kcv in text
    assert "Key domain 2: DKEK, 2 share(s), 2 outstanding, KCV pending" in text
    assert "Key domain 3: empty" in text and "one too" in text


def test_without_probing_the_domain_is_unknown_and_hidden_kcvs_are_reported() -> None:
    simulator, _ = card(hide=True)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    report = audit(hsm)
    assert {k.label for k in report.other_keys} == {"zero", "one", "one too"}
    assert all(k.domain is None and k.domain_source == "unknown" for k in report.other_keys)
    assert report.domains[0].kcv_hidden and report.domains[0].kcv is None
    text = report.to_text()
    assert "hidden until the PIN is verified" in text
    assert "domain unknown" in text
