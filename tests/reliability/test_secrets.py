"""Secrets scan (issue 7): every workflow with known secrets, then a search for them.

One simulated card goes through every workflow in turn (the tests of this module run in
order and share the :class:`Run`): initialisation twice (a DKEK-shares plan, then key
domains, each changing the SO-PIN), the share ceremony (a password file with a PaperKey,
an n-of-m file with printed fragments and a PaperKey, a PaperKey alone), the import of
one share by each of the three routes, the classic and the transient PKCS#12 import, key
generation (RSA, EC, AES), backup and restore, delete, PIN change / unblock / set and
SO-PIN change, the audit report and diagnose; then induced failures (wrong share
password, wrong PKCS#12 password, wrong PIN and SO-PIN, a card pulled at each APDU of a
transient import) and failed writes (read-only directory, a name too long for the
temporary file, a file-size limit standing in for a full disk).

Every secret used or made on the way (the card's random shares and keys are read back
after the fact) is searched in every encoding of :mod:`._secrets_support` in: the
rotating log at its most verbose level (APDU traces included), the CLI's captured
output (in-process and as real subprocesses), a private ``TMPDIR`` (must stay empty),
the state directory (journals), every file under the run's directory except the
simulator's own state files (the card: it holds the secrets by design), and the texts
and tracebacks of the induced failures.  Every file the process opens for writing is
recorded through an audit hook, so a file created and removed within a step is caught
by name.  The hits are counted per location and workflow; all must be zero.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import errno
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager import diagnostics
from keymanager.card.errors import CardError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main as cli_main
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.errors import WrongPassword
from keymanager.dkek.nofm import (
    PasswordShare,
    candidate_passwords,
    parse_prime,
    parse_share_id,
    parse_share_value,
)
from keymanager.dkek.paperkey import decode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import ShareCreationPlan, create_share, import_shares
from keymanager.workflows.errors import WorkflowError, WrongPinEntered
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import (
    FileShareInput,
    NofMShareInput,
    PaperKeyShareInput,
    ScriptedInteraction,
)
from keymanager.workflows.pins import change_pin, unblock_pin
from keymanager.workflows.pkcs12 import Pkcs12WrongPassword, open_pkcs12
from keymanager.workflows.plugins.transient_import import transient_import
from keymanager.workflows.shares import read_share
from tests.reliability._secrets_support import (
    Hit,
    LogFollower,
    Scanner,
    SecretBook,
    mode,
    tree_files,
)
from tests.support.figures import record
from tests.workflows.p12_support import write_p12

# The secrets a person types.  Distinctive, so a hit is never a coincidence.
DEFAULT_SO_PIN = "3537363231383830"  # a new device's: public, but searched all the same
SO_PIN_1 = "5EC2E7A1B0C4D9F3"
SO_PIN_2 = "A7D4C0FFEE91B2E6"
SO_PIN_3 = "0D15EA5E8BADF00D"
PIN_1 = "73915268"  # digits only: found as text and as decimal bytes
PIN_2 = "Qv7#pinNEW"
PIN_3 = "Rz9$pinSET"
WRONG_PIN = "80645317"
WRONG_SO_PIN = "FEEDFACE12345678"
SHARE_PASSWORD = "Custodian-One/pw#4411"
WRONG_SHARE_PASSWORD = "Custodian-One/pw#4412"
P12_CLASSIC_PASSWORD = "Classic&P12*pass:7731"
P12_TRANSIENT_PASSWORD = "Transient&P12*pass:9902"
WRONG_P12_PASSWORD = "Wrong&P12*pass:0000"

ENVIRONMENT = {
    "S_DEFAULT_SO_PIN": DEFAULT_SO_PIN,
    "S_SO_PIN_1": SO_PIN_1,
    "S_SO_PIN_2": SO_PIN_2,
    "S_SO_PIN_3": SO_PIN_3,
    "S_PIN_1": PIN_1,
    "S_PIN_2": PIN_2,
    "S_PIN_3": PIN_3,
    "S_WRONG_PIN": WRONG_PIN,
    "S_WRONG_SO_PIN": WRONG_SO_PIN,
    "S_SHARE_PASSWORD": SHARE_PASSWORD,
    "S_WRONG_SHARE_PASSWORD": WRONG_SHARE_PASSWORD,
    "S_P12_CLASSIC": P12_CLASSIC_PASSWORD,
    "S_P12_TRANSIENT": P12_TRANSIENT_PASSWORD,
    "S_WRONG_P12": WRONG_P12_PASSWORD,
}

LOG_LEVEL = 1
"""The most verbose level there is (below TRAFFIC = 5, so every APDU trace is in)."""


# --- the run --------------------------------------------------------------------------


@dataclass
class Run:
    """Directories, the card, the secrets and the scanner shared by the module's tests."""

    root: Path
    cards: Path
    work: Path
    tmp: Path
    state_home: Path
    book: SecretBook = field(default_factory=SecretBook)
    scanner: Scanner = field(init=False)
    written: list[tuple[str, str]] = field(default_factory=list)
    recording: str | None = None
    allowed: dict[Path, set[str]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    subprocesses: int = 0
    cli_runs: int = 0

    def __post_init__(self) -> None:
        self.scanner = Scanner(self.book)
        self.follower = LogFollower(self.state_dir)

    @property
    def state_dir(self) -> Path:
        return self.state_home / "keymanager"

    @property
    def card(self) -> Path:
        return self.cards / "card.json"

    def card_args(self, *extra: str) -> list[str]:
        return ["--simulator", str(self.card), *extra]

    def session(self, path: Path | None = None) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
        simulator = SmartCardHsmSimulator(path or self.card)
        return simulator, SmartCardHsm.open(LocalTransport(simulator))

    # -- running the CLI -----------------------------------------------------------------

    def cli(
        self, capsys: pytest.CaptureFixture[str], workflow: str, *argv: str, status: int = 0
    ) -> str:
        """``keymanager-cli ARGV`` in this process; scans its output; returns stdout."""
        self.cli_runs += 1
        code = cli_main(list(argv))
        out, err = capsys.readouterr()
        self.scan_output("CLI output (in-process)", out + err, workflow, " ".join(argv[:2]))
        assert code == status, f"{argv}: {code}\n{err}"
        return out

    def cli_json(self, capsys: pytest.CaptureFixture[str], workflow: str, *argv: str) -> Any:
        return json.loads(self.cli(capsys, workflow, *argv, "--json"))

    def subprocess(self, workflow: str, *argv: str, status: int = 0) -> str:
        """``keymanager-cli ARGV`` as a real process (log at TRAFFIC, private TMPDIR)."""
        self.subprocesses += 1
        environment = {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "XDG_STATE_HOME": str(self.state_home),
            "KEYMANAGER_LOG_LEVEL": str(LOG_LEVEL),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        completed = subprocess.run(
            [sys.executable, "-m", "keymanager.cli.main", *argv],
            capture_output=True,
            env=environment,
            timeout=120,
            check=False,
        )
        self.scan_output(
            "CLI output (subprocess)",
            (completed.stdout + completed.stderr).decode("utf-8", "replace"),
            workflow,
            " ".join(argv[:2]),
        )
        assert completed.returncode == status, completed.stderr.decode()
        return completed.stdout.decode()

    # -- scanning ------------------------------------------------------------------------

    def scan_output(self, location: str, text: str, workflow: str, where: str) -> None:
        hits = self.scanner.scan_text(location, text, workflow=workflow, where=where)
        assert not hits, _report(hits)

    def scan_exception(self, error: BaseException, workflow: str) -> str:
        """Format ``error`` with its traceback (no locals) as the app would and scan it."""
        text = "".join(traceback.format_exception(error)) + f"\n{error}\n{error!r}\n"
        hits = self.scanner.scan_text(
            "exception texts and tracebacks", text, workflow=workflow, where=type(error).__name__
        )
        assert not hits, _report(hits)
        return text

    def step(self, workflow: str) -> None:
        """After a workflow: scan the new log lines, TMPDIR, the state directory and
        every file under the run's directory (but the card's own state files)."""
        hits: list[Hit] = []
        for name, data in self.follower.new_bytes():
            hits += self.scanner.scan("log files", data, workflow=workflow, where=name)
        self.scanner.scan("log files", b"", workflow=workflow)
        left_in_tmp = tree_files(self.tmp)
        for path in left_in_tmp:
            hits += self.scanner.scan(
                "temporary directory", path.read_bytes(), workflow=workflow, where=str(path)
            )
        self.scanner.scan("temporary directory", b"", workflow=workflow)
        logs = list(self.state_dir.glob("keymanager.log*"))
        for path in tree_files(self.state_home, exclude=logs):
            hits += self.scanner.scan(
                "state directory", path.read_bytes(), workflow=workflow, where=path.name
            )
        self.scanner.scan("state directory", b"", workflow=workflow)
        for path in tree_files(self.work):
            allowed = self.allowed.get(path, set())
            hits += self.scanner.scan(
                "files on disk",
                path.read_bytes(),
                workflow=workflow,
                where=str(path.relative_to(self.work)),
                allowed=allowed,
            )
        self.scanner.scan("files on disk", b"", workflow=workflow)
        assert not hits, _report(hits)
        assert left_in_tmp == [], f"{workflow} left files in TMPDIR: {left_in_tmp}"
        self.check_written(workflow)

    def check_written(self, workflow: str) -> None:
        """Every file this process opened for writing is one the app may write."""
        allowed_roots = [self.work, self.cards, self.state_dir]
        for name, step in self.written:
            path = Path(name)
            assert not path.is_relative_to(self.tmp), f"{step}: wrote {path} in TMPDIR"
            assert any(path.is_relative_to(root) for root in allowed_roots), (
                f"{step}: wrote {path} outside the run's directories"
            )

    # -- learning secrets after the fact ---------------------------------------------------

    def learn_card_keys(self) -> None:
        """Every private key on the card (read from the simulator's state, the card)."""
        simulator = SmartCardHsmSimulator(self.card)
        for reference, key in simulator.state.keys.items():
            if reference == 0:  # the device key: the card's, never handled by the app
                continue
            self.learn_key(f"card key {reference}", key)

    def learn_key(self, name: str, key: Any) -> None:
        if key.kind == "rsa":
            private = _rsa_from(key.p, key.q, key.e)
            self.learn_rsa(name, private)
        elif key.kind == "ec":
            self.book.add_number(f"{name}: EC private value", key.d)
        elif key.kind == "aes":
            self.book.add_bytes(f"{name}: AES key", key.secret)

    def learn_rsa(self, name: str, private: rsa.RSAPrivateKey) -> None:
        numbers = private.private_numbers()
        for part, value in (
            ("d", numbers.d),
            ("p", numbers.p),
            ("q", numbers.q),
            ("dP", numbers.dmp1),
            ("dQ", numbers.dmq1),
            ("qInv", numbers.iqmp),
        ):
            self.book.add_number(f"{name}: RSA {part}", value)

    def learn_paperkey(self, name: str, lines: list[str]) -> bytes:
        share = decode_paperkey(lines)
        self.book.add_bytes(f"{name} share", share)
        for number, line in enumerate(lines, start=1):
            groups = line.split(":", 1)[-1].strip()
            self.book.add_text(f"{name} PaperKey line {number}", groups)
            self.book.add_text(f"{name} PaperKey line {number} compact", groups.replace(" ", ""))
        return share


def _rsa_from(p: int, q: int, e: int) -> rsa.RSAPrivateKey:
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def _report(hits: list[Hit]) -> str:
    return "secret found:\n" + "\n".join(str(hit) for hit in hits[:20])


def _pdf_lines(path: Path) -> list[str]:
    return [
        re.sub(rb"\\(.)", rb"\1", match.group(1)).decode("latin-1").strip()
        for match in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", path.read_bytes())
    ]


_ACTIVE: list[Run] = []


def _audit(event: str, arguments: tuple[Any, ...]) -> None:
    """Record every file the process opens for writing while a run is active."""
    if event != "open" or not _ACTIVE or _ACTIVE[-1].recording is None:
        return
    path, how, flags = ([*list(arguments), None, None, None])[:3]
    if not isinstance(path, str | bytes | os.PathLike):
        return
    writes = (isinstance(how, str) and any(c in how for c in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    )
    if writes:
        run = _ACTIVE[-1]
        run.written.append((os.fsdecode(os.path.abspath(path)), run.recording or ""))


_hook_installed = False


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    global _hook_installed
    root = tmp_path_factory.mktemp("secrets")
    directories = [root / name for name in ("cards", "work", "tmp", "state")]
    for directory in directories:
        directory.mkdir(mode=0o700)
    the_run = Run(root, *directories)
    for name, value in ENVIRONMENT.items():
        the_run.book.add_text(name.removeprefix("S_").replace("_", " ").lower(), value)
    for so_pin in (DEFAULT_SO_PIN, SO_PIN_1, SO_PIN_2, SO_PIN_3, WRONG_SO_PIN):
        the_run.book.add_bytes(f"SO-PIN {so_pin[:4]}… as bytes", bytes.fromhex(so_pin))
    saved_environment = {name: os.environ.get(name) for name in [*ENVIRONMENT, "TMPDIR"]}
    saved_tempdir = tempfile.tempdir
    os.environ.update(ENVIRONMENT)
    os.environ["TMPDIR"] = str(the_run.tmp)
    tempfile.tempdir = str(the_run.tmp)
    package = logging.getLogger("keymanager")
    saved_level = package.level
    diagnostics.configure_logging(the_run.state_dir, level=LOG_LEVEL, readers=False)
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    _ACTIVE.append(the_run)
    try:
        yield the_run
    finally:
        _ACTIVE.remove(the_run)
        diagnostics.close_logging()
        package.setLevel(saved_level)
        tempfile.tempdir = saved_tempdir
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


CEREMONY_WORKFLOW_TESTS = {
    "test_init_with_a_dkek_shares_plan_then_key_domains",
    "test_share_ceremony_password_file_n_of_m_and_paperkeys",
    "test_share_import_by_the_three_routes",
    "test_pkcs12_classic_and_transient_import",
    "test_generate_backup_restore_delete",
    "test_pin_change_unblock_set_and_so_pin_change",
}
"""The tests whose workflows run inside a ceremony (issue 18), so the ceremony record is
scanned like the log (the failure tests run outside it)."""


def ceremony_record_of(run: Run) -> Path:
    return run.work / "ceremony.jsonl"


@pytest.fixture(autouse=True)
def _in_a_ceremony(run: Run, request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the workflow tests inside one rehearsal ceremony (no witness: scripted)."""
    if request.node.originalname not in CEREMONY_WORKFLOW_TESTS:
        yield
        return
    from keymanager.workflows.ceremony_record import Participant, start_record
    from keymanager.workflows.ceremony_session import CeremonySession
    from keymanager.workflows.ceremony_session import recording as ceremony_recording

    record = ceremony_record_of(run)
    if not record.exists():
        start_record(
            record,
            title="secrets scan",
            participants=[Participant("Olga Officer", "security officer")],
            rehearsal=True,
        )
    with ceremony_recording(CeremonySession(record, "Olga Officer", rehearsal=True)):
        yield


@pytest.fixture(autouse=True)
def _state_home(
    run: Run, private_state_directory: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The run's state directory for every test (the suite's default is one per test)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(run.state_home))
    yield


@contextlib.contextmanager
def recording(run: Run, workflow: str) -> Iterator[None]:
    run.recording = workflow
    try:
        yield
    finally:
        run.recording = None
    run.step(workflow)


# --- the workflows, in order ------------------------------------------------------------


def test_init_with_a_dkek_shares_plan_then_key_domains(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    with recording(run, "init"):
        first = run.cli_json(
            capsys,
            "init",
            "init",
            *run.card_args("--so-pin-env", "S_DEFAULT_SO_PIN", "--new-so-pin-env", "S_SO_PIN_1"),
            "--pin-env",
            "S_PIN_1",
            "--dkek-shares",
            "2",
            "--yes",
        )
        assert first["scheme"] == "dkek-shares"
        second = run.cli_json(
            capsys,
            "init",
            "init",
            *run.card_args("--so-pin-env", "S_SO_PIN_1", "--new-so-pin-env", "S_SO_PIN_2"),
            "--pin-env",
            "S_PIN_1",
            "--key-domains",
            "3",
            "--yes",
        )
        assert second["scheme"] == "key-domains"
        created = run.cli_json(
            capsys,
            "init",
            "domain",
            "create",
            "--domain",
            "0",
            "--shares",
            "3",
            *run.card_args("--pin-env", "S_PIN_1"),
        )
        assert created["shares_outstanding"] == 3
    simulator = SmartCardHsmSimulator(run.card)
    assert simulator.state.so_pin == bytes.fromhex(SO_PIN_2)  # the secrets did reach the card


def test_share_ceremony_password_file_n_of_m_and_paperkeys(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    work = run.work
    s1, s1_sheet = work / "s1.pbe", work / "s1-paperkey.pdf"
    with recording(run, "share ceremony"):
        result = run.cli_json(
            capsys,
            "share ceremony",
            "share",
            "create",
            str(s1),
            "--password-env",
            "S_SHARE_PASSWORD",
            "--paperkey",
            str(s1_sheet),
            *run.card_args(),
        )
        assert result["random_source"] == "card"
        s2, s2_sheet, fragments = work / "s2.pbe", work / "s2-paperkey.pdf", work / "fragments"
        # the n-of-m ceremony as a real process
        out = run.subprocess(
            "share ceremony",
            "share",
            "create",
            str(s2),
            "--n-of-m",
            "2/3",
            "--fragments-dir",
            str(fragments),
            "--paperkey",
            str(s2_sheet),
            *run.card_args(),
            "--json",
        )
        nofm = json.loads(out)
        # the third custodian's share exists only as a PaperKey, shown on screen
        shown = ScriptedInteraction()
        create_share(shown, ShareCreationPlan(paperkey=True), hsm=run.session()[1])
        ((_title, sheet),) = shown.shown_secrets
        for level_text in shown.texts():
            run.scan_output("messages to the user", level_text, "share ceremony", "create_share")
        # Learn the random secrets from their intended forms, then the step scans for them.
        share1 = run.learn_paperkey(
            "S1", [ln for ln in _pdf_lines(s1_sheet) if ln[:2] == "1:" or re.match(r"^[1-4]: ", ln)]
        )
        share2 = run.learn_paperkey(
            "S2", [ln for ln in _pdf_lines(s2_sheet) if re.match(r"^[1-4]: ", ln)]
        )
        share3 = run.learn_paperkey(
            "S3", [ln.strip() for ln in sheet.splitlines() if re.match(r"^\s*[1-4]: ", ln)]
        )
        picked = []
        for index, pdf in enumerate(sorted(fragments.iterdir()), start=1):
            text = "\n".join(_pdf_lines(pdf))
            ident = re.search(r"Share ID\s*:\s*(\S+)", text)
            value = re.search(r"Share value\s*:\s*(\S+)", text)
            assert ident and value
            run.book.add_text(f"S2 n-of-m fragment {index}", value.group(1))
            run.book.add_number(
                f"S2 n-of-m fragment {index} value", parse_share_value(value.group(1))
            )
            run.allowed[pdf] = {f"S2 n-of-m fragment {index}", f"S2 n-of-m fragment {index} value"}
            picked.append(
                PasswordShare(parse_share_id(ident.group(1)), parse_share_value(value.group(1)))
            )
        password = candidate_passwords(parse_prime(nofm["prime"]), picked[:2])[0]
        run.book.add_bytes("S2 n-of-m password", password)
        run.notes.update(share1=share1, share2=share2, share3=share3, prime=nofm["prime"])
        run.notes["fragments"] = sorted(fragments.iterdir())
        run.book.add_bytes("DKEK of domain 0", Dkek.from_shares([share1, share2, share3]).value())
        for sheet_path, name in ((s1_sheet, "S1"), (s2_sheet, "S2")):
            run.allowed[sheet_path] = {f"{name} PaperKey line {n}" for n in range(1, 5)} | {
                f"{name} PaperKey line {n} compact" for n in range(1, 5)
            }
    for path in (s1, s1_sheet, s2, s2_sheet, *fragments.iterdir()):
        assert mode(path) == 0o600, path
    record("secrets", "secret files written with mode 0600", len(run.allowed) + 2)


def test_share_import_by_the_three_routes(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with recording(run, "share import"):
        first = run.cli_json(
            capsys,
            "share import",
            "share",
            "import",
            str(run.work / "s1.pbe"),
            "--password-env",
            "S_SHARE_PASSWORD",
            *run.card_args("--pin-env", "S_PIN_1"),
        )
        assert first["shares_outstanding"] == 2
        fragments = []
        for pdf in run.notes["fragments"][1:]:
            text = "\n".join(_pdf_lines(pdf))
            ident = re.search(r"Share ID\s*:\s*(\S+)", text)
            value = re.search(r"Share value\s*:\s*(\S+)", text)
            assert ident and value
            fragments.append((ident.group(1), value.group(1)))
        from keymanager.dkek.paperkey import encode_paperkey

        interaction = ScriptedInteraction()
        interaction.answer("secret", PIN_1)
        interaction.answer(
            "share", NofMShareInput(run.work / "s2.pbe", run.notes["prime"], fragments)
        )
        lines = list(encode_paperkey(run.notes["share3"]).lines)
        interaction.answer("share", PaperKeyShareInput(lines))
        result = import_shares(run.session()[1], interaction, 0, count=2)
        assert result.complete and result.kcv
        for text in interaction.texts():
            run.scan_output("messages to the user", text, "share import", "import_shares")


def _classic_script(run: Run) -> ScriptedInteraction:
    from keymanager.dkek.paperkey import encode_paperkey

    interaction = ScriptedInteraction().answer("number", 3)
    for name in ("share1", "share2", "share3"):
        lines = list(encode_paperkey(run.notes[name]).lines)
        interaction.answer("share", PaperKeyShareInput(lines))
    interaction.answer("secret", PIN_1).answer("secret", P12_CLASSIC_PASSWORD)
    return interaction.answer("choices", "all")


def test_pkcs12_classic_and_transient_import(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    run.book.add_number("PKCS#12 EC private value", ec_key.private_numbers().private_value)
    run.learn_rsa("PKCS#12 RSA key", rsa_key)
    classic, transient = run.work / "classic.p12", run.work / "transient.p12"
    write_p12(
        classic, ec_key, common_name="classic key", with_chain=True, password=P12_CLASSIC_PASSWORD
    )
    write_p12(transient, rsa_key, common_name="transient key", password=P12_TRANSIENT_PASSWORD)
    run.notes["p12"] = {"classic": classic, "transient": transient}
    with recording(run, "PKCS#12 import (classic)"):
        interaction = _classic_script(run)
        result = import_pkcs12(run.session()[1], interaction, path=classic, offer_more=False)
        assert result.ok, result.summary()
        for text in [*interaction.texts(), *result.summary(), json.dumps(result.to_json())]:
            run.scan_output("messages to the user", text, "PKCS#12 import (classic)", "result")
    with recording(run, "PKCS#12 import (transient)"):
        out = run.cli_json(
            capsys,
            "PKCS#12 import (transient)",
            "import-p12",
            str(transient),
            "--transient",
            "--p12-password-env",
            "S_P12_TRANSIENT",
            *run.card_args("--pin-env", "S_PIN_1"),
            "--yes",
        )
        assert out
    run.learn_card_keys()
    run.step("PKCS#12 import (transient)")


def test_generate_backup_restore_delete(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    card = run.card_args("--pin-env", "S_PIN_1")
    with recording(run, "key generation"):
        made = {}
        for algorithm, label in (
            ("rsa:1024", "gen rsa"),
            ("ec:prime256v1", "gen ec"),
            ("aes:256", "gen aes"),
        ):
            result = run.cli_json(
                capsys,
                "key generation",
                "generate",
                algorithm,
                "--label",
                label,
                "--domain",
                "0",
                *card,
            )
            made[label] = result["key_reference"]
        run.learn_card_keys()
    run.step("key generation")
    with recording(run, "backup and restore"):
        backups = []
        for label in ("gen ec", "gen aes", "gen rsa"):
            out = run.work / f"{label.replace(' ', '-')}.wky"
            run.cli_json(
                capsys,
                "backup and restore",
                "backup",
                "--key",
                str(made[label]),
                "--out",
                str(out),
                *card,
            )
            assert mode(out) == 0o600
            backups.append(out)
        restored = run.cli_json(capsys, "backup and restore", "restore", str(backups[1]), *card)
        assert restored["key_reference"] not in made.values()
        run.notes["backups"] = backups
        run.notes["made"] = made
    with recording(run, "delete"):
        run.cli_json(capsys, "delete", "delete", "--key", str(made["gen rsa"]), "--yes", *card)
        run.cli_json(
            capsys, "delete", "delete", "--key", str(restored["key_reference"]), "--yes", *card
        )


def test_pin_change_unblock_set_and_so_pin_change(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    card = run.card_args()
    with recording(run, "PIN change and unblock"):
        run.cli_json(
            capsys, "PIN change and unblock", "pin", "verify", "--pin-env", "S_PIN_1", *card
        )
        run.cli_json(
            capsys,
            "PIN change and unblock",
            "pin",
            "change",
            "--pin-env",
            "S_PIN_1",
            "--new-pin-env",
            "S_PIN_2",
            *card,
        )
        run.cli(
            capsys,
            "PIN change and unblock",
            "pin",
            "verify",
            "--pin-env",
            "S_WRONG_PIN",
            *card,
            status=1,
        )
        run.cli_json(
            capsys, "PIN change and unblock", "pin", "unblock", "--so-pin-env", "S_SO_PIN_2", *card
        )
        run.cli_json(
            capsys,
            "PIN change and unblock",
            "pin",
            "set",
            "--so-pin-env",
            "S_SO_PIN_2",
            "--new-pin-env",
            "S_PIN_3",
            *card,
        )
        run.cli(
            capsys,
            "PIN change and unblock",
            "pin",
            "change-so",
            "--so-pin-env",
            "S_SO_PIN_2",
            "--new-so-pin-env",
            "S_SO_PIN_3",
            *card,
        )
        # the same through the workflows, as the GUI runs them
        interaction = ScriptedInteraction().answer("secret", PIN_3).answer("secret", PIN_1)
        change_pin(run.session()[1], interaction)
        unblock = ScriptedInteraction().answer("secret", SO_PIN_3)
        unblock_pin(run.session()[1], unblock, set_new=False)
        for text in interaction.texts() + unblock.texts():
            run.scan_output("messages to the user", text, "PIN change and unblock", "pins")
    assert SmartCardHsmSimulator(run.card).state.user_pin == PIN_1.encode()


def test_audit_and_diagnose(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with recording(run, "audit report"):
        run.cli(
            capsys,
            "audit report",
            "audit",
            *run.card_args("--pin-env", "S_PIN_1", "--probe-domains"),
        )
        report = json.loads(
            run.subprocess(
                "audit report", "audit", *run.card_args("--pin-env", "S_PIN_1"), "--json"
            )
        )
        assert report["key_domains"][0]["kcv"]
    with recording(run, "diagnose"):
        run.cli(capsys, "diagnose", "diagnose", *run.card_args())
        run.subprocess("diagnose", "diagnose", *run.card_args(), "--json")


# --- induced failures -----------------------------------------------------------------------


def test_wrong_passwords_and_pins_leave_no_secret_in_errors(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = "induced failures"
    with recording(run, workflow):
        with pytest.raises(WrongPassword, match="wrong password") as wrong_share:
            read_share(
                FileShareInput(run.work / "s1.pbe", bytearray(WRONG_SHARE_PASSWORD.encode())),
                ScriptedInteraction(),
            )
        run.scan_exception(wrong_share.value, workflow)
        with pytest.raises(Pkcs12WrongPassword) as wrong_p12:
            open_pkcs12(run.notes["p12"]["classic"], WRONG_P12_PASSWORD.encode())
        run.scan_exception(wrong_p12.value, workflow)
        run.cli(
            capsys,
            workflow,
            "import-p12",
            str(run.notes["p12"]["transient"]),
            "--transient",
            "--p12-password-env",
            "S_WRONG_P12",
            *run.card_args("--pin-env", "S_PIN_1"),
            "--yes",
            status=1,
        )
        with pytest.raises(WrongPinEntered, match="wrong user PIN") as wrong_pin:
            change_pin(
                run.session()[1],
                # a wrong current PIN is asked again: wrong until it blocks
                ScriptedInteraction()
                .answer("secret", WRONG_PIN)
                .answer("secret", WRONG_PIN)
                .answer("secret", WRONG_PIN),
            )
        run.scan_exception(wrong_pin.value, workflow)
        with pytest.raises(WrongPinEntered, match="wrong SO-PIN") as wrong_so_pin:
            unblock_pin(
                run.session()[1],
                # a wrong SO-PIN is asked again: three times, then it stops
                ScriptedInteraction()
                .answer("secret", WRONG_SO_PIN)
                .answer("secret", WRONG_SO_PIN)
                .answer("secret", WRONG_SO_PIN),
                set_new=False,
            )
        run.scan_exception(wrong_so_pin.value, workflow)
        run.cli(
            capsys,
            workflow,
            "pin",
            "unblock",
            "--so-pin-env",
            "S_WRONG_SO_PIN",
            *run.card_args(),
            status=1,
        )
        run.cli(
            capsys,
            workflow,
            "restore",
            str(run.notes["backups"][0]),
            *run.card_args("--pin-env", "S_WRONG_PIN"),
            status=1,
        )
        # reset the counters the wrong entries used up
        unblock_pin(
            run.session()[1], ScriptedInteraction().answer("secret", SO_PIN_3), set_new=False
        )


def _transient_script() -> ScriptedInteraction:
    interaction = ScriptedInteraction().answer("secret", P12_TRANSIENT_PASSWORD)
    interaction.answer("secret", PIN_1).answer("choices", "all")
    return interaction.answer("confirm", True)  # the run's card holds the key already: again


def test_card_removed_at_each_apdu_of_a_transient_import(run: Run) -> None:
    workflow = "card removed mid-import"
    source = run.notes["p12"]["transient"]
    with recording(run, workflow):
        copied = run.cards / "faults.json"
        shutil.copyfile(run.card, copied)
        pristine = SmartCardHsmSimulator(copied)
        pristine.state_path = None  # every run starts from the same card, kept in memory
        clean = copy.deepcopy(pristine)
        journal = ImportJournal(run.state_dir / "faults-journal.json")
        clean_result = transient_import(
            SmartCardHsm.open(LocalTransport(clean)),
            _transient_script(),
            path=source,
            journal=journal,
            offer_more=False,
        )
        assert clean_result.ok, clean_result.summary()
        apdus = clean.faults.apdus_seen
        failures = 0
        for point in range(1, apdus + 1):
            card = copy.deepcopy(pristine)
            card.faults.remove_at(point)
            interaction = _transient_script()
            try:
                transient_import(
                    SmartCardHsm.open(LocalTransport(card)),
                    interaction,
                    path=source,
                    journal=journal,
                    offer_more=False,
                )
            except (CardError, WorkflowError) as error:  # typed: a crash is not a pulled card
                failures += 1
                run.scan_exception(error, workflow)
            for text in interaction.texts():
                run.scan_output("messages to the user", text, workflow, "transient import")
            if journal.path.exists():  # what a pulled card left for the recovery
                leftover = run.scanner.scan(
                    "state directory",
                    journal.path.read_bytes(),
                    workflow=workflow,
                    where=journal.path.name,
                )
                assert not leftover, _report(leftover)
                journal.path.unlink()
        record("secrets", "card pulled: transient import fault points", apdus)
        assert failures >= apdus // 2, (failures, apdus)


# --- failed writes: atomic, nothing partial, no temporary file ----------------------------------


def _limited_file_size(limit: int) -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def limited() -> Iterator[None]:
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old_handler)

    return limited()


def test_failed_writes_leave_nothing_partial(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = "failed writes"
    card = run.card_args("--pin-env", "S_PIN_1")
    reference = str(run.notes["made"]["gen ec"])
    tried = 0
    with recording(run, workflow):
        # a target directory that cannot be written (read-only for a user; for root,
        # who writes anywhere, a "directory" that is a file)
        if os.geteuid() != 0:
            locked = run.work / "read-only"
            locked.mkdir()
            locked.chmod(0o500)
        else:
            locked = run.work / "not-a-directory"
            locked.write_bytes(b"")
        try:
            run.cli(
                capsys,
                workflow,
                "backup",
                "--key",
                reference,
                "--out",
                str(locked / "k.wky"),
                *card,
                status=1,
            )
            with pytest.raises(OSError) as denied:
                create_share(
                    ScriptedInteraction(),
                    ShareCreationPlan(
                        paperkey=True, paperkey_pdf=locked / "sheet.pdf", show_paperkey=False
                    ),
                )
            run.scan_exception(denied.value, workflow)
            tried += 2
            if locked.is_dir():
                assert list(locked.iterdir()) == []
            else:
                assert locked.read_bytes() == b""
        finally:
            if locked.is_dir():
                locked.chmod(0o700)
        # a name the target may have but its temporary file may not (NAME_MAX)
        crowded = run.work / "long-names"
        crowded.mkdir()
        long_name = "k" * 250 + ".wky"
        status = cli_main(["backup", "--key", reference, "--out", str(crowded / long_name), *card])
        out, err = capsys.readouterr()
        run.scan_output("CLI output (in-process)", out + err, workflow, "backup")
        tried += 1
        # the temporary name is bounded, so a target name near NAME_MAX still works
        assert status == 0, err
        assert [p.name for p in crowded.iterdir()] == [long_name]
        assert mode(crowded / long_name) == 0o600
        # a full disk: the file-size limit makes the write fail half way
        full = run.work / "full-disk"
        full.mkdir()
        simulator, hsm = run.session()
        simulator.state_path = None
        from keymanager.workflows.keys import backup_key

        hsm.verify_pin(PIN_1)
        with _limited_file_size(64), pytest.raises(OSError) as too_big:
            backup_key(
                hsm, ScriptedInteraction().answer("secret", PIN_1), int(reference), full / "k.wky"
            )
        assert too_big.value.errno == errno.EFBIG
        run.scan_exception(too_big.value, workflow)
        with _limited_file_size(64), pytest.raises(OSError) as sheet_too_big:
            create_share(
                ScriptedInteraction(),
                ShareCreationPlan(
                    paperkey=True, paperkey_pdf=full / "sheet.pdf", show_paperkey=False
                ),
            )
        run.scan_exception(sheet_too_big.value, workflow)
        tried += 2
        assert list(full.iterdir()) == []
        capsys.readouterr()
    record("secrets", "failed writes tried (nothing partial left)", tried)


# --- the whole run ----------------------------------------------------------------------------


def test_whole_tree_and_logs_hold_no_secret_and_figures(run: Run) -> None:
    """A last scan of everything (whole log files, whole trees), and the figures."""
    workflow = "final scan of everything"
    hits: list[Hit] = []
    for path in sorted(run.state_dir.glob("keymanager.log*")):
        assert mode(path) == 0o600
        hits += run.scanner.scan("log files", path.read_bytes(), workflow=workflow, where=path.name)
    text = "".join(path.read_text() for path in run.state_dir.glob("keymanager.log*"))
    assert "SEND" in text and "RECV" in text, "the APDU trace was not on"
    for label in ("80 52 00 00 <", "00 20 00 81 <", "80 50 00 00 <"):
        assert label in text, label
    for path in tree_files(run.root, exclude=[run.cards]):
        hits += run.scanner.scan(
            "whole run directory",
            path.read_bytes(),
            workflow=workflow,
            where=str(path.relative_to(run.root)),
            allowed=run.allowed.get(path, set()),
        )
    assert not hits, _report(hits)
    assert tree_files(run.tmp) == []
    from keymanager.workflows.ceremony_record import read_lines, verify_record

    ceremony = [json.loads(line) for line in read_lines(ceremony_record_of(run))]
    recorded = {entry["workflow"] for entry in ceremony if entry["type"] == "step"}
    assert {"initialise", "import shares", "PKCS#12 import", "restore key", "change PIN"} <= (
        recorded
    ), recorded
    assert verify_record(ceremony_record_of(run)).first_altered is None
    record("secrets", "ceremony record entries scanned", len(ceremony))
    run.check_written(workflow)
    written = {name for name, _step in run.written}
    assert written, "the audit hook saw no file written"
    book, scanner = run.book, run.scanner
    record("secrets", "secrets searched", len(book))
    record("secrets", "encodings searched (needles)", len(book.needles))
    record("secrets", "files written by the app, by name (audit hook)", len(written))
    record("secrets", "CLI runs in-process", run.cli_runs)
    record("secrets", "CLI runs as subprocesses", run.subprocesses)
    for location in scanner.locations():
        record("secrets", "bytes scanned", scanner.bytes_scanned[location], location=location)
        total = 0
        for workflow_name in scanner.workflows:
            if (location, workflow_name) in scanner.by_workflow:
                count = scanner.by_workflow[(location, workflow_name)]
                total += count
                record("secrets", location, count, workflow=workflow_name)
        record("secrets", location, total, workflow="all")
    assert scanner.hits == []
    # Control: the card's own state file holds the secrets in the clear (it is the card),
    # so the same needles must find them there; a scanner that finds nothing proves nothing.
    control = Scanner(book).scan("control", run.card.read_bytes(), workflow="control")
    found = {hit.secret for hit in control}
    on_card = SmartCardHsmSimulator(run.card).state.keys
    expected = {"pin 1", "DKEK of domain 0"} | {
        name
        for name in book.names
        if name.startswith("card key ") and int(name.split()[2].rstrip(":")) in on_card
    }
    expected -= {name for name in expected if "RSA" in name and not name.endswith((" p", " q"))}
    assert expected <= found, expected - found
    record("secrets", "control: secrets found in the simulator's state file", len(found))


def test_the_needles_find_secrets_however_they_are_embedded() -> None:
    """Control of the encodings: a secret inside longer text is found in every form."""
    book = SecretBook()
    secret = bytes(range(0x80, 0xA0))
    book.add_bytes("share", secret)
    book.add_text("pin", "648219")
    scanner = Scanner(book)
    for prefix in (b"", b"x", b"xy"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            embedded = encode(prefix + secret + b"tail").decode()
            assert scanner.scan("control", f"data={embedded};".encode(), workflow="control")
    for text in (secret.hex(), secret.hex().upper(), secret.hex(":"), repr(secret)):
        assert scanner.scan_text("control", f"[{text}]", workflow="control"), text
    assert scanner.scan("control", "PIN 648219".encode("utf-16-le"), workflow="control")
    assert scanner.scan_text("control", str(list(b"648219")), workflow="control")
    assert not scanner.scan_text("control", "nothing secret here 64821 9", workflow="control")
