"""``keymanager-cli pka`` and ``--pka-custodian`` on simulated cards kept in state files.

A 2-of-3 device initialised with ``init --pka 3/2``, three custodian cards each with a
key made by ``pka create-key``, the three ``.pka`` files registered; two custodians
(``simulator:PATH``) unlock the device for a PKCS#12 import that gets no PIN.  Combined
mode (``--pka-and-pin``) still needs the PIN.  Bad input, each a specific error.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.pka_file import PkaFile
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

PIN = "123456"
SO_PIN = "3537363231383830"
CUSTODIAN_PIN = "648219"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 1, (out, err)
    assert "Traceback" not in err
    error: dict[str, Any] = json.loads(out)["error"]
    return error


def init_device(capsys: pytest.CaptureFixture[str], state: Path, *extra: str) -> dict[str, Any]:
    return run_json(
        capsys, "init", "--simulator", str(state), "--so-pin-env", "T_SO", "--pin-env",
        "T_PIN", "--key-domains", "4", "--yes", *extra,
    )  # fmt: skip


def custodian_path(directory: Path, number: int) -> Path:
    return directory / f"custodian{number}.json"


@pytest.fixture(scope="module")
def variables() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("T_SO", SO_PIN)
        patch.setenv("T_PIN", PIN)
        patch.setenv("T_CPIN", CUSTODIAN_PIN)
        patch.setenv("T_P12", P12_PASSWORD)
        patch.setenv("T_WRONG", "000000")
        yield


@pytest.fixture(scope="module")
def base(
    tmp_path_factory: pytest.TempPathFactory,
    variables: None,
    simulator_profile: str,
    secure_messaging: str,
) -> Path:
    """dev.json (2 of 3, three keys registered), custodian1..4.json, custodian1..4.pka
    (the fourth is not registered)."""
    directory = tmp_path_factory.mktemp("pka")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(directory / "state"))
        for number in (1, 2, 3, 4):
            state = custodian_path(directory, number)
            _cli("init", "--simulator", str(state), "--so-pin-env", "T_SO",
                 "--pin-env", "T_CPIN", "--yes")  # fmt: skip
            _cli("pka", "create-key", "--simulator", str(state), "--label",
                 f"custodian {number}", "--out", str(directory / f"custodian{number}.pka"),
                 "--pin-env", "T_CPIN")  # fmt: skip
        _cli("init", "--simulator", str(directory / "dev.json"), "--so-pin-env", "T_SO",
             "--pin-env", "T_PIN", "--key-domains", "4", "--pka", "3/2", "--yes")  # fmt: skip
        for number in (1, 2, 3):
            _cli("pka", "register", str(directory / f"custodian{number}.pka"),
                 "--simulator", str(directory / "dev.json"))  # fmt: skip
    return directory


def _cli(*argv: str) -> None:
    status = main(list(argv))
    assert status == 0, argv


@pytest.fixture
def cards(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the base set for one test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    directory = tmp_path / "cards"
    shutil.copytree(base, directory, ignore=shutil.ignore_patterns("state"))
    return directory


def custodian_args(directory: Path, *numbers: int) -> list[str]:
    words = []
    for number in numbers:
        words += ["--pka-custodian", f"simulator:{custodian_path(directory, number)}"]
    return words


def serial_of(state: Path) -> str:
    return SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state))).serial()


def custodian_tries(state: Path) -> int | None:
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    return hsm.pin_status().tries_left


def test_create_register_status(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    custodian = tmp_path / "c.json"
    device = tmp_path / "d.json"
    run(capsys, "init", "--simulator", str(custodian), "--so-pin-env", "T_SO",
        "--pin-env", "T_CPIN", "--yes")  # fmt: skip
    out = tmp_path / "c.pka"
    key = run_json(capsys, "pka", "create-key", "--simulator", str(custodian), "--label",
                   "alice", "--out", str(out), "--pin-env", "T_CPIN",
                   "--curve", "prime256v1")  # fmt: skip
    serial = serial_of(custodian)
    assert key["chr"] == f"{serial}00001" and key["device_serial"] == serial
    assert key["key_reference"] == 1 and key["label"] == "alice"
    assert PkaFile.parse(out.read_bytes()).chr == key["chr"]

    result = init_device(capsys, device, "--pka", "3/2", "--pka-replaceable")
    assert result["pka"] == {"total": 3, "required": 2, "replaceable": True, "pin_too": False}
    status, text, _err = run(capsys, "pka", "register", str(out), "--simulator", str(device))
    assert status == 0
    assert text.splitlines() == [
        f"Registered custodian {key['chr']} of device {serial} in slot 0.",
        "Public key authentication: 1 of 3 keys registered, 0 authenticated (2 needed)",
    ]
    status, text, _err = run(capsys, "pka", "status", "--simulator", str(device))
    assert text.splitlines() == [
        "Public key authentication: 1 of 3 keys registered, 0 authenticated (2 needed)",
        f"  slot 0: {key['chr']}, not authenticated",
        "  slot 1: empty",
        "  slot 2: empty",
    ]


def test_two_custodians_unlock_a_pkcs12_import_without_pin(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = cards / "dev.json"
    chrs = [PkaFile.parse((cards / f"custodian{n}.pka").read_bytes()).chr for n in (1, 2, 3)]
    status = run_json(capsys, "pka", "status", "--simulator", str(device))["pka"]
    assert status["registered"] == 3 and status["authenticated"] == 0
    assert [slot["chr"] for slot in status["slots"]] == chrs

    state = run_json(capsys, "pka", "auth", "--simulator", str(device),
                     *custodian_args(cards, 1, 3),
                     "--custodian-pin-env", "T_CPIN")["pka"]  # fmt: skip
    assert state["authenticated"] == 2 and state["unlocked"] is True
    assert [slot["authenticated"] for slot in state["slots"]] == [True, False, True]

    p12 = cards / "key.p12"
    write_p12(p12, host_key("p256"), common_name="pka key")
    status_code, out, err = run(
        capsys, "import-p12", str(p12), "--simulator", str(device), "--transient",
        "--p12-password-env", "T_P12", *custodian_args(cards, 2, 3),
        "--custodian-pin-env", "T_CPIN,T_CPIN", "--json",
    )  # fmt: skip
    assert status_code == 0, err
    assert "Custodian simulator:" in err and "authenticated" in err
    result = json.loads(out)["import"]
    assert result["ok"]
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(device)))
    hsm.verify_pin(PIN)
    assert [key.label for key in KeyStore(hsm).list_keys()] == ["pka key"]

    status_code, text, _err = run(capsys, "status", "--simulator", str(device))
    assert "Public key authentication: 3 of 3 keys registered, 0 authenticated (2 needed)" in text
    audit = run_json(capsys, "audit", "--simulator", str(device), *custodian_args(cards, 1, 2),
                     "--custodian-pin-env", "T_CPIN")  # fmt: skip
    assert audit["pka"]["authenticated"] == 2 and audit["pka"]["unlocked"] is True


def test_without_custodians_the_pin_is_asked(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only one of the two custodians: the import asks for the PIN (no terminal here)."""
    p12 = cards / "key.p12"
    write_p12(p12, host_key("p256"), common_name="pka key")
    status, _out, err = run(
        capsys, "import-p12", str(p12), "--simulator", str(cards / "dev.json"), "--transient",
        "--p12-password-env", "T_P12", *custodian_args(cards, 1), "--custodian-pin-env",
        "T_CPIN",
    )  # fmt: skip
    assert status == 1
    assert "3 of 3 keys registered, 1 authenticated (2 needed)" in err
    assert "--pin-env" in err.strip().splitlines()[-1]


def test_pka_and_pin_still_needs_the_pin(
    cards: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = tmp_path / "combined.json"
    init_device(capsys, device, "--pka", "2/2", "--pka-and-pin")
    for number in (1, 2):
        run_json(capsys, "pka", "register", str(cards / f"custodian{number}.pka"),
                 "--simulator", str(device))  # fmt: skip
    p12 = cards / "key.p12"
    write_p12(p12, host_key("p256"), common_name="combined key")
    words = ["import-p12", str(p12), "--simulator", str(device), "--transient",
             "--p12-password-env", "T_P12", *custodian_args(cards, 1, 2),
             "--custodian-pin-env", "T_CPIN"]  # fmt: skip
    status, _out, err = run(capsys, *words)
    assert status == 1 and "--pin-env" in err.strip().splitlines()[-1]
    status, out, err = run(capsys, *words, "--pin-env", "T_PIN", "--json")
    assert status == 0, err
    assert json.loads(out)["import"]["ok"]
    text = run(capsys, "pka", "status", "--simulator", str(device))[1]
    assert "the user PIN is needed as well" in text


def test_tampered_pka_file(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = cards / "custodian4.pka"
    pka = PkaFile.parse(source.read_bytes())
    data = bytearray(source.read_bytes())
    data[bytes(data).index(pka.device.signature) + 5] ^= 0x01
    bad = cards / "tampered.pka"
    bad.write_bytes(bytes(data))
    before = (cards / "dev.json").read_bytes()
    error = error_of(capsys, "pka", "register", str(bad), "--simulator", str(cards / "dev.json"))
    assert error["kind"] == "PkaFileRejected" and error["nothing_changed"] is True
    assert "tampered.pka" in error["message"] and "does not verify" in error["message"]
    assert (cards / "dev.json").read_bytes() == before


def test_registered_twice_and_no_free_slot(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = str(cards / "dev.json")
    error = error_of(
        capsys, "pka", "register", str(cards / "custodian2.pka"), "--simulator", device
    )
    assert error["kind"] == "CustodianAlreadyRegistered" and "slot 1" in error["message"]
    error = error_of(
        capsys, "pka", "register", str(cards / "custodian4.pka"), "--simulator", device
    )
    assert error["kind"] == "NoFreePkaSlot" and "--slot N" in error["message"]
    error = error_of(capsys, "pka", "register", str(cards / "custodian4.pka"), "--simulator",
                     device, "--slot", "0", "--yes")  # fmt: skip
    assert error["kind"] == "PkaReplaceRefused" and "--pka-replaceable" in error["message"]


def test_unregistered_custodian(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tries = custodian_tries(custodian_path(cards, 4))
    error = error_of(capsys, "pka", "auth", "--simulator", str(cards / "dev.json"),
                     *custodian_args(cards, 1, 4), "--custodian-pin-env", "T_CPIN")  # fmt: skip
    assert error["kind"] == "CustodianNotRegistered"
    assert "custodian4.json" in error["message"] and "pka register" in error["message"]
    assert "custodian1.json" in error["message"]  # stays authenticated in this session
    assert custodian_tries(custodian_path(cards, 4)) == tries


def test_wrong_custodian_pin(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second = custodian_path(cards, 2)
    tries = custodian_tries(second)
    assert tries is not None
    before = (cards / "dev.json").read_bytes()
    error = error_of(capsys, "pka", "auth", "--simulator", str(cards / "dev.json"),
                     *custodian_args(cards, 1, 2),
                     "--custodian-pin-env", "T_CPIN,T_WRONG")  # fmt: skip
    assert error["kind"] == "CustodianPinWrong" and error["nothing_changed"] is True
    assert f"{tries - 1} tries left" in error["message"]
    assert custodian_tries(second) == tries - 1
    assert custodian_tries(custodian_path(cards, 1)) == tries  # verified: reset to full
    assert (cards / "dev.json").read_bytes() == before


def test_custodian_card_that_cannot_be_opened(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = error_of(
        capsys, "pka", "auth", "--simulator", str(cards / "dev.json"),
        *custodian_args(cards, 1), "--pka-custodian", f"simulator:{cards / 'gone.json'}",
        *custodian_args(cards, 3), "--custodian-pin-env", "T_CPIN",
    )  # fmt: skip
    assert error["kind"] == "CustodianCardUnavailable"
    assert "gone.json" in error["message"] and "custodian1.json" in error["message"]
    assert not (cards / "gone.json").exists()


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--custodian-pin-env", "A,B,C"], "3 variables for 2 custodian card(s)"),
        (["--custodian-pin-env", "T_CPIN", "--no-such"], "unrecognized arguments"),
    ],
    ids=["variables", "usage"],
)
def test_custodian_option_errors(
    cards: Path, capsys: pytest.CaptureFixture[str], words: list[str], message: str
) -> None:
    try:
        status, _out, err = run(capsys, "keys", "--simulator", str(cards / "dev.json"),
                                *custodian_args(cards, 1, 2), *words)  # fmt: skip
    except SystemExit as exit_:
        status, err = int(exit_.code or 0), capsys.readouterr().err
        assert status == 2
    else:
        assert status == 1
    assert message in err


def test_init_pka_usage_errors(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("2/3", "3", "0/0", "91/1"):
        with pytest.raises(SystemExit) as exit_:
            main(["init", "--simulator", str(cards / "x.json"), "--pka", value])
        assert exit_.value.code == 2
        assert "N/M" in capsys.readouterr().err
    status, _out, err = run(capsys, "init", "--simulator", str(cards / "x.json"),
                            "--so-pin-env", "T_SO", "--pin-env", "T_PIN", "--pka-and-pin",
                            "--yes")  # fmt: skip
    assert status == 1 and "go with --pka N/M" in err


def test_custodian_pin_variables_follow_their_custodians(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second turn of custodian 1 asks no PIN: T_WRONG is never used, custodian 2
    still gets the third variable."""
    state = run_json(capsys, "pka", "auth", "--simulator", str(cards / "dev.json"),
                     *custodian_args(cards, 1, 1, 2),
                     "--custodian-pin-env", "T_CPIN,T_WRONG,T_CPIN")["pka"]  # fmt: skip
    assert state["authenticated"] == 2 and state["unlocked"] is True
