"""Fuzzing the card's answers: arbitrary response bytes and status words, and real
responses with bytes overwritten, fed to every command the session sends.

Each input goes through the hostile card (:mod:`keymanager.simulator.hostile`) to the
command of one operation of ``_hostile_support.OPERATIONS``; the operation must end
within the time limit with a :class:`~keymanager.card.errors.CardError` subclass or a
result its validity check accepts.  Every input is counted for the report.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keymanager.simulator.hostile import Malformation, Rule
from tests.reliability._hostile_support import OPERATIONS, Operation, judge, run_case
from tests.support.figures import fuzz_settings, tally

INTERESTING_SWS = (
    0x9000,
    0x6100,
    0x6110,
    0x61FF,
    0x6C00,
    0x6C10,
    0x6282,
    0x6283,
    0x6300,
    0x63C0,
    0x63C3,
    0x6700,
    0x6982,
    0x6983,
    0x6984,
    0x6985,
    0x6A80,
    0x6A82,
    0x6A86,
    0x6A88,
    0x6B00,
    0x6D00,
    0x6E00,
    0x6F00,
)

status_words = st.one_of(st.sampled_from(INTERESTING_SWS), st.integers(0, 0xFFFF))
operations = st.sampled_from(OPERATIONS)


def _check(operation: Operation, malformation: Malformation) -> None:
    outcome = run_case(operation, Rule(operation.target, malformation))
    problem = judge(operation, malformation.text, outcome)
    assert problem is None, problem


@fuzz_settings(ci_examples=300)
@given(
    operation=operations,
    data=st.one_of(
        st.binary(max_size=40),
        st.binary(min_size=200, max_size=700),
        # TLV-looking data: a tag byte the session expects, then anything
        st.tuples(st.sampled_from(b"\x30\x62\x67\x7f\xa0\xa8\x04\x85"), st.binary(max_size=80)).map(
            lambda pair: bytes([pair[0]]) + pair[1]
        ),
    ),
    sw=status_words,
)
def test_arbitrary_answers(operation: Operation, data: bytes, sw: int) -> None:
    tally("fuzz", "APDU responses: arbitrary data and status word", 1)
    _check(operation, Malformation("replace", (data + sw.to_bytes(2, "big")).hex()))


@fuzz_settings(ci_examples=300)
@given(
    operation=operations,
    patches=st.lists(
        st.tuples(st.integers(0, 300), st.binary(min_size=1, max_size=4)), min_size=1, max_size=4
    ),
)
def test_real_answers_with_bytes_overwritten(
    operation: Operation, patches: list[tuple[int, bytes]]
) -> None:
    tally("fuzz", "APDU responses: real answers with bytes overwritten", 1)
    argument = "+".join(f"{offset}={value.hex()}" for offset, value in patches)
    _check(operation, Malformation("patch", argument))
