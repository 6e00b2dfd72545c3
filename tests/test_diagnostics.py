"""keymanager.diagnostics: the private log file, redaction, the environment, card probes."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keymanager import diagnostics
from keymanager.card.apdu import TRAFFIC
from keymanager.card.errors import ExtendedLengthUnsupported
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main as cli_main
from keymanager.diagnostics import (
    EXTENDED_LENGTH,
    Finding,
    RedactionFilter,
    Severity,
    close_logging,
    configure_logging,
    likely_card_holders,
    probe_card,
)
from keymanager.simulator import SmartCardHsmSimulator

SO_PIN = "3537363231383830"  # a new device's SO-PIN
NEW_SO_PIN = "A1B2C3D4E5F60718"
PIN = "Traffic#PIN42"  # not hex, so no APDU trace can contain it by chance


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state" / "keymanager"
    yield directory
    close_logging()
    logging.getLogger("keymanager").setLevel(logging.NOTSET)


def _records(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- the log file --------------------------------------------------------------------


def test_log_file_is_private_and_starts_with_the_environment(log_dir: Path) -> None:
    path = configure_logging(log_dir, level="INFO", readers=False)
    assert path == log_dir / "keymanager.log"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    text = _records(path)
    assert "INFO keymanager.log_file" in text
    for key in ("keymanager=", "os=", "python=", "qt=", "pyscard=", "pcsc-lite="):
        assert key in text, key
    assert f"python=CPython {sys.version.split()[0]}" in text


def test_log_file_stays_private_after_rotation_and_with_a_loose_umask(log_dir: Path) -> None:
    old_umask = os.umask(0o000)
    try:
        path = configure_logging(log_dir, level=logging.DEBUG, summary=False)
        logging.getLogger("keymanager.test").debug("before rotation")
        (handler,) = [
            h
            for h in logging.getLogger("keymanager").handlers
            if isinstance(h, diagnostics.PrivateRotatingFileHandler)
        ]
        handler.doRollover()
        logging.getLogger("keymanager.test").debug("after rotation")
    finally:
        os.umask(old_umask)
    rotated = path.with_name("keymanager.log.1")
    assert "before rotation" in _records(rotated)
    assert "after rotation" in _records(path)
    for file in (path, rotated):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_existing_log_file_with_loose_mode_is_tightened(log_dir: Path) -> None:
    log_dir.mkdir(parents=True)
    path = log_dir / "keymanager.log"
    path.write_text("old line\n")
    path.chmod(0o644)
    configure_logging(log_dir, summary=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _records(path).startswith("old line\n")


def test_level_comes_from_the_environment(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYMANAGER_LOG_LEVEL", "traffic")
    path = configure_logging(log_dir, summary=False)
    logging.getLogger("keymanager.card.apdu").log(TRAFFIC, "SEND 00 A4 04 04 E82B0601")
    logging.getLogger("keymanager.card.apdu").log(TRAFFIC - 1, "below traffic")
    text = _records(path)
    assert "TRAFFIC keymanager.card.apdu" in text
    assert "below traffic" not in text
    monkeypatch.setenv("KEYMANAGER_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(log_dir, summary=False)


def test_configuring_again_replaces_the_handler(log_dir: Path) -> None:
    configure_logging(log_dir, summary=False)
    configure_logging(log_dir, level="WARNING", summary=False)
    ours = [
        h
        for h in logging.getLogger("keymanager").handlers
        if isinstance(h, diagnostics.PrivateRotatingFileHandler)
    ]
    assert len(ours) == 1 and ours[0].level == logging.WARNING


# --- redaction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "secret", "kept"),
    [
        ("SEND VERIFY: 00 20 00 81 363438323139", "363438323139", "00 20 00 81 <6 bytes"),
        ("SEND INITIALIZE: 80 50 00 00 8108" + "35" * 8, "35" * 8, "80 50 00 00 <10 bytes"),
        ("SEND 80 52 00 00 " + "AB" * 32, "AB" * 32, "80 52 00 00 <32 bytes"),
        ("unlock with pin=648219 now", "648219", "pin=<redacted>"),
        ("settings {'so_pin': '3537363231383830'}", "3537363231383830", "'so_pin': <redacted>"),
        ("user PIN: 648219", "648219", "PIN: <redacted>"),
        ("password: hunter2 given", "hunter2", "password: <redacted>"),
        ('{"new_password": "correct horse"}', "correct horse", '"new_password": <redacted>'),
    ],
)
def test_redaction_blanks_secrets(message: str, secret: str, kept: str) -> None:
    redacted = RedactionFilter().redact(message)
    assert secret not in redacted
    assert kept in redacted


@pytest.mark.parametrize(
    "message",
    [
        "SEND SELECT applet: 00 A4 04 04 E82B0601 Le=max",
        "SEND VERIFY: 00 20 00 81 <6 bytes redacted>",
        "User PIN: not verified, 3 tries left",
        "SO-PIN: 15 tries left",
        "pin=3 tries",
        "RECV 6F1A8201 SW=9000",
    ],
)
def test_redaction_keeps_what_is_not_secret(message: str) -> None:
    assert RedactionFilter().redact(message) == message


def test_redaction_of_secret_answers_follows_the_command(log_dir: Path) -> None:
    path = configure_logging(log_dir, level=TRAFFIC, summary=False)
    trace = logging.getLogger("keymanager.card.apdu")
    trace.log(TRAFFIC, "SEND %s", "WRAP KEY: 80 72 01 92")
    trace.log(TRAFFIC, "RECV %s SW=%04X", "C0FFEE" * 10, 0x9000)
    trace.log(TRAFFIC, "SEND %s", "READ BINARY: 00 B1 2F 02 54020000")
    trace.log(TRAFFIC, "RECV %s SW=%04X", "7F2181", 0x9000)
    text = _records(path)
    assert "C0FFEE" not in text
    assert "RECV <30 bytes redacted> SW=9000" in text
    assert "RECV 7F2181 SW=9000" in text


def test_redaction_reaches_arguments_and_tracebacks(log_dir: Path) -> None:
    path = configure_logging(log_dir, level="DEBUG", summary=False)
    log = logging.getLogger("keymanager.test")
    log.info("login with %s", "pin=Zz7781Q")
    try:
        raise RuntimeError("password=SwordFish9")
    except RuntimeError:
        log.exception("failed")
    text = _records(path)
    assert "Zz7781Q" not in text and "SwordFish9" not in text
    assert "login with pin=<redacted>\n" in text
    assert "RuntimeError: password=<redacted>\n" in text
    assert "RuntimeError" in text


# --- a whole workflow at TRAFFIC level leaves no secret in the log -------------------


def _forms(secret: str | bytes) -> list[str]:
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]
    if isinstance(secret, str):
        forms.append(secret)
    spaced = " ".join(f"{byte:02X}" for byte in raw)
    forms.append(spaced)
    return forms


def test_init_and_share_import_at_traffic_level_log_no_secret(
    log_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    vectors: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    share_password = vectors["share_file"]["password_ascii"]
    share = bytes.fromhex(vectors["share_file"]["share_hex"])
    share_file = tmp_path / "custodian.pbe"
    share_file.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    monkeypatch.setenv("T_SO_PIN", SO_PIN)
    monkeypatch.setenv("T_NEW_SO_PIN", NEW_SO_PIN)
    monkeypatch.setenv("T_PIN", PIN)
    monkeypatch.setenv("T_SHARE_PASSWORD", share_password)
    state = tmp_path / "card.json"

    path = configure_logging(log_dir, level=TRAFFIC, readers=False)
    common = ["--simulator", str(state)]
    assert (
        cli_main(
            [
                "init",
                *common,
                "--so-pin-env",
                "T_SO_PIN",
                "--new-so-pin-env",
                "T_NEW_SO_PIN",
                "--pin-env",
                "T_PIN",
                "--dkek-shares",
                "1",
                "--yes",
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert "Device initialised" in capsys.readouterr().out
    assert (
        cli_main(
            [
                "share",
                "import",
                str(share_file),
                *common,
                "--password-env",
                "T_SHARE_PASSWORD",
                "--pin-env",
                "T_PIN",
                "--json",
            ]
        )
        == 0
    ), capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["shares_outstanding"] == 0
    close_logging()

    text = _records(path)
    # The trace was on: commands of both workflows are in the log, their data redacted.
    assert "SEND" in text and "RECV" in text
    assert "80 50 00 00 <" in text  # INITIALIZE
    assert "80 52 00 00 <" in text  # IMPORT DKEK SHARE
    assert "00 20 00 81 <" in text  # VERIFY
    secrets: list[str | bytes] = [PIN, SO_PIN, NEW_SO_PIN, share_password, share]
    secrets += [bytes.fromhex(SO_PIN), bytes.fromhex(NEW_SO_PIN)]
    hits = [form for secret in secrets for form in _forms(secret) if form in text]
    assert hits == []


# --- who holds the card --------------------------------------------------------------


def test_likely_holders_name_a_running_scdaemon(fake_scdaemon: subprocess.Popen[bytes]) -> None:
    holders = likely_card_holders()
    mine = [h for h in holders if h.pid == fake_scdaemon.pid]
    assert len(mine) == 1
    assert mine[0].program == "scdaemon"
    assert "gpgconf --kill scdaemon" in mine[0].description
    assert all(holder.pid != os.getpid() for holder in holders)
    advice = diagnostics.card_in_use_advice(holders)
    assert f"scdaemon (pid {fake_scdaemon.pid})" in advice
    assert "never stops other programs" in advice
    assert fake_scdaemon.poll() is None  # named, never killed


def test_likely_holders_without_proc(tmp_path: Path) -> None:
    assert likely_card_holders(tmp_path / "no-proc") == []
    assert diagnostics.pcscd_running(tmp_path / "no-proc") is None


# --- probing a card ------------------------------------------------------------------


@pytest.fixture
def initialised_card(tmp_path: Path) -> SmartCardHsmSimulator:
    from keymanager.card.hsm_types import InitParams

    card = SmartCardHsmSimulator(tmp_path / "card.json", seed=b"diagnostics")
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(
        InitParams(so_pin=bytes.fromhex(SO_PIN), user_pin=b"648219", retry_counter=3, dkek_shares=2)
    )
    return card


def test_probe_reports_version_pins_and_key_domains(
    initialised_card: SmartCardHsmSimulator,
) -> None:
    report = probe_card(LocalTransport(initialised_card, name="Sim"))
    assert report.applet is True
    assert report.version == "4.0"
    assert report.serial is not None and report.serial.startswith("UTSIM")
    assert report.device_certificate == "unverified (simulator)"
    assert report.user_pin is not None and report.user_pin["tries_left"] == 3
    assert report.so_pin is not None and report.so_pin["tries_left"] == 15
    assert report.key_domains == [
        {"domain": 0, "type": "DKEK", "shares_total": 2, "shares_outstanding": 2, "kcv": None}
    ]
    assert report.extended_length is True
    assert report.objects is not None
    assert [f.check for f in report.findings] == ["key domains"]
    assert "waits for 2 of 2" in report.findings[0].message
    assert json.dumps(report.as_dict())  # plain data


def test_probe_of_a_blank_card_says_initialise(tmp_path: Path) -> None:
    report = probe_card(LocalTransport(SmartCardHsmSimulator(tmp_path / "blank.json")))
    (finding,) = [f for f in report.findings if f.check == "user PIN"]
    assert finding.severity is Severity.WARNING
    assert "keymanager-cli init" in finding.advice


def test_probe_of_a_card_pulled_out_says_so(initialised_card: SmartCardHsmSimulator) -> None:
    transport = LocalTransport(initialised_card, name="Sim")
    initialised_card.faults.remove_at(3)
    report = probe_card(transport)
    (finding,) = [f for f in report.findings if f.severity is Severity.ERROR]
    assert finding.check == "card"
    assert "removed" in finding.message or "pulled out" in finding.message
    assert finding.advice == diagnostics.CARD_REMOVED


class _ShortOnlyReader(LocalTransport):
    """A reader that cannot pass extended-length APDUs, as some old CCID readers."""

    def __init__(self, card: SmartCardHsmSimulator) -> None:
        super().__init__(card, name="Short-only reader")
        self._extended = True

    @property
    def supports_extended_length(self) -> bool:
        return self._extended

    def transmit(self, apdu: bytes) -> bytes:
        if len(apdu) > 5 and apdu[4] == 0:
            self._extended = False
            raise ExtendedLengthUnsupported("the reader dropped an extended APDU")
        return super().transmit(apdu)


def test_probe_reports_a_reader_without_extended_length(
    initialised_card: SmartCardHsmSimulator,
) -> None:
    report = probe_card(_ShortOnlyReader(initialised_card))
    assert report.extended_length is False
    assert report.version == "4.0"  # everything still worked over short APDUs
    (finding,) = [f for f in report.findings if f.check == "extended length"]
    assert finding.severity is Severity.WARNING
    assert finding.advice == EXTENDED_LENGTH


class _NotAnHsm:
    """A card without the SmartCard-HSM applet (answers 6A82 to SELECT)."""

    def power_on(self) -> bytes:
        return bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")

    def process_apdu(self, apdu: bytes) -> bytes:
        return bytes.fromhex("6A82")


def test_probe_of_another_card_says_it_is_not_a_smartcard_hsm() -> None:
    report = probe_card(LocalTransport(_NotAnHsm(), name="Other card"))
    assert report.applet is False
    (finding,) = report.findings
    assert finding.severity is Severity.ERROR
    assert "SmartCard-HSM" in finding.advice


def test_finding_as_dict() -> None:
    finding = Finding("pcscd", Severity.ERROR, "down", "start it")
    assert finding.as_dict() == {
        "check": "pcscd",
        "severity": "error",
        "message": "down",
        "advice": "start it",
    }


# --- import hygiene ------------------------------------------------------------------


def test_imports_without_qt_and_pyscard_and_says_pyscard_is_missing() -> None:
    code = (
        "import sys, json\n"
        "sys.modules['smartcard'] = None\n"
        "import keymanager.diagnostics as d, keymanager.cli.diagnose\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'PySide6')\n"
        "result = d.diagnose()\n"
        "print(json.dumps({'bad': bad, 'findings': [f.as_dict() for f in result.findings]}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["bad"] == []
    (finding,) = output["findings"]
    assert finding["check"] == "pyscard" and finding["severity"] == "error"
    assert "pip install pyscard" in finding["advice"]


def test_log_file_rotates_by_size_and_keeps_the_backups(log_dir: Path) -> None:
    path = configure_logging(log_dir, level=logging.DEBUG, summary=False)
    (handler,) = [
        h
        for h in logging.getLogger("keymanager").handlers
        if isinstance(h, diagnostics.PrivateRotatingFileHandler)
    ]
    handler.max_bytes = 400
    for number in range(40):
        logging.getLogger("keymanager.test").debug("record %02d %s", number, "x" * 40)
    names = sorted(p.name for p in log_dir.iterdir())
    assert names == [
        "keymanager.log",
        "keymanager.log.1",
        "keymanager.log.2",
        "keymanager.log.3",
    ]
    assert "record 39" in _records(path)
    assert all(p.stat().st_size < 400 for p in log_dir.iterdir())
    assert "record 00" not in "".join(_records(p) for p in log_dir.iterdir())


def test_the_log_file_module_loads_no_card_module_and_shares_the_traffic_level() -> None:
    import subprocess

    from keymanager.card import apdu
    from keymanager.log_file import TRAFFIC as LOG_FILE_TRAFFIC

    assert LOG_FILE_TRAFFIC == apdu.TRAFFIC
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, keymanager.log_file; "
            "print(sorted(m for m in sys.modules if m.startswith('keymanager.card') "
            "or m == 'logging.handlers'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"
