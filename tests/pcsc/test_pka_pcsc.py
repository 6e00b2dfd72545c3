"""Public key authentication (issue 16) through a real pcscd with two vpcd readers.

vpcd exposes two readers (``Virtual PCD 00 00`` and ``Virtual PCD 00 01``, TCP ports
35963 and 35964; its driver keeps one context per slot number, so a second reader.conf
entry would not add readers), so the device being protected sits in the first and the
custodian cards take turns in the second, driven by ``keymanager-cli`` as a user types
it:

* three custodian cards, one after another in the second reader: ``init`` and
  ``pka create-key --reader CUSTODIAN``; the device in the first: ``init --pka 3/2``,
  ``pka register C.pka --reader DEVICE`` for each file, ``pka status --json``;
* one command session, two custodians: ``import-p12 … --reader DEVICE --pka-custodian
  CUSTODIAN-READER --pka-custodian simulator:C2`` (one custodian card through pcscd, the
  other a simulated card in its file, because with the device in one reader only one
  reader is left for custodians and the CLI does not wait for a card swap), then
  ``pka auth --simulator DEVICE --pka-custodian READER0 --pka-custodian READER1``: two
  custodian cards in the two readers at once;
* OpenSC: ``sc-hsm-tool --export-for-pub-key-auth`` on a custodian card whose key
  keymanager made (the old ``.pka`` layout), registered by keymanager, and
  ``sc-hsm-tool --public-key-auth-status`` on that device shows the counts keymanager
  set up and reads; ``sc-hsm-tool --register-public-key`` of its export of a second
  key, listed by ``keymanager-cli pka status``.

The second and fourth tests use the cards the first and third left (each says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.pka_file import PkaFile
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.dkek.tlv import iter_tlvs
from tests.support.opensc import sc_hsm_tool
from tests.support.pcscd import PcscdHarness
from tests.support.pka_pcsc import (
    CUSTODIAN_READER,
    DEVICE_READER,
    PIN,
    card_in,
    cli,
    cli_json,
    make_custodian,
    set_pin_variables,
)
from tests.workflows.p12_support import host_key, write_p12


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PINs the commands read with ``--pin-env`` and friends (test constants)."""
    set_pin_variables(monkeypatch)


def slot_chrs(status: dict[str, Any]) -> list[str | None]:
    return [slot["chr"] for slot in status["slots"]]


@pytest.fixture(scope="module")
def cards(
    tmp_path_factory: pytest.TempPathFactory, simulator_profile: str, pcscd: PcscdHarness
) -> Iterator[Path]:
    """An empty directory for the module's card state files (one per profile)."""
    yield tmp_path_factory.mktemp(f"pka-pcsc-{simulator_profile}")


def test_two_of_three_unlock_a_pkcs12_import_through_pcscd(
    pcscd: PcscdHarness, cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [make_custodian(pcscd, capsys, cards, number) for number in (1, 2, 3)]
    chrs = [key["chr"] for key in keys]
    assert len(set(chrs)) == 3
    for number, key in enumerate(keys, start=1):
        assert PkaFile.parse((cards / f"custodian{number}.pka").read_bytes()).chr == key["chr"]

    p12 = cards / "key.p12"
    write_p12(p12, host_key("p256"), common_name="pka pcsc key")
    with pcscd.inserted(card_in(cards, "device"), index=DEVICE_READER) as (device, _bridge):
        init = cli_json(capsys, "init", "--reader", device, "--so-pin-env", "T_SO",
                        "--pin-env", "T_PIN", "--key-domains", "4", "--pka", "3/2",
                        "--yes")  # fmt: skip
        assert init["pka"] == {"total": 3, "required": 2, "replaceable": False, "pin_too": False}
        for number, key in enumerate(keys, start=1):
            out, _err = cli(capsys, "pka", "register", cards / f"custodian{number}.pka",
                            "--reader", device)  # fmt: skip
            assert out.splitlines() == [
                f"Registered custodian {key['chr']} of device {key['device_serial']} in "
                f"slot {number - 1}.",
                f"Public key authentication: {number} of 3 keys registered, 0 authenticated "
                "(2 needed)",
            ]
        status = cli_json(capsys, "pka", "status", "--reader", device)
        assert status["reader"] == device
        pka = status["pka"]
        assert (pka["total"], pka["registered"], pka["required"], pka["authenticated"]) == (
            3, 3, 2, 0,
        )  # fmt: skip
        assert pka["unlocked"] is False and slot_chrs(pka) == chrs

        # One session of the device: custodian 1 through the second reader, custodian 2
        # from its state file; the import then needs no user PIN.
        with pcscd.inserted(card_in(cards, "custodian1"), index=CUSTODIAN_READER) as (
            custodian_reader,
            _custodian_bridge,
        ):
            out, err = cli(capsys, "import-p12", p12, "--reader", device, "--transient",
                           "--p12-password-env", "T_P12",
                           "--pka-custodian", custodian_reader,
                           "--pka-custodian", f"simulator:{cards / 'custodian2.json'}",
                           "--custodian-pin-env", "T_CPIN,T_CPIN", "--json")  # fmt: skip
            assert json.loads(out)["import"]["ok"] is True
            assert f"Custodian {custodian_reader} ({chrs[0]}) authenticated" in err
            assert f"({chrs[1]}) authenticated: 3 of 3 keys registered, 2 authenticated" in err

            state = cli_json(capsys, "pka", "auth", "--reader", device,
                             "--pka-custodian", custodian_reader,
                             "--pka-custodian", f"simulator:{cards / 'custodian3.json'}",
                             "--custodian-pin-env", "T_CPIN")["pka"]  # fmt: skip
            assert (state["authenticated"], state["unlocked"]) == (2, True)
            assert [slot["authenticated"] for slot in state["slots"]] == [True, False, True]

        # The authentication lasted for those sessions only.
        after = cli_json(capsys, "pka", "status", "--reader", device)["pka"]
        assert (after["registered"], after["authenticated"], after["unlocked"]) == (3, 0, False)

    hsm = SmartCardHsm.open(LocalTransport(card_in(cards, "device")))
    hsm.verify_pin(PIN)
    assert [key.label for key in KeyStore(hsm).list_keys()] == ["pka pcsc key"]


def test_two_custodian_readers_at_once(
    pcscd: PcscdHarness, cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both custodian cards in pcscd readers at the same time (the device from its file)."""
    device = cards / "device.json"
    assert device.is_file(), "runs after test_two_of_three_unlock_a_pkcs12_import_through_pcscd"
    chrs = [PkaFile.parse((cards / f"custodian{n}.pka").read_bytes()).chr for n in (1, 2, 3)]
    with (
        pcscd.inserted(card_in(cards, "custodian2"), index=0) as (first, _first_bridge),
        pcscd.inserted(card_in(cards, "custodian3"), index=1) as (second, _second_bridge),
    ):
        state = cli_json(capsys, "pka", "auth", "--simulator", device,
                         "--pka-custodian", first, "--pka-custodian", second,
                         "--custodian-pin-env", "T_CPIN")  # fmt: skip
    pka = state["pka"]
    assert (pka["registered"], pka["authenticated"], pka["unlocked"]) == (3, 2, True)
    assert [slot["chr"] for slot in pka["slots"]] == chrs
    assert [slot["authenticated"] for slot in pka["slots"]] == [False, True, True]


# --- OpenSC: sc-hsm-tool's export and status -----------------------------------------

_STATUS_LINES = {
    "total": re.compile(r"^Number of public keys:\s*(\d+)\s*$", re.MULTILINE),
    "missing": re.compile(r"^Missing public keys:\s*(\d+)\s*$", re.MULTILINE),
    "required": re.compile(r"^Required pubkeys for auth:\s*(\d+)\s*$", re.MULTILINE),
    "authenticated": re.compile(r"^Authenticated public keys:\s*(\d+)\s*$", re.MULTILINE),
}


def parse_pka_status(text: str) -> dict[str, int]:
    """The four numbers of ``sc-hsm-tool --public-key-auth-status`` (print_pka_status)."""
    numbers = {}
    for name, pattern in _STATUS_LINES.items():
        match = pattern.search(text)
        assert match, f"no {name!r} line in sc-hsm-tool's PKA status:\n{text}"
        numbers[name] = int(match.group(1))
    return numbers


def test_opensc_export_registered_by_keymanager_and_status_read_by_opensc(
    pcscd: PcscdHarness, opensc_tools: None, cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = cards / "opensc"
    directory.mkdir()
    exported = directory / "exported.pka"
    custodian = card_in(directory, "custodian")
    with pcscd.inserted(custodian, index=CUSTODIAN_READER) as (reader, _bridge):
        cli(capsys, "init", "--reader", reader, "--so-pin-env", "T_SO",
            "--pin-env", "T_CPIN", "--yes")  # fmt: skip
        key = cli_json(capsys, "pka", "create-key", "--reader", reader, "--label",
                       "opensc custodian", "--out", directory / "keymanager.pka",
                       "--pin-env", "T_CPIN", "--curve", "prime256v1")  # fmt: skip
        position = pcscd.log_position()
        run = sc_hsm_tool(reader, "--export-for-pub-key-auth", exported,
                          "--key-reference", str(key["key_reference"]))  # fmt: skip
        apdus = pcscd.log_since(position) if pcscd.logs_apdus else "(pcscd logs elsewhere)"
    assert run.returncode == 0 and exported.is_file(), f"{run.report()}\nAPDUs:\n{apdus}"

    # sc-hsm-tool writes the old layout: 30 { 67 request, 7F21 device, 7F21 DICA }.
    outer = list(iter_tlvs(exported.read_bytes()))
    assert [element.tag.hex() for element in outer] == ["30"]
    inner = [element.tag.hex() for element in iter_tlvs(outer[0].value)]
    assert inner == ["67", "7f21", "7f21"]
    from_opensc = PkaFile.parse(exported.read_bytes())
    ours = PkaFile.parse((directory / "keymanager.pka").read_bytes())
    assert from_opensc.chr == ours.chr == key["chr"]
    assert from_opensc.device_serial == custodian.serial

    with pcscd.inserted(card_in(directory, "device"), index=DEVICE_READER) as (device, _bridge):
        cli(capsys, "init", "--reader", device, "--so-pin-env", "T_SO", "--pin-env", "T_PIN",
            "--pka", "3/1", "--yes")  # fmt: skip
        before = sc_hsm_tool(device, "--public-key-auth-status")
        assert parse_pka_status(before.check().stdout) == {
            "total": 3, "missing": 3, "required": 1, "authenticated": 0,
        }, before.report()  # fmt: skip

        out, _err = cli(capsys, "pka", "register", exported, "--reader", device)
        assert out.splitlines()[0] == (
            f"Registered custodian {key['chr']} of device {custodian.serial} in slot 0."
        )
        after = sc_hsm_tool(device, "--public-key-auth-status")
        assert parse_pka_status(after.check().stdout) == {
            "total": 3, "missing": 2, "required": 1, "authenticated": 0,
        }, after.report()  # fmt: skip
        ours_status = cli_json(capsys, "pka", "status", "--reader", device)["pka"]
        assert (ours_status["total"], ours_status["registered"]) == (3, 1)
        assert slot_chrs(ours_status) == [key["chr"], None, None]

        # The same key again, now from keymanager's own file: refused, nothing changed.
        assert main(["pka", "register", str(directory / "keymanager.pka"),
                     "--reader", device, "--json"]) == 1  # fmt: skip
        assert json.loads(capsys.readouterr().out)["error"]["kind"] == "CustodianAlreadyRegistered"
        again = sc_hsm_tool(device, "--public-key-auth-status")
        assert parse_pka_status(again.check().stdout)["missing"] == 2, again.report()


def test_opensc_registers_an_exported_key_and_keymanager_reads_it(
    pcscd: PcscdHarness, opensc_tools: None, cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other way round: ``sc-hsm-tool --register-public-key`` of its own export of a
    second custodian key keymanager made; keymanager's ``pka status`` lists it."""
    directory = cards / "opensc"
    assert (directory / "device.json").is_file(), "runs after the export test"
    exported = directory / "second.pka"
    with pcscd.inserted(card_in(directory, "custodian"), index=CUSTODIAN_READER) as (
        reader,
        _bridge,
    ):
        key = cli_json(capsys, "pka", "create-key", "--reader", reader, "--label",
                       "second key", "--out", directory / "second-keymanager.pka",
                       "--pin-env", "T_CPIN")  # fmt: skip
        assert key["key_reference"] == 2
        sc_hsm_tool(reader, "--export-for-pub-key-auth", exported,
                    "--key-reference", "2").check()  # fmt: skip
    assert PkaFile.parse(exported.read_bytes()).chr == key["chr"]
    with pcscd.inserted(card_in(directory, "device"), index=DEVICE_READER) as (device, _bridge):
        registered = sc_hsm_tool(device, "--register-public-key", exported)
        assert parse_pka_status(registered.check().stdout) == {
            "total": 3, "missing": 1, "required": 1, "authenticated": 0,
        }, registered.report()  # fmt: skip
        status = cli_json(capsys, "pka", "status", "--reader", device)["pka"]
    assert (status["registered"], status["authenticated"]) == (2, 0)
    assert slot_chrs(status)[1] == key["chr"]
