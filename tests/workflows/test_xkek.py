"""Key-domain groups (XKEK) through the workflows, on simulated cards (both profiles).

A group signer on card A, members A and B (and C for the pairwise KEK): admit, derive
the same KCV on A and B, a different one on C with A; an EC and an RSA key generated in
A's XKEK domain are copied to B (and C) with the same label and certificate, and sign
there (verified on the host here, apart from the workflow's own proof).  Refusals —
a key in a DKEK domain, a target outside the group, a sealed key, a damaged or foreign
group file, the wrong signer card, a member admitted twice — each a specific error with
every card and the group file as before.  Deleting an XKEK domain takes its exchange key
first and is refused while another key is in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keymanager.card.domain_registry import DomainPurpose, read_registry
from keymanager.card.errors import FileNotFound
from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import Algorithm
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.audit import audit
from keymanager.workflows.device import create_key_domain, delete_key_domain
from keymanager.workflows.errors import DomainNotReady
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.key_generation import KeyAlgorithm, generate_key
from keymanager.workflows.keys import delete_key
from keymanager.workflows.outline import read_outline
from keymanager.workflows.xkek import (
    AlreadyMember,
    GroupFile,
    GroupFileDamaged,
    GroupFileForeign,
    KeyNotInXkekDomain,
    KeySealed,
    NotTheGroupSigner,
    TargetNotInGroup,
    admit_member,
    create_group,
    delete_xkek_domain,
    derive_kek,
    group_domain,
    group_members_for,
    migrate_key,
)
from keymanager.workflows.xkek_leave import XkekDomainDeleted
from keymanager.workflows.xkek_members import with_group_members

PIN = "123456"
SO_PIN = bytes.fromhex("3537363231383830")
SIGNATURE_TEST = b"signed on the target, checked by the test"


@dataclass
class Device:
    card: SmartCardHsmSimulator
    hsm: SmartCardHsm

    @property
    def serial(self) -> str:
        return self.hsm.serial()


def make_device(seed: bytes) -> Device:
    card = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(PIN, SO_PIN, key_domains=4))
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.verify_pin(PIN)
    return Device(card, hsm)


def snapshot(device: Device) -> tuple[object, ...]:
    """What a refusal must leave as it was: domains, files, registry."""
    hsm = device.hsm
    try:
        registry = hsm.read_file(0xCFFE)
    except FileNotFound:
        registry = b""
    return tuple(hsm.key_domains()), tuple(sorted(hsm.enumerate_objects())), registry


@pytest.fixture
def group(tmp_path: Path) -> tuple[Path, Device, Device]:
    """A group whose signer is card A, with A and B admitted (no KEK derived yet)."""
    a, b = make_device(b"xkek member A"), make_device(b"xkek member B")
    path = tmp_path / "GROUP.json"
    create_group(a.hsm, ScriptedInteraction(), path)
    admit_member(a.hsm, a.hsm, ScriptedInteraction(), path)
    admit_member(a.hsm, b.hsm, ScriptedInteraction(), path)
    return path, a, b


def domain_of(path: Path, device: Device) -> int:
    member = GroupFile.load(path).member(device.serial)
    assert member is not None
    return member.domain


def signs(device: Device, reference: int) -> None:
    """The key signs on ``device`` and the host verifies it with the key's public key."""
    [key] = [
        k
        for k in KeyStore(device.hsm).list_keys(load_certificates=True)
        if k.key_reference == reference
    ]
    public = key.public_key
    if isinstance(public, ec.EllipticCurvePublicKey):
        signature = device.hsm.sign(reference, Algorithm.ECDSA_SHA256, SIGNATURE_TEST)
        public.verify(signature, SIGNATURE_TEST, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        signature = device.hsm.sign(reference, Algorithm.RSA_PKCS1_SHA256, SIGNATURE_TEST)
        public.verify(signature, SIGNATURE_TEST, padding.PKCS1v15(), hashes.SHA256())


# --- forming the group -------------------------------------------------------------------


def test_group_file_and_registry(group: tuple[Path, Device, Device]) -> None:
    path, a, b = group
    loaded = GroupFile.load(path)
    assert len(loaded.uid) == 64 and loaded.signer.serial == a.serial
    assert [m.serial for m in loaded.members] == [a.serial, b.serial]
    raw = json.loads(path.read_text())
    assert raw["format"] == "keymanager-xkek-group" and raw["version"] == 1
    assert raw["uid"] == loaded.uid.hex().upper()
    for device in (a, b):
        member = loaded.member(device.serial)
        assert member is not None
        status = device.hsm.key_domain_status(member.domain)
        assert status is not None and status.uid == loaded.uid and status.kcv is None
        # no shares (Pico HSM answers FF for the total: normalised by the card layer)
        assert (status.shares_total, status.shares_outstanding) == (0, 0)
        [listed] = [s for s in device.hsm.key_domains() if s.index == member.domain]
        assert listed.status == status
        [audited] = [d for d in audit(device.hsm).domains if d.number == member.domain]
        assert (audited.shares_total, audited.shares_outstanding) == (0, 0)
        record = read_registry(device.hsm).domains[member.domain]
        assert record.purpose is DomainPurpose.XKEK
        [exchange] = [
            k
            for k in KeyStore(device.hsm).list_keys()
            if k.key_reference == member.exchange_key_ref
        ]
        assert exchange.label == f"XKEK exchange key {member.domain}"
    # the outline and the audit before any derive
    node = next(
        n for n in read_outline(b.hsm).nodes() if n.node_id == f"domain:{domain_of(path, b)}"
    )
    assert f"XKEK domain, group {loaded.uid.hex().upper()[:16]}…, KEK not derived yet" in node.title
    assert "XKEK group domain" in dict((d.label, d.value) for d in node.details)["Purpose"]


def test_admit_refusals(group: tuple[Path, Device, Device], tmp_path: Path) -> None:
    path, a, b = group
    before = (snapshot(a), snapshot(b), path.read_bytes())
    with pytest.raises(AlreadyMember, match="already"):
        admit_member(a.hsm, b.hsm, ScriptedInteraction(), path)
    with pytest.raises(NotTheGroupSigner, match="not the signer"):
        admit_member(b.hsm, b.hsm, ScriptedInteraction(), path)
    assert (snapshot(a), snapshot(b), path.read_bytes()) == before
    taken = tmp_path / "taken.json"
    taken.write_text("an earlier file")
    with pytest.raises(Exception, match="exists already"):
        create_group(a.hsm, ScriptedInteraction(), taken)
    assert taken.read_text() == "an earlier file"
    assert snapshot(a) == before[0]


def test_separate_pin_prompts(tmp_path: Path) -> None:
    """The signer's PIN is asked through its own interaction, the member's through its."""
    signer, member = make_device(b"xkek signer S"), make_device(b"xkek member M")
    signer = Device(signer.card, SmartCardHsm.open(LocalTransport(signer.card)))
    member = Device(member.card, SmartCardHsm.open(LocalTransport(member.card)))
    path = tmp_path / "GROUP.json"
    create_group(signer.hsm, ScriptedInteraction().answer("secret", bytearray(PIN.encode())), path)
    asked_signer = ScriptedInteraction()  # the signer session is verified already
    asked_member = ScriptedInteraction().answer("secret", bytearray(PIN.encode()))
    admitted = admit_member(
        signer.hsm, member.hsm, asked_member, path, signer_interaction=asked_signer
    )
    assert admitted.serial == member.serial
    assert [q for q in asked_member.questions if q.startswith("secret")]
    assert not asked_signer.questions


# --- the pairwise KEK and the migration ---------------------------------------------------


def test_same_kcv_and_keys_copied(group: tuple[Path, Device, Device]) -> None:
    path, a, b = group
    on_a = derive_kek(a.hsm, ScriptedInteraction(), path)
    on_b = derive_kek(b.hsm, ScriptedInteraction(), path)
    assert on_a.peer_serial == b.serial and on_b.peer_serial == a.serial
    assert on_a.kcv == on_b.kcv and len(on_a.kcv) == 16
    domain_a = domain_of(path, a)
    ec_key = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:prime256v1"),
        "payments EC",
        domain=domain_a,
    )
    rsa_key = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("rsa:2048"),
        "payments RSA",
        domain=domain_a,
    )
    for generated, proof in ((ec_key, "ECDSA-SHA256"), (rsa_key, "RSA-PSS-SHA256")):
        result = migrate_key(
            a.hsm, b.hsm, ScriptedInteraction(), generated.key_reference, group_path=path
        )
        assert result.kcv == on_a.kcv and result.target_domain == domain_of(path, b)
        assert proof in result.proof and "verified" in result.proof
        assert result.label == generated.label and result.certificate == "cv-request"
        source_files = {
            k.key_reference: k for k in KeyStore(a.hsm).list_keys(load_certificates=True)
        }
        copied = {k.key_reference: k for k in KeyStore(b.hsm).list_keys(load_certificates=True)}
        original, copy = source_files[generated.key_reference], copied[result.target_reference]
        assert copy.label == original.label and copy.id == original.id
        assert copy.cv_request == original.cv_request  # the same certificate (CV request)
        signs(b, result.target_reference)
        assert read_registry(b.hsm).keys[result.target_reference].domain == result.target_domain
    # the outline and the audit of B name the group and the KCV, with both keys under it
    node = next(
        n for n in read_outline(b.hsm).nodes() if n.node_id == f"domain:{domain_of(path, b)}"
    )
    uid16 = GroupFile.load(path).uid.hex().upper()[:16]
    assert f"XKEK domain, group {uid16}…, KCV {on_a.kcv}" in node.title
    assert "3 keys" in node.title  # the exchange key and the two copies
    report = audit(b.hsm)
    [xkek] = [d for d in report.domains if d.state == "XKEK"]
    assert xkek.kcv == on_a.kcv and len(xkek.keys) == 3
    assert xkek.purpose_text == "XKEK group domain"
    assert f"XKEK domain, group {uid16}…, KCV {on_a.kcv}" in report.to_text()


def test_pairwise_kek_third_member(group: tuple[Path, Device, Device]) -> None:
    path, a, b = group
    c = make_device(b"xkek member C")
    admit_member(a.hsm, c.hsm, ScriptedInteraction(), path)
    ab = derive_kek(a.hsm, ScriptedInteraction(), path, peer_serial=b.serial)
    ba = derive_kek(b.hsm, ScriptedInteraction(), path, peer_serial=a.serial)
    ca = derive_kek(c.hsm, ScriptedInteraction(), path, peer_serial=a.serial)
    assert ab.kcv == ba.kcv
    assert ca.kcv != ab.kcv  # pairwise: C with A holds another KEK
    key = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:brainpoolP256r1"),
        "shared",
        domain=domain_of(path, a),
    )
    to_c = migrate_key(a.hsm, c.hsm, ScriptedInteraction(), key.key_reference)  # no group file
    assert to_c.kcv == ca.kcv  # migrate derived A with C again
    signs(c, to_c.target_reference)
    to_b = migrate_key(a.hsm, b.hsm, ScriptedInteraction(), key.key_reference, group_path=path)
    assert to_b.kcv == ab.kcv
    signs(b, to_b.target_reference)


def test_migrate_refusals(group: tuple[Path, Device, Device]) -> None:
    path, a, b = group
    derive_kek(a.hsm, ScriptedInteraction(), path)
    derive_kek(b.hsm, ScriptedInteraction(), path)
    domain_a = domain_of(path, a)
    # a key in a DKEK domain
    dkek_domain = create_key_domain(a.hsm, ScriptedInteraction(), 0).domain
    in_dkek = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:prime256v1"),
        "DKEK key",
        domain=dkek_domain,
    )
    # a sealed key in the XKEK domain
    sealed = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:prime256v1"),
        "sealed",
        domain=domain_a,
        seal=True,
    )
    # a device outside the group (it has an XKEK domain of another group)
    outsider = make_device(b"xkek outsider D")
    create_group(outsider.hsm, ScriptedInteraction(), path.with_name("OTHER.json"))
    admit_member(outsider.hsm, outsider.hsm, ScriptedInteraction(), path.with_name("OTHER.json"))
    exportable = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:prime256v1"),
        "exportable",
        domain=domain_a,
    )
    before = (snapshot(a), snapshot(b), snapshot(outsider), path.read_bytes())
    with pytest.raises(KeyNotInXkekDomain, match=r"DKEK domain.*nothing was changed"):
        migrate_key(a.hsm, b.hsm, ScriptedInteraction(), in_dkek.key_reference)
    with pytest.raises(KeySealed, match=r"sealed.*nothing was changed"):
        migrate_key(a.hsm, b.hsm, ScriptedInteraction(), sealed.key_reference)
    with pytest.raises(TargetNotInGroup, match=r"not a member.*nothing was changed"):
        migrate_key(a.hsm, outsider.hsm, ScriptedInteraction(), exportable.key_reference)
    with pytest.raises(TargetNotInGroup, match="nothing was changed"):
        migrate_key(
            a.hsm,
            b.hsm,
            ScriptedInteraction(),
            exportable.key_reference,
            group_path=path.with_name("OTHER.json"),
        )
    assert (snapshot(a), snapshot(b), snapshot(outsider), path.read_bytes()) == before


# --- the group file ---------------------------------------------------------------------


def with_first_member(good: dict[str, Any], *, membership_tail: str) -> dict[str, Any]:
    """The group file's content with the first member's membership signature altered."""
    first = dict(good["members"][0])
    first["membership"] = first["membership"][: -len(membership_tail)] + membership_tail
    return {**good, "members": [first, *good["members"][1:]]}


def test_group_file_damaged_or_foreign(group: tuple[Path, Device, Device], tmp_path: Path) -> None:
    path, a, _b = group
    good = json.loads(path.read_text())
    c = make_device(b"xkek member C2")
    cases: list[tuple[str, type[Exception], str]] = [
        (path.read_text()[:-40], GroupFileDamaged, "not valid JSON"),
        (json.dumps({**good, "uid": good["uid"][:-2] + "00"}), GroupFileDamaged, "uid"),
        (json.dumps({k: v for k, v in good.items() if k != "signer"}), GroupFileDamaged, "signer"),
        (json.dumps(with_first_member(good, membership_tail="0000")), GroupFileDamaged, "verify"),
        (json.dumps({**good, "format": "sc-hsm-tool"}), GroupFileForeign, "not a keymanager"),
        (json.dumps({**good, "version": 2}), GroupFileForeign, "version 2"),
        ("PKA\x00binary", GroupFileForeign, "not JSON"),
    ]
    for content, error, words in cases:
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        before = (snapshot(a), snapshot(c), bad.read_bytes())
        with pytest.raises(error, match=words) as refused:
            GroupFile.load(bad)
        assert str(refused.value).endswith("; nothing was changed")
        assert refused.value.nothing_changed is True
        with pytest.raises(error, match=r"nothing was changed$"):
            admit_member(a.hsm, c.hsm, ScriptedInteraction(), bad)
        assert (snapshot(a), snapshot(c), bad.read_bytes()) == before


# --- leaving the group ---------------------------------------------------------------------


def test_delete_xkek_domain(group: tuple[Path, Device, Device]) -> None:
    path, a, b = group
    domain_b = domain_of(path, b)
    member = GroupFile.load(path).member(b.serial)
    assert member is not None
    key = generate_key(
        b.hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "kept", domain=domain_b
    )
    before = snapshot(b)
    with pytest.raises(DomainNotReady, match=r"still holds key.*kept.*nothing was changed"):
        delete_key_domain(b.hsm, ScriptedInteraction(), domain_b)
    assert snapshot(b) == before
    delete_key(b.hsm, ScriptedInteraction().answer("confirm", True), key.key_reference)
    # through the generic domain delete (CLI `domain delete`, the GUI's Delete domain)
    confirmed = ScriptedInteraction().answer("confirm", True)
    result = delete_key_domain(b.hsm, confirmed, domain_b)
    assert result.domain == domain_b and b.hsm.key_domain_status(domain_b) is None
    assert isinstance(result, XkekDomainDeleted)
    assert result.exchange_key_ref == member.exchange_key_ref and result.serial == b.serial
    assert result.group_uid == GroupFile.load(path).uid_hex
    assert result.group_file is None and not result.left_group_file
    assert any("exchange key" in q for q in confirmed.questions)
    assert member.exchange_key_ref not in {k.key_reference for k in KeyStore(b.hsm).list_keys()}
    assert domain_b not in read_registry(b.hsm).domains
    # the group file still lists B (deleted without it): B can be admitted again
    assert GroupFile.load(path).member(b.serial) is not None
    told = ScriptedInteraction()
    again = admit_member(a.hsm, b.hsm, told, path)
    assert any("replaces that entry" in text for text in told.texts())
    assert [m.serial for m in GroupFile.load(path).members].count(b.serial) == 1
    assert GroupFile.load(path).member(b.serial) == again
    assert group_domain(b.hsm, GroupFile.load(path).uid) is not None
    # directly, with the group file: the member leaves it too
    domain_a = domain_of(path, a)
    left = delete_xkek_domain(
        a.hsm, ScriptedInteraction().answer("confirm", True), domain_a, group_path=path
    )
    assert a.hsm.key_domain_status(domain_a) is None
    assert GroupFile.load(path).member(a.serial) is None
    assert left.left_group_file and left.group_file == str(path) and not left.group_file_note


def test_delete_xkek_domain_with_the_file_of_another_group(
    group: tuple[Path, Device, Device],
) -> None:
    """The domain goes; the other group's file is left as it was, and the result says why."""
    path, a, _b = group
    other = make_device(b"xkek other group O")
    other_path = path.with_name("OTHER.json")
    create_group(other.hsm, ScriptedInteraction(), other_path)
    before = other_path.read_bytes()
    told = ScriptedInteraction().answer("confirm", True)
    result = delete_xkek_domain(a.hsm, told, domain_of(path, a), group_path=other_path)
    assert isinstance(result, XkekDomainDeleted) and not result.left_group_file
    assert "is the file of group" in result.group_file_note
    assert other_path.read_bytes() == before
    assert any(result.group_file_note in text for text in told.texts())


# --- generating into a key domain ------------------------------------------------------------


def test_generate_names_an_empty_or_missing_slot(group: tuple[Path, Device, Device]) -> None:
    """XKEK domains take keys now: a slot that is no key domain is said to be what it is."""
    path, a, _b = group
    free = next(slot.index for slot in a.hsm.key_domains() if slot.status is None)
    before = snapshot(a)
    with pytest.raises(DomainNotReady) as empty:
        generate_key(
            a.hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "x", domain=free
        )
    assert str(empty.value).startswith(f"key domain {free} is empty on this card")
    assert "DKEK domain" not in str(empty.value).split(":")[0]
    assert str(empty.value).endswith("nothing was changed")
    with pytest.raises(DomainNotReady) as missing:
        generate_key(
            a.hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "x", domain=9
        )
    assert str(missing.value) == (
        "this card has no key domain 9 (its 4 key-domain slot(s) are 0 to 3); nothing was changed"
    )
    assert snapshot(a) == before
    # the XKEK domain itself takes the key (its KEK not derived yet: a warning, no refusal)
    generated = generate_key(
        a.hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:prime256v1"),
        "in the group",
        domain=domain_of(path, a),
    )
    assert generated.domain == domain_of(path, a)


# --- the members as far as known ------------------------------------------------------------


def test_group_members_for_an_xkek_domain(group: tuple[Path, Device, Device]) -> None:
    path, _a, b = group
    loaded = GroupFile.load(path)
    status = b.hsm.key_domain_status(domain_of(path, b))
    assert status is not None
    members = group_members_for(status.uid, loaded, b.serial)
    assert [(m.serial, m.domain, m.exchange_key_ref, m.this_device) for m in members] == [
        (m.serial, m.domain, m.exchange_key_ref, m.serial == b.serial) for m in loaded.members
    ]
    assert all(m.has_exchange_key for m in members)
    assert members[1].text == (
        f"member device {b.serial}: key domain {domain_of(path, b)}, exchange key "
        f"{loaded.members[1].exchange_key_ref} (this device)"
    )
    assert group_members_for(b"", loaded, b.serial) == []  # a DKEK domain
    assert group_members_for(bytes(64), loaded, b.serial) == []  # another group
    # in the audit: under the XKEK domain of that group only
    report = with_group_members(audit(b.hsm), loaded)
    [xkek] = [d for d in report.domains if d.state == "XKEK"]
    assert xkek.members == tuple(members)
    assert all(d.members is None for d in report.domains if d.state != "XKEK")
    assert f"    {members[1].text}\n" in report.to_text()
    assert xkek.to_dict()["members"][1]["this_device"] is True
    assert "members" not in next(d for d in audit(b.hsm).domains if d.state == "XKEK").to_dict()
