"""The pure outline tree (no Qt) read from the demo card and other simulated cards."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from keymanager.card.domain_registry import REGISTRY_FID
from keymanager.card.errors import CardRemoved
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import (
    DEMO_KEYS,
    DEMO_LABEL,
    DEMO_PIN,
    DEMO_SHARES,
    build_demo_card,
    demo_ca,
)
from keymanager.simulator.state import save_state
from keymanager.workflows.outline import (
    KCV_HIDDEN,
    KCV_PENDING,
    NodeKind,
    load_certificate,
    read_outline,
)


def _open(simulator: SmartCardHsmSimulator) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(simulator))


def test_demo_outline_shape(demo_card: SmartCardHsmSimulator) -> None:
    hsm = _open(demo_card)
    outline = read_outline(hsm)
    device = outline.device
    assert device.kind is NodeKind.DEVICE
    assert device.detail("Label") == DEMO_LABEL
    assert device.detail("Authenticity") == "unverified (simulator)"
    serial = device.detail("Serial")
    assert serial is not None and serial.startswith("UTSIM")
    assert device.detail("Version") == "4.0"

    pin = outline.find("pin")
    assert pin is not None and pin.detail("Tries left") == "3"
    assert pin.detail("State") == "not verified"

    domains = outline.nodes(NodeKind.KEY_DOMAIN)
    assert [d.detail("Number") for d in domains] == ["0", "1", "2"]
    assert domains[0].detail("KCV") == format_kcv(Dkek.from_shares(DEMO_SHARES).kcv())
    assert domains[0].detail("Shares outstanding") == "0"
    assert domains[1].detail("Shares outstanding") == "1"
    assert domains[1].detail("KCV") == KCV_PENDING
    assert domains[2].detail("Type") == "empty"

    keys = outline.nodes(NodeKind.KEY)
    assert [k.detail("Label") for k in keys] == [d.label for d in DEMO_KEYS]
    # a key sits under the domain keymanager's registry records, else "Domain not recorded"
    for key in keys:
        info = key.data
        expected = (
            f"domain:{info.key_domain}" if info.domain_source != "unknown" else "keys:unrecorded"
        )
        assert key.parent is outline.find(expected)
        assert key.detail("Export") is not None
    assert [k.detail("Type") for k in keys] == [
        "RSA 2048 bits",
        "EC 256 bits",
        "EC 256 bits",
        "EC 384 bits",
    ]
    with_certificates = [k for k in keys if k.children]
    assert with_certificates, "the demo card has keys with certificates"
    assert len(with_certificates) == sum(d.certificate for d in DEMO_KEYS)
    for key in with_certificates:
        certificate = key.children[0]
        assert certificate.kind is NodeKind.CERTIFICATE
        assert certificate.pending  # the listing did not read CExx
        assert certificate.detail("Subject") == f"CN={key.detail('Label')},O=KeyManager Demo"

    cas = outline.nodes(NodeKind.CA_CERTIFICATE)
    assert len(cas) == 1
    assert cas[0].detail("Subject") == demo_ca()[1].subject.rfc4514_string()
    objects = outline.nodes(NodeKind.DATA_OBJECT)
    # keymanager's own key-domain registry is a data object too, as OpenSC lists it
    assert [o.title for o in objects] == ["Demo notes", "keymanager key domains"]
    assert objects[0].detail("Protection") == "public"
    # node ids are unique, so a view can keep selection and expansion across refreshes
    ids = [node.node_id for node in outline.nodes()]
    assert len(ids) == len(set(ids))


def test_listing_costs_one_read_per_key(demo_card: SmartCardHsmSimulator) -> None:
    hsm = _open(demo_card)
    before = hsm.connection.apdu_count
    outline = read_outline(hsm)
    used = hsm.connection.apdu_count - before
    keys = len(outline.nodes(NodeKind.KEY))
    # 2F03, 2F02, 2 PIN queries, 4 domain queries, 3 ENUMERATEs, 1 READ per key,
    # 2 per CA certificate, 1 per data-object description, 1 READ of the key-domain registry,
    # the PKA status (a card without PKA: nothing more)
    assert used <= 12 + keys + 2 + 1 + 1 + 1


def test_certificate_loads_on_demand(demo_card: SmartCardHsmSimulator) -> None:
    hsm = _open(demo_card)
    outline = read_outline(hsm)
    node = outline.find("certificate:2")
    assert node is not None and node.pending
    fresh = load_certificate(hsm, node)
    assert not fresh.pending
    assert fresh.detail("Issuer") == "CN=KeyManager Demo Root CA,O=KeyManager Demo"
    assert fresh.detail("Valid from") == "2026-01-01 00:00:00 UTC"
    assert fresh.detail("Public key") == "EC secp256r1"
    node.update_from(fresh)
    assert node.detail("Issuer") == fresh.detail("Issuer")
    assert node.parent is outline.find("key:2")


def test_kcv_hidden_until_login(demo_state: Path, tmp_path: Path) -> None:
    copy = tmp_path / "card.json"
    copy.write_bytes(demo_state.read_bytes())
    simulator = SmartCardHsmSimulator(copy, hide_kcv_until_login=True)
    hsm = _open(simulator)
    domain = read_outline(hsm).find("domain:0")
    assert domain is not None and domain.detail("KCV") == KCV_HIDDEN
    hsm.verify_pin(DEMO_PIN)
    outline = read_outline(hsm)
    domain = outline.find("domain:0")
    assert domain is not None
    assert domain.detail("KCV") == format_kcv(Dkek.from_shares(DEMO_SHARES).kcv())
    pin = outline.find("pin")
    assert pin is not None and pin.detail("State") == "verified"


def test_blank_card_outline() -> None:
    outline = read_outline(_open(SmartCardHsmSimulator(seed=b"blank")))
    assert outline.device.detail("Label") == "(none)"
    pin = outline.find("pin")
    assert pin is not None and pin.detail("State") == "not initialised"
    assert outline.nodes(NodeKind.KEY_DOMAIN) == []
    assert outline.nodes(NodeKind.KEY) == []
    group = outline.find("keys")
    assert group is not None and group.title == "Keys (0)"


def test_card_removed_while_reading_propagates(demo_card: SmartCardHsmSimulator) -> None:
    hsm = _open(demo_card)
    demo_card.faults.remove_at(5)
    with pytest.raises(CardRemoved):
        read_outline(hsm)


def test_demo_card_is_deterministic_and_reused(demo_state: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.json"
    build_demo_card(again)
    assert again.read_bytes() == demo_state.read_bytes()
    stamp = again.stat().st_mtime_ns
    simulator = build_demo_card(again)  # reused, not rebuilt
    assert again.stat().st_mtime_ns == stamp
    assert read_outline(_open(simulator)).device.detail("Label") == DEMO_LABEL
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_an_older_demo_card_without_registry_is_built_anew(
    demo_state: Path, tmp_path: Path
) -> None:
    older = tmp_path / "older.json"
    older.write_bytes(demo_state.read_bytes())
    simulator = SmartCardHsmSimulator(older)
    del simulator.state.files[REGISTRY_FID]
    save_state(older, simulator.state)
    build_demo_card(older)
    assert older.read_bytes() == demo_state.read_bytes()


def test_demo_refuses_to_overwrite_another_card(tmp_path: Path) -> None:
    other = tmp_path / "mine.json"
    SmartCardHsmSimulator(other, seed=b"someone else's card")
    content = other.read_bytes()
    with pytest.raises(ValueError, match="not the demo card"):
        build_demo_card(other)
    assert other.read_bytes() == content


def test_demo_certificates_are_issued_by_the_demo_ca(demo_card: SmartCardHsmSimulator) -> None:
    hsm = _open(demo_card)
    outline = read_outline(hsm)
    _ca_key, ca_certificate = demo_ca()
    nodes = outline.nodes(NodeKind.CERTIFICATE)
    expected = sum(d.certificate for d in DEMO_KEYS)
    assert expected >= 1 and len(nodes) == expected, (len(nodes), expected)
    for node in nodes:
        fresh = load_certificate(hsm, node)
        assert fresh.detail("Issuer") == ca_certificate.subject.rfc4514_string()
        until = fresh.detail("Valid until")
        assert until is not None
        assert datetime.datetime.strptime(until, "%Y-%m-%d %H:%M:%S UTC").year == 2031
