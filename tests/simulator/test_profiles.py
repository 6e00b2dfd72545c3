"""Simulator profiles: genuine SmartCard-HSM and Pico HSM (pcsc-testing.md items 1 to 16)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.apdu import LE_MAX
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.dkek import Dkek
from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.keyblob import decode_key, encode_key
from keymanager.dkek.tlv import read_tlv
from keymanager.simulator import AID, GENUINE, PICO, PROFILES, SmartCardHsmSimulator
from keymanager.simulator.profiles import (
    PROFILE_ENVIRONMENT_VARIABLE,
    default_profile_name,
    profile_by_name,
)
from tests.simulator.conftest import (
    SO_PIN,
    USER_PIN,
    Card,
    ec_request_body,
    ready_card,
    tlv_dict,
)

# --- choosing and storing the profile -------------------------------------------------


def test_profiles_are_named_and_frozen() -> None:
    assert PROFILES == {"genuine": GENUINE, "pico": PICO}
    assert profile_by_name("pico") is PICO
    with pytest.raises(dataclasses.FrozenInstanceError):
        GENUINE.hide_kcv_until_login = True  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"unknown simulator profile 'nitro'.*genuine, pico"):
        profile_by_name("nitro")


def test_default_profile_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_ENVIRONMENT_VARIABLE, raising=False)
    assert default_profile_name() == "genuine"
    assert SmartCardHsmSimulator().profile is GENUINE
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert default_profile_name() == "pico"
    assert SmartCardHsmSimulator().profile is PICO
    assert SmartCardHsmSimulator(profile="genuine").profile is GENUINE
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "nitro")
    with pytest.raises(ValueError, match="KEYMANAGER_SIMULATOR_PROFILE='nitro'"):
        default_profile_name()
    with pytest.raises(ValueError, match="names no simulator profile"):
        SmartCardHsmSimulator()


def test_state_file_keeps_its_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert SmartCardHsmSimulator(path).profile is PICO
    assert json.loads(path.read_text())["profile"] == "pico"
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "genuine")
    assert SmartCardHsmSimulator(path).profile is PICO  # the file decides
    assert SmartCardHsmSimulator(path, profile="genuine").profile is GENUINE  # explicit wins
    assert json.loads(path.read_text())["profile"] == "genuine"
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert SmartCardHsmSimulator(path).profile is GENUINE


def test_old_state_files_load_as_genuine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.json"
    SmartCardHsmSimulator(path, profile="pico")
    data = json.loads(path.read_text())
    del data["profile"]
    path.write_text(json.dumps(data))
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert SmartCardHsmSimulator(path).profile is GENUINE


def test_hide_kcv_override_and_custom_profile() -> None:
    assert SmartCardHsmSimulator(profile="pico").hide_kcv_until_login is True
    assert (
        SmartCardHsmSimulator(profile="pico", hide_kcv_until_login=False).hide_kcv_until_login
        is False
    )
    assert SmartCardHsmSimulator(hide_kcv_until_login=True).profile is GENUINE
    faulty = dataclasses.replace(PICO, ec_unwrap_fails_after_key_file=True)
    simulator = SmartCardHsmSimulator(profile=faulty)
    assert simulator.profile is faulty and simulator.state.profile == "pico"


# --- the behaviours: exact status words in both profiles ------------------------------

SHARE = bytes(range(32))
BOTH = pytest.mark.parametrize("profile", ["genuine", "pico"])


def blank(profile: str) -> Card:
    card = Card(SmartCardHsmSimulator(seed=b"profile", profile=profile))
    card.select()
    return card


@BOTH
def test_select_p2_0c(profile: str) -> None:  # item 1
    card = blank(profile)
    data, sw = card.send(0x00, 0xA4, 0x04, 0x0C, AID)
    assert (data, sw) == ((b"", 0x6A86) if profile == "pico" else (b"", 0x9000))
    assert card.send(0x00, 0xA4, 0x04, 0x04, AID, LE_MAX)[1] == 0x9000
    assert card.send(0x00, 0xA4, 0x04, 0x00, AID, LE_MAX)[1] == 0x9000


@BOTH
def test_df_name_in_the_fcp(profile: str) -> None:  # item 5
    fcp = tlv_dict(read_tlv(blank(profile).select()).value)
    assert fcp[b"\x84"] == (bytes([len(AID)]) + AID if profile == "pico" else AID)
    assert fcp[b"\x85"][2:] == b"\x00\x04\x00"
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(seed=b"fcp", profile=profile)))
    assert hsm.info.version == (4, 0)  # keymanager does not reject the FCP


@BOTH
def test_kcv_hidden_until_login(profile: str) -> None:  # items 2 and 9
    card = ready_card(b"kcv", profile=profile)
    card.domain(data=SHARE)
    card.select()  # logged out
    with Dkek.from_shares([SHARE]) as dkek:
        kcv = dkek.kcv()
    assert card.domain() == ((b"\x01\x00" + (bytes(8) if profile == "pico" else kcv)), 0x9000)
    assert card.verify() == 0x9000
    assert card.domain() == (b"\x01\x00" + kcv, 0x9000)


@BOTH
def test_dkek_lost_on_reset_before_verify(profile: str, tmp_path: Path) -> None:  # item 3
    path = tmp_path / "card.json"
    assert PICO.dkek_lost_on_reset_before_verify
    card = Card(SmartCardHsmSimulator(path, seed=b"reset", profile=profile))
    card.select()
    assert card.initialise(shares=1) == 0x9000
    assert card.domain(data=SHARE)[0][:2] == b"\x01\x00"
    card.sim.power_on()  # a reset before VERIFY
    card.select()
    assert card.verify() == 0x9000
    expected = b"\x01\x01" + bytes(8) if profile == "pico" else b"\x01\x00"
    assert card.domain()[0][: len(expected)] == expected
    # a new process on the same state file sees the same
    reloaded = Card(SmartCardHsmSimulator(path))
    reloaded.sim.power_on()
    reloaded.select()
    reloaded.verify()
    assert reloaded.domain()[0][: len(expected)] == expected
    # with VERIFY right after the last share the DKEK stays
    card = Card(SmartCardHsmSimulator(seed=b"verified", profile=card.sim.profile))
    card.select()
    card.initialise(shares=1)
    card.verify()
    card.select()
    card.domain(data=SHARE)
    assert card.verify() == 0x9000
    card.sim.power_on()
    card.select()
    card.verify()
    with Dkek.from_shares([SHARE]) as dkek:
        assert card.domain()[0] == b"\x01\x00" + dkek.kcv()


@BOTH
def test_device_key_and_data_files_in_enumerate(profile: str) -> None:  # items 4 and 7
    card = ready_card(b"enumerate", profile=profile)
    files = [0xC401, 0xC801, 0xC901, 0xCA01, 0xCD01, 0xCE01, 0xCF01, 0x2F03]
    for fid in files:
        assert card.write(fid, fid.to_bytes(2, "big")) == 0x9000 or fid == 0x2F03
    listed = card.enumerate()
    if profile == "pico":
        assert listed == [0xC401, 0xC801, 0xC901, 0xCC00]
    else:
        assert listed == sorted([0xCC00, *files])
    for fid in files[:-1]:  # READ BINARY works whatever ENUMERATE says
        assert card.read(fid) == (fid.to_bytes(2, "big"), 0x9000)


@BOTH
def test_get_challenge_on_a_blank_card(profile: str) -> None:  # item 6
    card = blank(profile)
    data, sw = card.send(0x00, 0x84, 0x00, 0x00, le=8)
    assert (len(data), sw) == ((0, 0x6A82) if profile == "pico" else (8, 0x9000))
    assert card.initialise() == 0x9000
    assert len(card.send(0x00, 0x84, 0x00, 0x00, le=8)[0]) == 8


@BOTH
def test_domain_delete_and_pin(profile: str) -> None:  # items 8 and 9
    card = ready_card(b"delete", shares=1, slots=3, profile=profile)
    card.select()  # logged out
    no_pin = 0x6985 if profile == "pico" else 0x6982
    assert card.domain(p1=0x01, domain=1, data=b"\x01")[1] == no_pin
    assert card.domain(domain=1, data=SHARE)[1] == no_pin
    assert card.verify() == 0x9000
    assert card.domain(p1=0x01, domain=1, data=b"\x01")[1] == 0x9000
    card.select()
    assert card.domain(p1=0x04, domain=1)[1] == no_pin
    assert card.domain(p1=0x03, domain=1)[1] == no_pin
    card.verify()
    assert card.domain(p1=0x04, domain=1)[1] == 0x9000
    assert card.domain(p1=0x03, domain=1) == (
        (b"", 0x6A88) if profile == "pico" else (bytes(10), 0x9000)
    )
    assert card.domain(domain=1)[1] == 0x6A88  # the slot is empty either way
    assert card.domain(p1=0x03, domain=1)[1] == 0x6A88


@BOTH
def test_zero_share_domain(profile: str) -> None:  # item 10
    card = ready_card(b"zero", shares=0, slots=2, profile=profile)
    body = ec_request_body(curve_by_name("secp256r1"))
    assert card.generate(1, body)[1] == 0x9000
    assert card.wrap(1)[1] == 0x9000  # INITIALIZE with a random DKEK works on both
    data, sw = card.domain(p1=0x01, domain=1, data=b"\x00")
    assert sw == 0x9000 and data[:2] == b"\x00\x00"
    assert card.generate(2, body + bytes.fromhex("920101"))[1] == 0x9000
    if profile == "pico":
        assert data[2:] == bytes(8)
        assert card.wrap(2)[1] == 0x6A88  # no DKEK: never exportable
    else:
        assert data[2:] != bytes(8)
        assert card.wrap(2)[1] == 0x9000


@BOTH
def test_token_label_write(profile: str) -> None:  # item 11
    card = ready_card(b"label", profile=profile)
    sw = card.write(0x2F03, b"\x30\x00")
    assert sw == (0x6F00 if profile == "pico" else 0x9000)
    assert card.read(0x2F03)[1] == (0x6A82 if profile == "pico" else 0x9000)
    assert card.write(0xC401, b"\x30\x00") == 0x9000  # other files are fine


@BOTH
def test_transport_pin_and_unblock_only(profile: str) -> None:  # item 12
    card = blank(profile)
    assert card.initialise(options=0x0003) == 0x9000  # RRC + transport PIN
    assert card.verify() == 0x6984
    assert card.send(0x00, 0x24, 0x00, 0x81, USER_PIN + b"123456")[1] == 0x9000
    assert card.verify(b"123456") == (0x6984 if profile == "pico" else 0x9000)
    # option 0020 (unblock only)
    card = blank(profile)
    assert card.initialise(options=0x0021) == 0x9000
    assert card.send(0x00, 0x2C, 0x00, 0x81, SO_PIN + b"654321")[1] == (
        0x9000 if profile == "pico" else 0x6986
    )
    assert card.send(0x00, 0x2C, 0x01, 0x81, SO_PIN)[1] == 0x9000
    card = blank(profile)
    assert card.initialise(options=0x0001) == 0x9000
    assert card.send(0x00, 0x2C, 0x01, 0x81, SO_PIN)[1] == 0x9000


@BOTH
def test_ec_unwrap_fault_is_opt_in(profile: str) -> None:  # item 13
    host_key = ec.generate_private_key(ec.SECP256R1())
    with Dkek.from_shares([SHARE]) as dkek:
        blob = encode_key(dkek, host_key)
    card = ready_card(b"unwrap", profile=profile)
    card.domain(data=SHARE)
    assert card.unwrap(3, blob) == 0x9000
    faulty = dataclasses.replace(PROFILES[profile], ec_unwrap_fails_after_key_file=True)
    card = Card(SmartCardHsmSimulator(seed=b"unwrap fault", profile=faulty))
    card.select()
    card.initialise(shares=1)
    card.verify()
    card.domain(data=SHARE)
    assert card.unwrap(3, blob) == 0x6400
    assert 0xCC03 in card.enumerate()  # the key exists, without a description
    assert card.unwrap(3, blob) == 0x6A89


@BOTH
def test_brainpool_p320(profile: str) -> None:  # item 14
    card = ready_card(b"bp320", profile=profile)
    _, sw = card.generate(1, ec_request_body(curve_by_name("brainpoolP320r1")))
    assert sw == (0x6A81 if profile == "pico" else 0x9000)
    assert card.generate(2, ec_request_body(curve_by_name("brainpoolP384r1")))[1] == 0x9000


@BOTH
def test_wrap_enforces_the_algorithm_list(profile: str) -> None:  # item 16, both profiles
    card = ready_card(b"algorithms", profile=profile)
    card.domain(data=SHARE)
    body = ec_request_body(curve_by_name("secp256r1"))
    assert card.generate(1, body + bytes.fromhex("910173"))[1] == 0x9000
    assert card.generate(2, body + bytes.fromhex("91027392"))[1] == 0x9000
    assert card.generate(3, body)[1] == 0x9000  # no list: unrestricted
    assert card.wrap(1)[1] == 0x6985
    assert card.wrap(2)[1] == 0x9000
    assert card.wrap(3)[1] == 0x9000
    assert card.wrap(9)[1] == 0x6A88  # no key


@BOTH
def test_unwrap_keeps_the_blob_algorithm_list(profile: str) -> None:  # item 16
    card = ready_card(b"unwrap list", profile=profile)
    card.domain(data=SHARE)
    host_key = ec.generate_private_key(ec.SECP256R1())
    with Dkek.from_shares([SHARE]) as dkek:
        sealed = encode_key(dkek, host_key, allowed_algorithms=b"\x73")
        open_blob = encode_key(dkek, host_key, allowed_algorithms=b"\x73\x92")
    assert card.unwrap(4, sealed) == 0x9000
    assert card.unwrap(5, open_blob) == 0x9000
    assert card.sim.state.keys[4].algorithms == b"\x73"
    assert card.sim.state.keys[5].algorithms == b"\x73\x92"
    assert card.sign(4, 0x70, bytes(32))[1] == 0x6985
    assert card.sign(4, 0x73, b"message")[1] == 0x9000
    assert card.wrap(4)[1] == 0x6985  # the list came with the blob and lacks 92
    again, sw = card.wrap(5)
    assert sw == 0x9000
    with Dkek.from_shares([SHARE]) as dkek:
        assert decode_key(dkek, again).allowed_algorithms == b"\x73\x92"
