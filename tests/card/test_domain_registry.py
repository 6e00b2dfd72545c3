"""The key-domain registry on the card: format, damage, cost, and the probe that fills it."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from keymanager.card import domain_registry
from keymanager.card.domain_registry import (
    REGISTRY_DESCRIPTION_FID,
    REGISTRY_FID,
    REGISTRY_LABEL,
    DomainPurpose,
    Registry,
    RegistryDamaged,
    RegistryFileInUse,
    annotate_keys,
    read_registry,
    write_registry,
)
from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import EcKeySpec, KeyDomainStatus
from keymanager.card.keystore import KeyInfo, KeyStore
from keymanager.card.pkcs15 import DataObjectDescription, KeyKind, decode_dcod, encode_dcod
from keymanager.card.transport import LocalTransport
from keymanager.dkek.tlv import read_tlv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.key_domains import find_key_domains, keys_with_domains

PIN = "648219"
SO_PIN = bytes.fromhex("3537363231383830")
WHEN = datetime.datetime(2026, 12, 1, 10, 15, tzinfo=datetime.UTC)


class CountingTransport(LocalTransport):
    """A local transport that counts the APDUs it sends."""

    sent = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.sent += 1
        return super().transmit(apdu)


@pytest.fixture(params=["genuine", "pico"])
def card(request: pytest.FixtureRequest) -> SmartCardHsmSimulator:
    simulator = SmartCardHsmSimulator(
        seed=b"registry " + request.param.encode(), profile=request.param
    )
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(PIN, SO_PIN, dkek_shares=1, key_domains=3))
    hsm.import_dkek_share(bytes(range(32)), 0)
    hsm.verify_pin(PIN)
    return simulator


def _sample() -> Registry:
    registry = Registry()
    registry.record_domain(0, DomainPurpose.CUSTODIAN, "initialise", created=WHEN)
    registry.record_domain(
        2, DomainPurpose.TRANSIENT, "import-p12 --transient", label="Web CA", created=WHEN
    )
    registry.record_key(1, bytes.fromhex("00112233445566778899"), 2, sealed=True)
    registry.record_key(3, b"\x03", 0, sealed=False, probed=True)
    registry.record_key(4, None, None)
    return registry


def test_round_trip_and_exact_bytes() -> None:
    encoded = _sample().encode()
    decoded = Registry.decode(encoded + b"\x00\xff old tail")
    assert decoded.domains == _sample().domains
    assert decoded.keys == _sample().keys
    assert decoded.keys[1].id_prefix == bytes.fromhex("0011223344556677")
    assert decoded.domains[2].describe() == "Web CA (transient import of 2026-12-01)"
    assert decoded.domains[0].describe() == "custodian DKEK of 2026-12-01"
    # a SEQUENCE: format version 1 first, the checksum over the value last
    outer = read_tlv(encoded)
    assert outer.tag == b"\x30" and outer.next_offset == len(encoded)
    assert outer.value[:3] == bytes.fromhex("800101")
    assert outer.value[-10:-8] == bytes.fromhex("8f08")
    assert outer.value[-8:] == hashlib.sha256(outer.value[:-10]).digest()[:8]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "checksum"),
        (lambda data: data[:10], "cannot be read"),
        (lambda data: b"\x04" + data[1:], "SEQUENCE"),
    ],
)
def test_damage_is_detected(damage: object, message: str) -> None:
    data = damage(_sample().encode())  # type: ignore[operator]
    with pytest.raises(RegistryDamaged, match=message):
        Registry.decode(data)


def test_a_newer_format_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain_registry, "FORMAT_VERSION", 9)
    newer = _sample().encode()
    monkeypatch.undo()
    with pytest.raises(RegistryDamaged, match="format 09; this keymanager reads format 1"):
        Registry.decode(newer)


def test_on_the_card_one_read_and_an_opensc_data_object(card: SmartCardHsmSimulator) -> None:
    transport = CountingTransport(card)
    hsm = SmartCardHsm.open(transport)
    hsm.verify_pin(PIN)
    assert read_registry(hsm).domains == {}  # nothing recorded yet: 6A82
    write_registry(hsm, _sample())
    description = decode_dcod(hsm.read_file(REGISTRY_DESCRIPTION_FID))
    assert description.label == REGISTRY_LABEL
    assert description.path == REGISTRY_FID.to_bytes(2, "big")
    before = transport.sent
    registry = read_registry(hsm)
    assert transport.sent - before == 1
    assert registry.keys == _sample().keys
    # a shorter registry written over a longer one still reads, undamaged
    shorter = Registry()
    shorter.record_key(9, b"\x09", 1)
    write_registry(hsm, shorter)
    again = read_registry(hsm)
    assert again.damaged is None and again.keys == shorter.keys


def test_a_torn_write_reads_as_damaged_and_the_next_write_repairs(
    card: SmartCardHsmSimulator,
) -> None:
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.verify_pin(PIN)
    write_registry(hsm, _sample())
    content = card.state.files[REGISTRY_FID]
    card.state.files[REGISTRY_FID] = content[:20] + bytes(len(content) - 20)
    registry = read_registry(hsm)
    assert registry.damaged is not None and "cannot be read" in registry.damaged
    assert registry.keys == {} and registry.domains == {}  # what it recorded is lost
    write_registry(hsm, _sample())
    assert read_registry(hsm).damaged is None


def test_entries_for_other_keys_are_ignored(card: SmartCardHsmSimulator) -> None:
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.verify_pin(PIN)
    info = KeyStore(hsm).generate_key(EcKeySpec("prime256v1"), "made elsewhere", key_domain=0)
    registry = Registry()
    registry.record_key(info.key_reference, b"\xde\xad", 0, sealed=False)  # another key's ID
    registry.record_key(77, b"\x01", 0)  # no key there
    [key] = [k for k in KeyStore(hsm).list_keys() if k.key_reference == info.key_reference]
    [annotated] = annotate_keys([key], registry)
    assert (annotated.key_domain, annotated.domain_source, annotated.exportable) == (
        None,
        "unknown",
        None,
    )


def test_find_key_domains_records_what_the_probe_finds(card: SmartCardHsmSimulator) -> None:
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.verify_pin(PIN)
    store = KeyStore(hsm)
    in_domain = store.generate_key(EcKeySpec("prime256v1"), "in domain 0", key_domain=0)
    sealed = store.generate_key(
        EcKeySpec("prime256v1"), "sealed", key_domain=0, allowed_algorithms=bytes([0x73])
    )
    hsm.create_dkek_domain(1, 1)  # waiting for its share: no KEK
    nowhere = store.generate_key(EcKeySpec("prime256v1"), "no domain", key_domain=1)
    _registry, keys = keys_with_domains(hsm)
    assert {key.domain_source for key in keys} == {"unknown"}

    result = find_key_domains(hsm, ScriptedInteraction())
    assert result.domains[in_domain.key_reference] == 0
    assert result.domains[nowhere.key_reference] is None
    assert result.sealed == (sealed.key_reference,)
    registry, keys = keys_with_domains(hsm)
    states = {key.label: (key.key_domain, key.domain_source, key.exportable) for key in keys}
    assert states["in domain 0"] == (0, "probed", True)
    assert states["sealed"] == (None, "probed", False)
    assert states["no domain"] == (None, "unknown", None)
    assert registry.keys[in_domain.key_reference].probed


def test_key_type_and_size_tell_aes_keys_apart() -> None:
    """An AES key's ID is its reference: the entry's type and size must match too."""
    registry = Registry()
    registry.record_key(5, b"\x05", 0, sealed=False, kind=KeyKind.AES, size=256)
    again = Registry.decode(registry.encode())
    assert again.keys[5].kind_size == bytes.fromhex("030100")
    same = KeyInfo(5, "aes", b"\x05", KeyKind.AES, 256, None, True)
    other = KeyInfo(5, "aes", b"\x05", KeyKind.AES, 128, None, True)
    [kept, ignored] = annotate_keys([same, other], again)
    assert (kept.domain_source, kept.key_domain) == ("recorded", 0)
    assert ignored.domain_source == "unknown"


def test_a_domain_entry_for_another_share_count_is_ignored() -> None:
    registry = Registry()
    registry.record_domain(1, DomainPurpose.TRANSIENT, "import-p12 --transient", shares=1)
    again = Registry.decode(registry.encode())
    assert again.domains[1].shares == 1
    transient = KeyDomainStatus(shares_total=1, shares_outstanding=1, kcv=None)
    custodians = KeyDomainStatus(shares_total=3, shares_outstanding=3, kcv=None)
    assert again.domain(1, transient) == again.domains[1]
    assert again.domain(1, custodians) is None  # another tool's domain in that slot
    assert again.domain(1, None) is None


def test_files_of_another_program_are_not_written_over(card: SmartCardHsmSimulator) -> None:
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.verify_pin(PIN)
    hsm.write_file(REGISTRY_FID, b"someone else's data")
    with pytest.raises(RegistryFileInUse, match="CFFE exists"):
        write_registry(hsm, _sample())
    assert card.state.files[REGISTRY_FID] == b"someone else's data"
    hsm.delete_file(REGISTRY_FID)
    hsm.write_file(
        REGISTRY_DESCRIPTION_FID,
        encode_dcod(DataObjectDescription(label="other", path=b"\xcf\xfe")),
    )
    with pytest.raises(RegistryFileInUse, match="another program's data object"):
        write_registry(hsm, _sample())
    assert REGISTRY_FID not in card.state.files
