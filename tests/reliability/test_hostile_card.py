"""The session against a hostile card: typed errors (or valid results), never a hang.

Every command the session sends (SELECT, VERIFY and its status form, CHANGE REFERENCE
DATA, RESET RETRY COUNTER, INITIALIZE, MANAGE KEY DOMAIN in all its forms, ENUMERATE,
READ / UPDATE BINARY, DELETE FILE, GET CHALLENGE, GENERATE (asymmetric and AES), WRAP,
UNWRAP, SIGN, DECIPHER, GET RESPONSE) is reached through a public operation of the
session, the key store or the outline, and its response is replaced by each
malformation of ``_hostile_support.MALFORMATIONS`` plus a truncation at every length of
the real response.  Each case runs on a thread with a time limit; it must end with a
:class:`~keymanager.card.errors.CardError` subclass or a result that passes the
operation's validity check (and the malformations no answer can survive must raise).
"""

from __future__ import annotations

import copy
import io
import time
from pathlib import Path

import pytest

from keymanager.card.apdu import MAX_GET_RESPONSES
from keymanager.card.errors import ApduError, CardError, InternalCardError, MalformedResponse
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.simulator.__main__ import build_parser, main
from keymanager.simulator.demo import DEMO_KEYS, DEMO_PIN
from keymanager.simulator.hostile import (
    HostileCard,
    HostileSpecError,
    Malformation,
    Rule,
    Target,
    parse_spec,
)
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.keys import backup_key
from tests.reliability._hostile_support import (
    KEY_P256,
    MALFORMATIONS,
    OPERATIONS,
    Operation,
    base_card,
    judge,
    malformation,
    open_case,
    real_response_lengths,
    reports_problem,
    run_bounded,
    run_case,
)
from tests.support.figures import record


def _cases(operation: Operation) -> list[str]:
    lengths = real_response_lengths(operation)
    longest = max(lengths, default=0)
    return [*MALFORMATIONS, *(f"truncate:{n}" for n in range(longest))]


@pytest.mark.parametrize(
    "operation", OPERATIONS, ids=[f"{op.name}-{op.command}" for op in OPERATIONS]
)
def test_every_malformation_gives_a_typed_error_or_a_valid_result(operation: Operation) -> None:
    problems: list[str] = []
    errors = shown = accepted = 0
    cases = _cases(operation)
    for text in cases:
        outcome = run_case(operation, Rule(operation.target, malformation(text)))
        assert outcome.replaced, f"{operation.name}: {text} never reached {operation.command}"
        problem = judge(operation, text, outcome)
        if problem:
            problems.append(problem)
        elif outcome.error is not None:
            errors += 1
        elif reports_problem(outcome.result):
            shown += 1  # a listing or outline that shows the user what was unreadable
        else:
            accepted += 1  # a valid result (e.g. a truncated file cannot be told)
    assert not problems, "\n".join(problems[:20])
    assert errors + shown > 0  # at least the malformations no answer can survive
    record(
        "hostile",
        f"{operation.command} via {operation.name}",
        len(cases),
        typed_errors=errors,
        problem_shown=shown,
        valid_results=accepted,
    )


# --- the limits that end loops --------------------------------------------------------------


def test_endless_get_response_chain_is_cut_off() -> None:
    operation = next(op for op in OPERATIONS if op.name == "enumerate_objects")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:58@loop:61")
    started = time.monotonic()
    outcome = run_bounded(hsm.enumerate_objects, timeout=5)
    assert outcome.finished and isinstance(outcome.error, MalformedResponse)
    assert "61xx" in str(outcome.error)
    assert hostile.log.loop_steps == MAX_GET_RESPONSES
    assert time.monotonic() - started < 5
    # the session still works once the card behaves
    hostile.clear()
    assert 0xCC00 in hsm.enumerate_objects()


def test_6cxx_is_followed_once() -> None:
    operation = next(op for op in OPERATIONS if op.name == "get_challenge")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:84@loop:6c")
    before = hostile.log.apdus
    with pytest.raises(ApduError) as raised:
        hsm.get_challenge(8)
    assert raised.value.sw & 0xFF00 == 0x6C00
    assert hostile.log.apdus - before == 2  # the command and one re-send with the card's Le


def test_a_file_that_never_ends_is_refused() -> None:
    operation = next(op for op in OPERATIONS if op.name == "read_file(EF.TokenInfo)")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:B1@full")
    with pytest.raises(MalformedResponse, match="longer than 65535"):
        hsm.read_file(0x2F03)
    assert hostile.log.replaced == 1  # one full 64 KiB answer, and the file is too long


def test_an_answer_longer_than_any_apdu_is_refused() -> None:
    operation = next(op for op in OPERATIONS if op.name == "enumerate_objects")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:58@long:70000")
    with pytest.raises(MalformedResponse, match="more than any APDU"):
        hsm.enumerate_objects()


def test_select_tolerates_a_broken_fcp_but_not_a_missing_version() -> None:
    # the version tag is searched byte-wise when the FCP's TLVs are broken (Pico HSM)
    hostile = HostileCard(copy.deepcopy(base_card()), "ins:A4@tlv:4g")
    assert SmartCardHsm.open(LocalTransport(hostile)).info.version == (4, 0)
    hostile.set_rules("ins:A4@tlv:tag-only")
    with pytest.raises(MalformedResponse, match="version"):
        SmartCardHsm.open(LocalTransport(hostile))


def test_63cx_on_a_command_that_takes_no_pin_is_typed() -> None:
    operation = next(op for op in OPERATIONS if op.name == "enumerate_objects")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:58@sw:63C2")
    with pytest.raises(ApduError) as raised:
        hsm.enumerate_objects()
    # not taken for a wrong PIN: ENUMERATE OBJECTS takes none
    assert type(raised.value) is ApduError
    assert "ENUMERATE" in str(raised.value) and "63C2" in str(raised.value)


def test_certificate_instead_of_a_cv_request_rolls_the_new_key_back() -> None:
    operation = next(op for op in OPERATIONS if op.name == "KeyStore.generate_key")
    hostile, _transport, hsm = open_case(operation)
    before = set(hostile.simulator.state.keys)
    hostile.set_rules("ins:46@wrong:x509")
    with pytest.raises(MalformedResponse):
        KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "wrong kind")
    # the card did generate a key; the key store deleted it again with its metadata
    assert set(hostile.simulator.state.keys) == before
    hostile.clear()
    assert len(KeyStore(hsm).list_keys()) == len(DEMO_KEYS)


def test_nine_thousand_on_an_error_path_is_an_empty_file() -> None:
    operation = next(op for op in OPERATIONS if op.name == "read_file(missing)")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:B1,p1p2:CF7F@sw:9000")
    assert hsm.read_file(0xCF7F) == b""


def test_backup_of_a_garbage_wrap_answer_leaves_no_file(tmp_path: Path) -> None:
    operation = next(op for op in OPERATIONS if op.name == "wrap_key")
    hostile, _transport, hsm = open_case(operation)
    hostile.set_rules("ins:72@garbage:64")
    output = tmp_path / "key.wky"
    with pytest.raises(WorkflowError, match=r"is not a key blob.*no backup was written"):
        backup_key(hsm, ScriptedInteraction(), KEY_P256, output)
    assert not output.exists()


# --- the hostile card itself -------------------------------------------------------------


def test_switched_off_the_card_behaves_and_rules_count_from_when_they_were_set() -> None:
    simulator = copy.deepcopy(base_card())
    hostile = HostileCard(simulator, "ins:58@empty", enabled=False)
    hsm = SmartCardHsm.open(LocalTransport(hostile))
    assert [k.label for k in KeyStore(hsm).list_keys()] == [k.label for k in DEMO_KEYS]
    hostile.enabled = True
    assert hsm.enumerate_objects() == []
    hostile.set_rules("apdu:2@sw:6F00")
    hsm.verify_pin(DEMO_PIN)  # APDU 1 passes
    with pytest.raises(InternalCardError) as raised:
        hsm.pin_status()  # APDU 2 is hit
    assert raised.value.sw == 0x6F00
    assert hsm.pin_status().verified  # APDU 3 passes


def test_nth_match_only() -> None:
    simulator = copy.deepcopy(base_card())
    hostile = HostileCard(simulator, "ins:58,nth:2@garbage:3")
    hsm = SmartCardHsm.open(LocalTransport(hostile))
    first = hsm.enumerate_objects()
    with pytest.raises(MalformedResponse, match="odd"):
        hsm.enumerate_objects()
    assert hsm.enumerate_objects() == first


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ins:B1@truncate:3", [(Target(ins=0xB1), Malformation("truncate", "3"))]),
        (
            "ins:b1,p1p2:2f02,nth:2@tlv:4g; apdu:5@sw:6F00",
            [
                (Target(ins=0xB1, p1p2=0x2F02, nth=2), Malformation("tlv", "4g")),
                (Target(apdu=5), Malformation("sw", "6F00")),
            ],
        ),
        ("all@garbage:10:seed", [(Target(), Malformation("garbage", "10:seed"))]),
        ("ins:C0@loop:61", [(Target(ins=0xC0), Malformation("loop", "61"))]),
        ("INS:58@TLV:4G", [(Target(ins=0x58), Malformation("tlv", "4g"))]),
        (
            "ins:B1@patch:0=30+5=FFFF",
            [(Target(ins=0xB1), Malformation("patch", "0=30+5=FFFF"))],
        ),
    ],
)
def test_spec_syntax(spec: str, expected: list[tuple[Target, Malformation]]) -> None:
    rules = parse_spec(spec)
    assert [(rule.target, rule.malformation) for rule in rules] == expected
    assert parse_spec(";".join(rule.text for rule in rules)) == rules


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "ins:B1",
        "ins:B1@nonsense",
        "ins:B1@truncate",
        "ins:B1@truncate:x",
        "ins:1FF@empty",
        "apdu:0@empty",
        "apdu:2,ins:B1@empty",
        "ins:B1@sw:900",
        "ins:B1@tlv:5g",
        "ins:B1@wrong:key",
        "ins:B1@loop:62",
        "ins:B1@replace:XYZ",
        "pin:81@empty",
        "ins:B1@empty:1",
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(HostileSpecError):
        parse_spec(spec)


def test_command_line_option(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--hostile", "ins:B1@bogus"])
    assert "unknown malformation" in capsys.readouterr().err
    select = "00A404040BE82B0601040181C31F020100"
    monkeypatch.setattr("sys.stdin", io.StringIO(select + "\n" + select + "\n"))
    assert main(["--seed", "01", "--hostile", "ins:A4,nth:2@cut:1"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.split()
    assert lines[0].endswith("9000") and lines[0].startswith("62")
    assert lines[1] == lines[0][:2]  # the second SELECT: one byte, no status word
    assert "ins:A4,nth:2@cut:1" in captured.err


def test_card_errors_are_the_only_errors_of_the_matrix_runner() -> None:
    """The runner reports untyped errors and hangs (it is what the matrix relies on)."""
    operation = OPERATIONS[0]
    slow = run_bounded(lambda: time.sleep(1), timeout=0.05)
    assert not slow.finished
    assert judge(operation, "x", slow) is not None
    broken = run_bounded(lambda: [][1])
    assert judge(operation, "x", broken) is not None and "IndexError" in str(
        judge(operation, "x", broken)
    )
    typed = run_bounded(lambda: (_ for _ in ()).throw(MalformedResponse("bad")))
    assert judge(operation, "x", typed) is None
    assert isinstance(typed.error, CardError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("truncate:2", "3003 9000"),
        ("cut:1", "30"),
        ("empty", "9000"),
        ("sw:6F00", "6F00"),
        ("sw+data:6282", "3003616263 6282"),
        ("tlv:overrun", "3004616263 9000"),
        ("tlv:under", "3001616263 9000"),
        ("tlv:indefinite", "3080616263 9000"),
        ("tlv:65535", "3082FFFF616263 9000"),
        ("tlv:4g", "3084FFFFFFFF616263 9000"),
        ("tlv:85", "30850000000003616263 9000"),
        ("tlv:tag-only", "30 9000"),
        ("tlv:zero-tag", "0003616263 9000"),
        ("long:7", "30036162633003 9000"),
        ("flip:1", "30FC616263 9000"),
        ("patch:1=05+6=AA", "3005616263 00AA 9000"),
        ("replace:0102", "0102"),
    ],
)
def test_malformations_transform_the_answer(text: str, expected: str) -> None:
    hostile = HostileCard(copy.deepcopy(base_card()))
    real = bytes.fromhex("3003616263 9000")
    command = bytes.fromhex("00B1CE0304540200 00 0000")
    assert malformation(text).apply(real, command, hostile) == bytes.fromhex(expected)


def test_full_answers_exactly_ne_bytes_and_the_61_loop_goes_on() -> None:
    hostile = HostileCard(copy.deepcopy(base_card()), "ins:84@full")
    hostile.power_on()
    assert hostile.process_apdu(bytes.fromhex("00A404040BE82B0601040181C31F020100"))[-2:] == (
        b"\x90\x00"
    )
    answer = hostile.process_apdu(bytes.fromhex("0084000020"))
    assert len(answer) == 0x20 + 2 and answer[-2:] == b"\x90\x00"
    hostile.set_rules("ins:84@loop:61")
    assert hostile.process_apdu(bytes.fromhex("0084000020")) == b"\x61\x10"
    for _ in range(5):
        step = hostile.process_apdu(bytes.fromhex("00C0000010"))
        assert len(step) == 18 and step[-2:] == b"\x61\x10"
    assert hostile.log.loop_steps == 5
    # a new command ends the loop; the rule hits this one again and starts a new loop
    assert hostile.process_apdu(bytes.fromhex("0084000008"))[-2:] == b"\x61\x10"
    hostile.clear()
    assert hostile.process_apdu(bytes.fromhex("0084000008"))[-2:] == b"\x90\x00"
