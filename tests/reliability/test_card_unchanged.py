"""Bad input changes nothing on the card: every corpus case through the workflow a user
would feed it to, against a simulated card holding a complete DKEK domain and keys.

For each case the card's whole state (``CardState.to_json()``: files, keys, key
domains, PINs and retry counters, DRBG) is snapshotted before and after, and must be
identical; the workflow must raise the case's specific error, whose message must not
show the secret typed.  Workflows and inputs:

* PKCS#12 import, classic (DKEK shares entered as a PaperKey) and through the transient
  key-domain plug-in: every PKCS#12 error case of :mod:`tests.reliability._p12_support`;
* key restore from ``.wky``: every ``.wky`` case of ``tests/corpus/manifest.json`` plus
  the oversized backups, on a card whose domain holds the case's DKEK.  The workflow
  tells the user more than the parser: a blob under another DKEK is refused before
  UNWRAP (``BackupDkekMismatch``), a blob whose MAC fails is refused by the card's
  UNWRAP (``WorkflowError``, "the card refused the key blob");
* DKEK share import into a key domain waiting for shares: the share-file, n-of-m and
  PaperKey cases of the manifest, and every single-character PaperKey substitution.

Share files whose error needs the full 10,000,000-round key derivation cost 3.3 s each
through the workflow (which always derives with the real round count): CI runs the
published file with a wrong password as their representative; the nightly run
(``KEYMANAGER_FUZZ_EXAMPLES`` set) runs all of them.

The RSA 8192 PKCS#12 file goes through the import workflows only in the nightly run:
opening it costs seconds (OpenSSL checks the key's 4096-bit primes), and the refusal of
an RSA size the card cannot hold is the same code as for the RSA 1031 case, which CI runs.

Cards are built once per module; a case runs on the card the previous case left, which
is proven unchanged (a card that changed is replaced by a fresh copy).  A control that
must succeed runs through each workflow to show the snapshot does see changes.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, EcKeySpec
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.dkek import errors as dkek_errors
from keymanager.dkek.errors import PaperKeyGroupError
from keymanager.dkek.keyblob import describe_blob
from keymanager.dkek.paperkey import ALPHABET, encode_paperkey
from keymanager.dkek.wky import parse_backup
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.errors import BackupDkekMismatch, WorkflowError
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import (
    FileShareInput,
    NofMShareInput,
    PaperKeyShareInput,
    ScriptedInteraction,
    ShareInput,
)
from keymanager.workflows.keys import KeyJournal, restore_key
from keymanager.workflows.plugins.transient_import import transient_import
from tests.corpus.make_corpus import MANIFEST_PATH
from tests.reliability._p12_support import PASSWORD, P12Case, build_cases
from tests.support.figures import FUZZ_EXAMPLES_ENVIRONMENT, record

PIN = "648219"
MANIFEST: dict[str, Any] = json.loads(MANIFEST_PATH.read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]
PAPERKEY_SHARE = bytes.fromhex(MANIFEST["seeds"]["paperkey_share_hex"])
OVERSIZED_BLOB_SIZES = (64 * 1024, 1024 * 1024, 10 * 1024 * 1024)
NIGHTLY = bool(os.environ.get(FUZZ_EXAMPLES_ENVIRONMENT))
WAITING_DOMAIN = 1
"""The key domain of the share-import card that waits for two shares."""


# --- the card and its snapshot ------------------------------------------------------------


def snapshot(card: SmartCardHsmSimulator) -> dict[str, Any]:
    """Everything the card remembers but the position of the simulator's seeded random
    generator: the share-import guard WRAPs keys whose domain is not recorded (the blob's
    random bytes are drawn, the blob dropped), which changes no file, key, domain or PIN.
    Nothing else is left out: none of these workflows legitimately changes any counter
    when it refuses its input (the PIN is verified successfully, which leaves the retry
    counter at its maximum)."""
    state = card.state.to_json()
    state.pop("drbg_counter", None)
    return state


def _session(card: SmartCardHsmSimulator) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(card))


def build_card(dkek: bytes, seed: bytes, backup: bytes | None = None) -> SmartCardHsmSimulator:
    """Domain 0 complete with DKEK ``dkek`` (one share) and two keys (one restored from
    ``backup`` when given); domain 1 waits for 2 shares; domains 2 and 3 are empty."""
    card = SmartCardHsmSimulator(seed=seed)
    hsm = _session(card)
    hsm.initialize(InitParams(PIN, DEFAULT_SO_PIN, dkek_shares=1, key_domains=4))
    hsm.import_dkek_share(dkek, 0)
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(WAITING_DOMAIN, 2)
    KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "resident key")
    if backup is not None:
        hsm.unwrap_key(2, parse_backup(backup).blob)
    return card


@dataclass
class Runner:
    """Runs cases of one workflow on a card, checking each leaves it unchanged."""

    template: SmartCardHsmSimulator
    card: SmartCardHsmSimulator = field(init=False)
    baseline: dict[str, Any] = field(init=False)
    ran: int = 0
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.card = copy.deepcopy(self.template)
        self.baseline = snapshot(self.card)

    def run(
        self,
        name: str,
        action: Callable[[SmartCardHsmSimulator], object],
        expect: type[Exception],
        fragment: str,
        secrets: list[str],
        check: Callable[[Exception], str | None] | None = None,
    ) -> None:
        self.ran += 1
        problem: str | None = None
        try:
            action(self.card)
        except Exception as error:
            message = str(error)
            if type(error) is not expect:
                problem = f"{type(error).__name__} ({message}), not {expect.__name__}"
            elif fragment not in message:
                problem = f"message {message!r} lacks {fragment!r}"
            elif any(secret in message for secret in secrets if len(secret) >= 6):
                problem = "the message shows a secret"
            elif check is not None:
                problem = check(error)
        else:
            problem = "no error"
        after = snapshot(self.card)
        if after != self.baseline:
            changed = sorted(key for key in after if after[key] != self.baseline[key])
            problem = f"{problem or 'right error'}; the card changed: {changed}"
            self.card = copy.deepcopy(self.template)
        if problem is not None:
            self.problems.append(f"{name}: {problem}")

    def control(self, action: Callable[[SmartCardHsmSimulator], object]) -> None:
        """A valid input must go through and change the card (the snapshot sees it)."""
        card = copy.deepcopy(self.template)
        action(card)
        assert snapshot(card) != self.baseline

    def finish(self, workflow: str, family: str) -> None:
        assert not self.problems, "\n".join(self.problems[:20])
        assert self.ran > 0
        record("unchanged", family, self.ran, workflow=workflow)


# --- PKCS#12 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def p12_cases(tmp_path_factory: pytest.TempPathFactory) -> list[P12Case]:
    return build_cases(tmp_path_factory.mktemp("p12-corpus"))


@pytest.fixture(scope="module")
def wky_dkek(vectors: dict[str, Any]) -> bytes:
    return bytes.fromhex(vectors["wrapped_key_file"]["dkek_hex"])


@pytest.fixture(scope="module")
def main_card(vectors: dict[str, Any], wky_dkek: bytes) -> SmartCardHsmSimulator:
    """The card of every workflow: the real device's DKEK in domain 0, its key restored."""
    backup = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    return build_card(wky_dkek, b"issue 7 card unchanged", backup)


def _workflow_cases(cases: list[P12Case]) -> list[P12Case]:
    """The PKCS#12 error cases fed to the import workflows (see the module docstring)."""
    return [
        case
        for case in cases
        if case.expect is not None and (NIGHTLY or case.name != "key-rsa-8192")
    ]


def _p12_password(case: P12Case) -> str:
    return case.password or ""  # a dialog hands over "" for "no password"


def test_pkcs12_classic_import_changes_nothing(
    p12_cases: list[P12Case], main_card: SmartCardHsmSimulator, wky_dkek: bytes, tmp_path: Path
) -> None:
    journal = ImportJournal(tmp_path / "journal.json")
    paperkey = PaperKeyShareInput(list(encode_paperkey(wky_dkek).lines))

    def script(password: str, *more: tuple[str, object]) -> ScriptedInteraction:
        interaction = ScriptedInteraction()
        interaction.answer("number", 1).answer("share", paperkey).answer("secret", PIN)
        interaction.answer("secret", password)
        for kind, value in more:
            interaction.answer(kind, value)
        return interaction

    runner = Runner(main_card)
    for case in _workflow_cases(p12_cases):
        assert case.expect is not None

        def classic(card: SmartCardHsmSimulator, case: P12Case = case) -> object:
            return import_pkcs12(
                _session(card),
                script(_p12_password(case)),
                path=case.path,
                journal=journal,
                offer_more=False,
            )

        runner.run(
            case.name,
            classic,
            case.expect,
            case.fragment,
            [PASSWORD, _p12_password(case)],
        )
        assert not journal.path.exists(), case.name
    control = next(case for case in p12_cases if case.name == "control-p256-chain")
    runner.control(
        lambda card: import_pkcs12(
            _session(card),
            script(PASSWORD, ("choices", "all")),
            path=control.path,
            journal=journal,
            offer_more=False,
        )
    )
    assert runner.ran == len(_workflow_cases(p12_cases)) > 0
    runner.finish("PKCS#12 import (classic)", "PKCS#12 files")


def test_pkcs12_transient_import_changes_nothing(
    p12_cases: list[P12Case], main_card: SmartCardHsmSimulator, tmp_path: Path
) -> None:
    journal = ImportJournal(tmp_path / "journal.json")
    runner = Runner(main_card)
    for case in _workflow_cases(p12_cases):
        assert case.expect is not None

        def transient(card: SmartCardHsmSimulator, case: P12Case = case) -> object:
            return transient_import(
                _session(card),
                ScriptedInteraction().answer("secret", _p12_password(case)),
                path=case.path,
                journal=journal,
                offer_more=False,
            )

        runner.run(
            case.name,
            transient,
            case.expect,
            case.fragment,
            [PASSWORD, _p12_password(case)],
        )
        assert not journal.path.exists(), case.name
    control = next(case for case in p12_cases if case.name == "control-p256-chain")
    answers = ScriptedInteraction().answer("secret", PASSWORD).answer("secret", PIN)
    answers.answer("choices", "all")
    runner.control(
        lambda card: transient_import(
            _session(card), answers, path=control.path, journal=journal, offer_more=False
        )
    )
    assert runner.ran == len(_workflow_cases(p12_cases)) > 0
    runner.finish("PKCS#12 import (transient key domain)", "PKCS#12 files")


# --- restore from .wky -------------------------------------------------------------------------


def _restore_expectation(case: dict[str, Any]) -> tuple[type[Exception], str]:
    """What the restore workflow must raise for a ``.wky`` case of the manifest."""
    expected = case["expect"]
    if expected == "KcvMismatch":  # checked against every domain's KCV before UNWRAP
        return BackupDkekMismatch, "nothing was changed"
    if expected == "MacMismatch":  # only the card holds the DKEK: its UNWRAP refuses
        return WorkflowError, "the card refused the key blob"
    return getattr(dkek_errors, expected), case["fragment"]


def _oversized(wky: bytes, *, aligned: bool) -> Iterator[tuple[str, bytes]]:
    """Backups whose blob keeps the real KCV, header and MAC but is padded to an absurd
    size: as ``test_corpus`` makes them (``aligned=False``: the encrypted part is no
    multiple of 16), or with a well-formed length (``aligned=True``)."""
    blob = parse_backup(wky).blob
    header = len(blob) - 16 - describe_blob(blob).encrypted_length
    for size in OVERSIZED_BLOB_SIZES:
        encrypted = (
            size - size % 16 if aligned else size - len(blob) + describe_blob(blob).encrypted_length
        )
        big = blob[:header] + bytes(encrypted) + blob[-16:]
        octets = b"\x04\x84" + len(big).to_bytes(4, "big") + big
        name = f"wky/oversized-{size}{'-aligned' if aligned else ''}"
        yield name, b"\x30\x84" + len(octets).to_bytes(4, "big") + octets


def test_restore_changes_nothing(
    vectors: dict[str, Any], main_card: SmartCardHsmSimulator, wky_dkek: bytes, tmp_path: Path
) -> None:
    journal = KeyJournal(tmp_path / "journal")
    serial = _session(main_card).serial()
    runners: dict[str, Runner] = {wky_dkek.hex(): Runner(main_card)}
    path = tmp_path / "backup.wky"

    def restore(card: SmartCardHsmSimulator) -> object:
        interaction = ScriptedInteraction().answer("secret", PIN)
        return restore_key(_session(card), interaction, path, label="restored", journal=journal)

    wky_cases = [case for case in CASES if case["kind"] == "wky"]
    for case in wky_cases:
        dkek = case["input"]["dkek_hex"]
        if dkek not in runners:  # the card holds the case's DKEK
            runners[dkek] = Runner(build_card(bytes.fromhex(dkek), b"other DKEK " + dkek.encode()))
        path.write_bytes(bytes.fromhex(case["input"]["hex"]))
        if case["expect"] is None:
            runners[dkek].control(restore)
            continue
        expect, fragment = _restore_expectation(case)
        runners[dkek].run(case["name"], restore, expect, fragment, [])
        assert journal.pending(serial) == [], case["name"]
    wky = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    for name, data in _oversized(wky, aligned=False):
        path.write_bytes(data)
        runners[wky_dkek.hex()].run(
            name, restore, dkek_errors.MalformedKeyBlob, "not a multiple of 16", []
        )
    total = sum(runner.ran for runner in runners.values())
    problems = [problem for runner in runners.values() for problem in runner.problems]
    assert not problems, "\n".join(problems)
    assert total == len([case for case in wky_cases if case["expect"]]) + len(OVERSIZED_BLOB_SIZES)
    record("unchanged", "Key backups (.wky)", total, workflow="Key restore")


def test_restore_refuses_a_well_formed_oversized_blob_with_a_typed_error(
    vectors: dict[str, Any], main_card: SmartCardHsmSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "big.wky"
    runner = Runner(main_card)

    def restore(card: SmartCardHsmSimulator) -> object:
        interaction = ScriptedInteraction().answer("secret", PIN)
        return restore_key(_session(card), interaction, path, label="restored")

    wky = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    for name, data in _oversized(wky, aligned=True):
        if len(data) < 65536:
            continue
        path.write_bytes(data)
        runner.run(name, restore, WorkflowError, "nothing was changed", [])
    runner.finish("Key restore", "Key backups (.wky), well-formed but oversized")


# --- DKEK share import ------------------------------------------------------------------------


def _share_secrets(case: dict[str, Any]) -> list[str]:
    found = [case["input"].get("password", "")]
    if case["kind"] == "paperkey":
        found += [line.split(": ")[-1] for line in case["input"]["lines"]]
    return [secret for secret in found if len(secret) >= 6]


def _import_one(share: ShareInput) -> Callable[[SmartCardHsmSimulator], object]:
    def action(card: SmartCardHsmSimulator) -> object:
        interaction = ScriptedInteraction().answer("secret", PIN).answer("share", share)
        return import_shares(
            _session(card), interaction, WAITING_DOMAIN, count=1, retry_rejected=False
        )

    return action


def _full_derivation(case: dict[str, Any]) -> bool:
    """A share-file case whose error only shows after the full key derivation."""
    return bool(case["expect"] == "WrongPassword")


def _threshold_dependent(case: dict[str, Any]) -> bool:
    """An n-of-m case whose error needs the threshold, which share import never asks for
    (it rebuilds the password from the fragments typed) - or a split, not an import."""
    case_input = case["input"]
    if case_input["op"] != "recover":
        return True
    threshold = case_input["threshold"]
    shares = len(case_input["shares"])
    return threshold is not None and shares >= 2 and (threshold > shares or threshold < 2)


def test_share_file_and_nofm_import_changes_nothing(
    vectors: dict[str, Any], main_card: SmartCardHsmSimulator, tmp_path: Path
) -> None:
    real_file = base64.b64decode(vectors["share_file"]["pbe_base64"])
    runner = Runner(main_card)
    file_cases = [c for c in CASES if c["kind"] == "sharefile" and c["expect"] is not None]
    slow = [case for case in file_cases if _full_derivation(case)]
    representative = next(case for case in slow if "vector" in case["input"])
    chosen = [c for c in file_cases if not _full_derivation(c) or NIGHTLY or c is representative]
    for number, case in enumerate(chosen):
        case_input = case["input"]
        data = real_file if "vector" in case_input else bytes.fromhex(case_input["hex"])
        path = tmp_path / f"share-{number}.pbe"
        path.write_bytes(data)
        share: ShareInput = FileShareInput(path, bytearray(case_input["password"].encode()))
        expect = getattr(dkek_errors, case["expect"])
        runner.run(case["name"], _import_one(share), expect, case["fragment"], _share_secrets(case))
    record("unchanged", "Share files", len(chosen), workflow="DKEK share import")
    files_ran = runner.ran

    share_file = tmp_path / "real.pbe"
    share_file.write_bytes(real_file)
    nofm = [
        case for case in CASES
        if case["kind"] == "nofm" and case["expect"] and not _threshold_dependent(case)
    ]  # fmt: skip
    for case in nofm:
        share = NofMShareInput(
            share_file, case["input"]["prime"], [tuple(pair) for pair in case["input"]["shares"]]
        )
        expect = getattr(dkek_errors, case["expect"])
        runner.run(case["name"], _import_one(share), expect, case["fragment"], [])
    assert not runner.problems, "\n".join(runner.problems)
    assert runner.ran - files_ran == len(nofm)
    left_out = {c["name"] for c in CASES if c["kind"] == "nofm" and c["expect"]} - {
        c["name"] for c in nofm
    }
    splits = {c["name"] for c in CASES if c["kind"] == "nofm" and c["input"]["op"] == "split"}
    assert left_out - splits == {"nofm/too-few-two-of-three", "nofm/threshold-one"}
    record("unchanged", "n-of-m fragments", len(nofm), workflow="DKEK share import")


def _substitutions() -> Iterator[tuple[list[str], int, int]]:
    """Every single-character substitution of the seed PaperKey by another symbol."""
    lines = list(encode_paperkey(PAPERKEY_SHARE).lines)
    for line_index, line in enumerate(lines):
        prefix = line.index(": ") + 2
        for group in range(3):
            for character in range(6):
                at = prefix + group * 7 + character
                for symbol in ALPHABET:
                    if symbol != line[at]:
                        typed = list(lines)
                        typed[line_index] = line[:at] + symbol + line[at + 1 :]
                        yield typed, line_index + 1, group + 1


def test_paperkey_import_changes_nothing(main_card: SmartCardHsmSimulator) -> None:
    runner = Runner(main_card)
    stored = [case for case in CASES if case["kind"] == "paperkey" and case["expect"]]
    for case in stored:
        expect = getattr(dkek_errors, case["expect"])
        share = PaperKeyShareInput(list(case["input"]["lines"]))
        runner.run(case["name"], _import_one(share), expect, case["fragment"], _share_secrets(case))
    stored_ran = runner.ran

    def located(line: int, group: int) -> Callable[[Exception], str | None]:
        def check(error: Exception) -> str | None:
            assert isinstance(error, PaperKeyGroupError)
            if (error.line, error.group) != (line, group):
                return f"reported line {error.line} group {error.group}, not {line}/{group}"
            return None

        return check

    for typed, line, group in _substitutions():
        secrets = [text.split(": ")[1] for text in typed]
        runner.run(
            f"substitution in line {line} group {group}: {typed[line - 1][:2]}",
            _import_one(PaperKeyShareInput(typed)),
            PaperKeyGroupError,
            f"group {group}",
            secrets,
            located(line, group),
        )
    runner.control(_import_one(PaperKeyShareInput(list(encode_paperkey(PAPERKEY_SHARE).lines))))
    assert runner.ran - stored_ran == 4 * 3 * 6 * 31
    runner.finish("DKEK share import", "PaperKeys")
