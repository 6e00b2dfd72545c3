"""PaperKey: layout, round trip, and that every typing error is found and located."""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keymanager.dkek.dkek import share_fingerprint
from keymanager.dkek.errors import (
    InvalidShare,
    PaperKeyChecksumError,
    PaperKeyError,
    PaperKeyFormatError,
    PaperKeyGroupError,
)
from keymanager.dkek.paperkey import (
    ALPHABET,
    check_paperkey_line,
    check_symbol,
    decode_paperkey,
    encode_paperkey,
    format_share_fingerprint,
    gf32_multiply,
)

SHARE = bytes(range(32))
# The known answer, so that the printed format cannot drift unnoticed.
EXPECTED_LINES = (
    "1: 200100 81G81W 860W4P",
    "2: 0J2GB7 1G6GWX 3RG24V",
    "3: 91650T N2RBHP G68T31",
    "4: CE1T7P GZH58N RVG0Y0",
)
LINE_PATTERN = re.compile(
    r"^[1-4]: [0-9A-HJKMNP-TV-Z]{6} [0-9A-HJKMNP-TV-Z]{6} [0-9A-HJKMNP-TV-Z]{6}$"
)


def _data(line: str) -> str:
    """The 18 characters of a printed line, without its number and spaces."""
    return line.split(": ", 1)[1].replace(" ", "")


def _reference_multiply(a: int, b: int) -> int:
    """Carry-less multiplication reduced by x^5 + x^2 + 1, independent of the tables."""
    product = 0
    for bit in range(5):
        if b >> bit & 1:
            product ^= a << bit
    for bit in range(8, 4, -1):
        if product >> bit & 1:
            product ^= 0b100101 << (bit - 5)
    return product


def _group_lines(symbols: list[int]) -> list[str]:
    """Lay out 60 data symbols with correct check characters, like the encoder."""
    groups = []
    for position in range(12):
        data = symbols[position * 5 : position * 5 + 5]
        groups.append("".join(ALPHABET[s] for s in [*data, check_symbol(position, data)]))
    return [" ".join(groups[line * 3 : line * 3 + 3]) for line in range(4)]


# --- layout and round trip -------------------------------------------------------------


def test_known_answer() -> None:
    paperkey = encode_paperkey(SHARE)
    assert paperkey.lines == EXPECTED_LINES
    assert paperkey.fingerprint == "630D CD29 66C4 3366"
    assert paperkey.fingerprint.replace(" ", "") == share_fingerprint(SHARE).hex().upper()


def test_alphabet_has_32_symbols_without_look_alikes() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set(ALPHABET) & set("ILOU")


@given(st.binary(min_size=32, max_size=32))
def test_round_trip(share: bytes) -> None:
    paperkey = encode_paperkey(share)
    assert len(paperkey.lines) == 4
    for number, line in enumerate(paperkey.lines, start=1):
        assert LINE_PATTERN.match(line)
        assert line.startswith(f"{number}: ")
    assert decode_paperkey(paperkey.lines) == share
    assert decode_paperkey("\n".join(paperkey.lines)) == share
    assert paperkey.fingerprint == format_share_fingerprint(share)


def test_payload_layout_version_share_checksum() -> None:
    share = bytes(range(100, 132))
    data = "".join(
        _data(line)[g * 6 : g * 6 + 5] for line in encode_paperkey(share).lines for g in range(3)
    )
    payload = 0
    for character in data:
        payload = payload << 5 | ALPHABET.index(character)
    checksum = hashlib.sha256(b"keymanager-paperkey-v1" + share).digest()[:5]
    assert payload >> 296 == 1
    assert (payload >> 40) & (2**256 - 1) == int.from_bytes(share, "big")
    assert payload & (2**40 - 1) == int.from_bytes(checksum, "big")


def test_fingerprint_format() -> None:
    assert re.fullmatch(r"[0-9A-F]{4}( [0-9A-F]{4}){3}", format_share_fingerprint(SHARE))


def test_sheet_text_holds_lines_fingerprint_and_instructions() -> None:
    paperkey = encode_paperkey(SHARE)
    text = paperkey.text()
    for line in EXPECTED_LINES:
        assert line in text
    assert "630D CD29 66C4 3366" in text
    assert "PaperKey" in text
    assert "check character" in text
    assert text.isascii()


def test_lines_are_not_in_repr() -> None:
    paperkey = encode_paperkey(SHARE)
    assert "200100" not in repr(paperkey)
    assert "630D CD29 66C4 3366" in repr(paperkey)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_share_of_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(InvalidShare):
        encode_paperkey(bytes(length))


# --- GF(32) ---------------------------------------------------------------------------


def test_gf32_multiplication_matches_reference() -> None:
    for a, b in itertools.product(range(32), repeat=2):
        assert gf32_multiply(a, b) == _reference_multiply(a, b)


def test_worked_example_from_the_documentation() -> None:
    # docs/paperkey.md: line 1, group 2 "81G81W" of the known answer, position 1
    assert _reference_multiply(20, 2) == 13
    assert [ALPHABET.index(c) for c in "81G81"] == [8, 1, 16, 8, 1]
    assert check_symbol(1, [8, 1, 16, 8, 1]) == 28 == ALPHABET.index("W")


def test_alpha_is_primitive_and_check_weights_are_distinct() -> None:
    powers = [1]
    for _ in range(30):
        powers.append(gf32_multiply(powers[-1], 2))
    assert sorted(powers) == list(range(1, 32))
    # Weights of c0..c4 are alpha^1..alpha^5; the check character has weight 1 = alpha^0.
    assert len({powers[0], *powers[1:6]}) == 6


# --- every single-character error is detected and located -------------------------------


def test_every_single_substitution_is_located_to_its_group() -> None:
    good_lines = [_data(line) for line in encode_paperkey(SHARE).lines]
    cases = 0
    for line_index, line in enumerate(good_lines):
        for column, original in enumerate(line):
            for replacement in ALPHABET:
                if replacement == original:
                    continue
                typed = list(good_lines)
                typed[line_index] = line[:column] + replacement + line[column + 1 :]
                with pytest.raises(PaperKeyGroupError) as caught:
                    decode_paperkey(typed)
                assert (caught.value.line, caught.value.group) == (line_index + 1, column // 6 + 1)
                assert "check character does not match" in str(caught.value)
                cases += 1
    assert cases == 72 * 31


def test_single_substitution_is_located_for_random_shares() -> None:
    rng = random.Random(7)
    for _ in range(50):
        share = rng.randbytes(32)
        lines = [_data(line) for line in encode_paperkey(share).lines]
        line_index, column = rng.randrange(4), rng.randrange(18)
        replacement = rng.choice(ALPHABET.replace(lines[line_index][column], ""))
        lines[line_index] = (
            lines[line_index][:column] + replacement + lines[line_index][column + 1 :]
        )
        assert check_paperkey_line(line_index + 1, lines[line_index]) == [column // 6 + 1]
        with pytest.raises(PaperKeyGroupError) as caught:
            decode_paperkey(lines)
        assert (caught.value.line, caught.value.group) == (line_index + 1, column // 6 + 1)


def test_swapping_two_different_characters_of_a_group_always_changes_its_check() -> None:
    # The check is linear over GF(32): with the check character k given weight 1 and
    # c0..c4 the weights alpha^1..alpha^5, a group is consistent when the weighted sum
    # equals the position term.  Swapping two different symbols at weights u != v
    # changes the sum by (u + v)(a + b) != 0, whatever the other symbols are, so
    # checking every symbol pair with the other symbols fixed covers every group.
    for position in range(12):
        # two data characters
        for i, j in itertools.combinations(range(5), 2):
            for a, b in itertools.permutations(range(32), 2):
                data = [0] * 5
                data[i], data[j] = a, b
                swapped = list(data)
                swapped[i], swapped[j] = b, a
                assert check_symbol(position, swapped) != check_symbol(position, data)
        # a data character and the check character: vary c_i and one other symbol,
        # which makes the check character k take every value
        for i in range(5):
            other = (i + 1) % 5
            for a, b in itertools.product(range(32), repeat=2):
                data = [0] * 5
                data[i], data[other] = a, b
                check = check_symbol(position, data)
                if check == a:
                    continue
                swapped = list(data)
                swapped[i] = check
                assert check_symbol(position, swapped) != a  # the typed check character


def test_adjacent_transpositions_are_detected_and_located() -> None:
    rng = random.Random(11)
    detected = 0
    for _ in range(20):
        lines = [_data(line) for line in encode_paperkey(rng.randbytes(32)).lines]
        for line_index, line in enumerate(lines):
            for column in range(17):
                if line[column] == line[column + 1]:
                    continue
                typed = list(lines)
                typed[line_index] = (
                    line[:column] + line[column + 1] + line[column] + line[column + 2 :]
                )
                with pytest.raises(PaperKeyGroupError) as caught:
                    decode_paperkey(typed)
                assert caught.value.line == line_index + 1
                # within a group, or across a boundary: the first of the two groups fails
                assert caught.value.group == column // 6 + 1
                detected += 1
    assert detected > 1000


def test_swapped_groups_are_detected() -> None:
    lines = [_data(line) for line in encode_paperkey(SHARE).lines]
    swapped = list(lines)
    swapped[0] = lines[0][6:12] + lines[0][0:6] + lines[0][12:]
    with pytest.raises(PaperKeyGroupError) as caught:
        decode_paperkey(swapped)
    assert (caught.value.line, caught.value.group) == (1, 1)
    assert check_paperkey_line(1, swapped[0]) == [1, 2]
    # a group moved to another line
    swapped = list(lines)
    swapped[1] = lines[2][0:6] + lines[1][6:]
    swapped[2] = lines[1][0:6] + lines[2][6:]
    with pytest.raises(PaperKeyGroupError) as caught:
        decode_paperkey(swapped)
    assert (caught.value.line, caught.value.group) == (2, 1)


def test_swapped_lines_are_detected() -> None:
    lines = [_data(line) for line in encode_paperkey(SHARE).lines]
    swapped = [lines[0], lines[2], lines[1], lines[3]]
    with pytest.raises(PaperKeyGroupError) as caught:
        decode_paperkey(swapped)
    assert (caught.value.line, caught.value.group) == (2, 1)
    # with the printed numbers, the numbering itself tells
    printed = list(EXPECTED_LINES)
    printed[1], printed[2] = printed[2], printed[1]
    with pytest.raises(PaperKeyFormatError, match="line 2 is numbered 3"):
        decode_paperkey(printed)


def test_a_line_typed_twice_is_detected() -> None:
    lines = [_data(line) for line in encode_paperkey(SHARE).lines]
    with pytest.raises(PaperKeyGroupError) as caught:
        decode_paperkey([lines[0], lines[0], lines[2], lines[3]])
    assert (caught.value.line, caught.value.group) == (2, 1)


@pytest.mark.parametrize("count", [0, 3, 5])
def test_missing_or_extra_lines_are_refused(count: int) -> None:
    lines = [*EXPECTED_LINES, "1: 000000 000000 000000"]
    with pytest.raises(PaperKeyFormatError, match=f"expected 4 lines, got {count}"):
        decode_paperkey(lines[:count])
    with pytest.raises(PaperKeyFormatError, match=f"expected 4 lines, got {count}"):
        decode_paperkey("\n\n".join(lines[:count]))


def test_a_line_of_wrong_length_is_refused_with_its_number() -> None:
    lines = list(EXPECTED_LINES)
    lines[2] = lines[2][:-1]
    with pytest.raises(PaperKeyFormatError, match="line 3 has 17 characters; it must have 18"):
        decode_paperkey(lines)
    lines[2] = EXPECTED_LINES[2] + "X"
    with pytest.raises(PaperKeyFormatError, match="line 3 has 19 characters"):
        decode_paperkey(lines)
    lines[2] = "   "
    with pytest.raises(PaperKeyFormatError, match="line 3 is empty"):
        decode_paperkey(lines)


@pytest.mark.parametrize("character", ["U", "u", "*", "\u00c9"])
def test_a_character_outside_the_alphabet_names_it(character: str) -> None:
    lines = list(EXPECTED_LINES)
    lines[3] = lines[3][:12] + character + lines[3][13:]  # line 4, group 2
    with pytest.raises(
        PaperKeyGroupError, match=re.escape(f"line 4, group 2 is mistyped: '{character}' is not")
    ) as caught:
        decode_paperkey(lines)
    assert (caught.value.line, caught.value.group) == (4, 2)


def test_checksum_catches_two_errors_that_fool_one_group() -> None:
    lines = [_data(line) for line in encode_paperkey(SHARE).lines]
    group = [ALPHABET.index(c) for c in lines[1][6:12]]  # line 2, group 2 = position 4
    group[0] ^= 1
    # find the second data symbol that makes the group consistent again
    group[1] = next(v for v in range(32) if check_symbol(4, [group[0], v, *group[2:5]]) == group[5])
    typed = list(lines)
    typed[1] = lines[1][:6] + "".join(ALPHABET[s] for s in group) + lines[1][12:]
    assert check_paperkey_line(2, typed[1]) == []
    with pytest.raises(PaperKeyChecksumError, match="several typing errors"):
        decode_paperkey(typed)


def test_an_unknown_version_is_refused() -> None:
    symbols = [0] * 60
    symbols[0] = 0b00100  # version 2
    with pytest.raises(PaperKeyFormatError, match="version 2; this key manager reads version 1"):
        decode_paperkey(_group_lines(symbols))


def test_all_errors_are_paperkey_errors() -> None:
    with pytest.raises(PaperKeyError):
        decode_paperkey([])


# --- entry rules -------------------------------------------------------------------------


def test_lower_case_and_look_alikes_are_accepted() -> None:
    typed = [
        f"{number}: " + _data(line).lower().replace("0", "o").replace("1", "l")
        for number, line in enumerate(EXPECTED_LINES, start=1)
    ]
    typed[2] = typed[2].replace("l", "I")
    assert "o" in "".join(typed) and "l" in "".join(typed) and "I" in typed[2]
    assert decode_paperkey(typed) == SHARE


@pytest.mark.parametrize(
    "style",
    [
        lambda number, data: f"{number}: {data[:6]} {data[6:12]} {data[12:]}",
        lambda number, data: f"{number}. {data[:6]}-{data[6:12]}-{data[12:]}",
        lambda number, data: f"  {number} {data[:6]} {data[6:12]} {data[12:]}  ",
        lambda number, data: f"{number}:{data}",
        lambda number, data: data,
        lambda number, data: f"{data[:3]} {data[3:9]}-{data[9:]}",
        lambda number, data: f"{number} {data}",
    ],
)
def test_separators_and_line_numbers_are_ignored(style: Callable[[int, str], str]) -> None:
    typed = [style(number, _data(line)) for number, line in enumerate(EXPECTED_LINES, start=1)]
    assert decode_paperkey(typed) == SHARE


def test_whole_text_with_blank_lines_is_accepted() -> None:
    text = "\n\n" + "\n\n".join(f"   {line}  " for line in EXPECTED_LINES) + "\n"
    assert decode_paperkey(text) == SHARE


def test_a_line_starting_with_a_digit_is_not_mistaken_for_a_number() -> None:
    # line 3 starts with "9"; typed without its number it must still read as data
    assert _data(EXPECTED_LINES[2]).startswith("9")
    typed = list(EXPECTED_LINES)
    typed[2] = "9 1650T N2RBHP G68T31"
    assert decode_paperkey(typed) == SHARE


def test_check_paperkey_line_live_validation() -> None:
    for number, line in enumerate(EXPECTED_LINES, start=1):
        assert check_paperkey_line(number, line) == []
        assert check_paperkey_line(number, _data(line).lower()) == []
    data = _data(EXPECTED_LINES[0])
    two_errors = "Z" + data[1:12] + data[12:17] + ("0" if data[17] != "0" else "1")
    assert check_paperkey_line(1, two_errors) == [1, 3]
    assert check_paperkey_line(1, data[:6] + "U" + data[7:]) == [2]
    # a correct line 1 checked as line 2 fails everywhere: the position is in the check
    assert check_paperkey_line(2, data) == [1, 2, 3]
    with pytest.raises(PaperKeyFormatError, match="line 1 has 12 characters"):
        check_paperkey_line(1, data[:12])
    with pytest.raises(PaperKeyFormatError, match="lines 1 to 4, not 5"):
        check_paperkey_line(5, data)
    with pytest.raises(PaperKeyFormatError, match="line 2 is numbered 1"):
        check_paperkey_line(2, EXPECTED_LINES[0])
