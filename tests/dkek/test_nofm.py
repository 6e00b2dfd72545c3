"""n-of-m password shares: Shamir over a prime field as sc-hsm-tool does it, and its notation."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keymanager.dkek.errors import (
    DuplicateShareId,
    InvalidPrime,
    InvalidSplitParameters,
    MalformedShareEntry,
    NotEnoughShares,
    PasswordShareError,
)
from keymanager.dkek.nofm import (
    PasswordShare,
    PasswordSplit,
    candidate_passwords,
    format_prime,
    format_share_id,
    format_share_sheet,
    format_share_value,
    generate_password,
    generate_safe_prime,
    is_probable_prime,
    parse_prime,
    parse_share_id,
    parse_share_value,
    recover_password,
    split_password,
)

# A fixed 64-bit safe prime (the first above 0xc31f22 << 40), checked below by OpenSSL
# and an independent test, so that tests that need no fresh prime stay fast.
FIXED_PRIME = 0xC31F220000000237


def _slow_is_prime(n: int) -> bool:
    """Trial division: exact, slow, and shares no code with the module under test."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


def _fixed_source(*chunks: bytes) -> Callable[[int], bytes]:
    """A fake random source that returns the given chunks in turn."""
    remaining = list(chunks)

    def random_bytes(length: int) -> bytes:
        chunk = remaining.pop(0)
        assert len(chunk) == length
        return chunk

    return random_bytes


def _evaluate(coefficients: list[int], x: int, prime: int) -> int:
    """Evaluate sum(coefficient_k * x^k) mod prime term by term, as sc-hsm-tool does."""
    return sum(c * pow(x, k, prime) for k, c in enumerate(coefficients)) % prime


# --- password -----------------------------------------------------------------------


def test_generated_passwords_are_8_bytes_with_a_nonzero_first_byte_below_0x80() -> None:
    for _ in range(5000):
        password = generate_password()
        assert len(password) == 8
        assert 0x01 <= password[0] <= 0x7F


def test_a_draw_whose_first_byte_masks_to_zero_is_drawn_again() -> None:
    first = b"\x80" + bytes.fromhex("11223344556677")  # 0x80 & 0x7F == 0: refused
    second = b"\x00" + bytes.fromhex("8899aabbccddee")  # zero first byte: refused
    third = b"\xc5" + bytes.fromhex("0102030405060708")[:7]
    password = generate_password(_fixed_source(first, second, third))
    assert password == b"\x45" + third[1:]


def test_the_first_byte_is_masked_to_7_bits() -> None:
    assert generate_password(_fixed_source(b"\xff" * 8)) == b"\x7f" + b"\xff" * 7


def test_a_random_source_returning_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="returned 7 bytes"):
        generate_password(lambda length: os.urandom(length - 1))


# --- primes -------------------------------------------------------------------------


def test_is_probable_prime_agrees_with_trial_division_on_small_numbers() -> None:
    for n in range(-5, 20_000):
        assert is_probable_prime(n) == _slow_is_prime(n), n


@pytest.mark.parametrize(
    "composite",
    [
        561,  # Carmichael number
        3_215_031_751,  # strong pseudoprime to bases 2, 3, 5, 7
        3_825_123_056_546_413_051,  # strong pseudoprime to bases 2 .. 23, below 2**64
        318_665_857_834_031_151_167_461,  # strong pseudoprime to bases 2 .. 37
        (2**61 - 1) * (2**31 - 1),
        2**67 - 1,  # 193707721 * 761838257287
        FIXED_PRIME * 1_000_003,
    ],
)
def test_is_probable_prime_rejects_pseudoprimes_and_composites(composite: int) -> None:
    assert not is_probable_prime(composite)


@pytest.mark.parametrize("prime", [2**61 - 1, 2**89 - 1, 2**127 - 1, 2**521 - 1, FIXED_PRIME])
def test_is_probable_prime_accepts_large_primes(prime: int) -> None:
    assert is_probable_prime(prime)


def test_fixed_prime_is_a_safe_prime() -> None:
    assert is_probable_prime(FIXED_PRIME)
    assert is_probable_prime((FIXED_PRIME - 1) // 2)


def test_safe_primes_of_32_bits_are_safe_by_trial_division() -> None:
    rng = random.Random(1)
    for _ in range(20):
        prime = generate_safe_prime(32, randbits=rng.getrandbits)
        assert prime.bit_length() == 32
        assert _slow_is_prime(prime)
        assert _slow_is_prime((prime - 1) // 2)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_64_bit_safe_primes_are_safe_according_to_openssl() -> None:
    primes = [generate_safe_prime() for _ in range(5)] + [FIXED_PRIME]
    for prime in primes:
        assert prime.bit_length() == 64
        for number in (prime, (prime - 1) // 2):
            result = subprocess.run(
                ["openssl", "prime", str(number)], capture_output=True, text=True, check=True
            )
            assert "is prime" in result.stdout, (number, result.stdout)


def test_safe_primes_have_the_top_bit_set_and_are_fresh() -> None:
    primes = {generate_safe_prime() for _ in range(20)}
    assert len(primes) == 20
    for prime in primes:
        assert 2**63 < prime < 2**64
        assert prime % 12 == 11  # every safe prime above 7
        assert is_probable_prime((prime - 1) // 2)


def test_too_small_prime_size_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bits"):
        generate_safe_prime(8)


# --- split and recovery -------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    random_password=st.binary(min_size=8, max_size=8),
    total=st.integers(min_value=3, max_value=9),
)
def test_split_and_recover_round_trip(
    data: st.DataObject, random_password: bytes, total: int
) -> None:
    threshold = data.draw(st.integers(min_value=2, max_value=total), label="threshold")
    password = generate_password(_fixed_source(random_password, b"\x01" * 8))
    split = split_password(password, threshold, total)
    assert split.threshold == threshold
    assert split.total == total
    assert [share.share_id for share in split.shares] == list(range(1, total + 1))
    assert split.prime.bit_length() == 64
    assert split.prime > int.from_bytes(password, "big")
    chosen = data.draw(
        st.lists(st.sampled_from(split.shares), min_size=threshold, max_size=total, unique=True),
        label="shares",
    )
    assert recover_password(split.prime, chosen, threshold) == password
    assert candidate_passwords(split.prime, chosen) == [password]


def test_every_subset_of_at_least_threshold_shares_recovers() -> None:
    password = bytes.fromhex("5a1b2c3d4e5f6071")
    split = split_password(password, 3, 5, prime=FIXED_PRIME)
    for size in (3, 4, 5):
        for subset in itertools.combinations(split.shares, size):
            assert recover_password(split.prime, subset, 3) == password
            # order does not matter
            assert recover_password(split.prime, subset[::-1]) == password


def test_fewer_shares_than_the_threshold_do_not_give_the_password() -> None:
    password = bytes.fromhex("3c4d5e6f708192a3")
    for threshold in range(3, 10):
        split = split_password(password, threshold, 9, prime=FIXED_PRIME)
        for subset in itertools.islice(itertools.combinations(split.shares, threshold - 1), 40):
            assert recover_password(split.prime, subset) != password
            with pytest.raises(NotEnoughShares):
                recover_password(split.prime, subset, threshold)


def test_shares_match_a_hand_computed_polynomial() -> None:
    password = bytes.fromhex("0102030405060708")
    secret = int.from_bytes(password, "big")
    coefficients = iter([1234567, FIXED_PRIME - 1])
    split = split_password(
        password, 3, 4, prime=FIXED_PRIME, randbelow=lambda _: next(coefficients)
    )
    polynomial = [secret, 1234567, FIXED_PRIME - 1]
    assert split == PasswordSplit(
        prime=FIXED_PRIME,
        threshold=3,
        shares=tuple(PasswordShare(x, _evaluate(polynomial, x, FIXED_PRIME)) for x in range(1, 5)),
    )


def test_a_password_with_a_high_first_byte_gets_a_larger_prime() -> None:
    # sc-hsm-tool before OpenSC PR #670 set the top bit; such a password still splits.
    password = bytes.fromhex("e0aabbccddeeff01")
    split = split_password(password, 2, 3)
    assert split.prime > int.from_bytes(password, "big")
    assert recover_password(split.prime, split.shares[:2]) == password


@pytest.mark.parametrize(
    ("threshold", "total", "message"),
    [
        (2, 2, "at least 3 shares"),
        (2, 10, "at most 9 shares.*hexadecimal"),
        (1, 3, "between 2 and the total"),
        (4, 3, "between 2 and the total"),
    ],
)
def test_split_parameters_out_of_range_are_refused(
    threshold: int, total: int, message: str
) -> None:
    with pytest.raises(InvalidSplitParameters, match=message):
        split_password(bytes.fromhex("1122334455667788"), threshold, total, prime=FIXED_PRIME)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (bytes.fromhex("11223344556677"), "must be 8 bytes, not 7"),
        (bytes.fromhex("001122334455667788")[:8], "zero byte"),
    ],
)
def test_passwords_that_would_not_rebuild_are_refused(password: bytes, message: str) -> None:
    with pytest.raises(InvalidSplitParameters, match=message):
        split_password(password, 2, 3, prime=FIXED_PRIME)


def test_split_with_a_composite_or_too_small_prime_is_refused() -> None:
    password = bytes.fromhex("7f00000000000001")
    with pytest.raises(InvalidPrime, match="not a prime"):
        split_password(password, 2, 3, prime=FIXED_PRIME + 2)
    with pytest.raises(InvalidPrime, match="larger than the password"):
        split_password(password, 2, 3, prime=2**61 - 1)


def test_composite_prime_on_recovery_is_refused() -> None:
    split = split_password(bytes.fromhex("1122334455667788"), 2, 3, prime=FIXED_PRIME)
    for not_a_prime in (FIXED_PRIME - 2, 0, 1, 3_825_123_056_546_413_051):
        with pytest.raises(InvalidPrime, match="not a prime"):
            recover_password(not_a_prime, split.shares)


def test_duplicate_share_ids_are_refused() -> None:
    split = split_password(bytes.fromhex("1122334455667788"), 2, 3, prime=FIXED_PRIME)
    first = split.shares[0]
    with pytest.raises(DuplicateShareId, match="share ID 1 was entered twice"):
        recover_password(split.prime, [first, split.shares[1], PasswordShare(1, 42)])


def test_too_few_shares_are_refused() -> None:
    split = split_password(bytes.fromhex("1122334455667788"), 3, 5, prime=FIXED_PRIME)
    with pytest.raises(NotEnoughShares, match=r"2 shares are needed.*only 1 was entered"):
        recover_password(split.prime, split.shares[:1])
    with pytest.raises(NotEnoughShares, match=r"2 shares are needed.*only 0 were entered"):
        candidate_passwords(split.prime, [])
    with pytest.raises(NotEnoughShares, match=r"3 shares are needed.*only 2 were"):
        recover_password(split.prime, split.shares[:2], threshold=3)
    with pytest.raises(InvalidSplitParameters):
        recover_password(split.prime, split.shares, threshold=1)


def test_share_ids_and_values_out_of_range_are_refused() -> None:
    split = split_password(bytes.fromhex("1122334455667788"), 2, 3, prime=FIXED_PRIME)
    good = split.shares[0]
    for bad_id in (0, 256, -1):
        with pytest.raises(MalformedShareEntry, match="between 1 and 255"):
            recover_password(split.prime, [good, PasswordShare(bad_id, 5)])
    with pytest.raises(MalformedShareEntry, match="not smaller than the prime") as caught:
        recover_password(split.prime, [good, PasswordShare(2, FIXED_PRIME + 12345)])
    assert str(FIXED_PRIME + 12345) not in str(caught.value)
    with pytest.raises(InvalidPrime, match="not larger than share ID 200"):
        recover_password(197, [PasswordShare(1, 5), PasswordShare(200, 5)])


def test_candidate_passwords_for_a_secret_whose_first_byte_is_zero() -> None:
    # sc-hsm-tool's own generator could not make this; another tool might have.
    password = bytes.fromhex("00a1b2c3d4e5f607")
    secret = int.from_bytes(password, "big")
    polynomial = [secret, 0x1234_5678_9ABC_DEF0 % FIXED_PRIME, 987654321]
    shares = [PasswordShare(x, _evaluate(polynomial, x, FIXED_PRIME)) for x in (2, 4, 5)]
    assert recover_password(FIXED_PRIME, shares) == password
    assert candidate_passwords(FIXED_PRIME, shares) == [password, password[1:]]


def test_candidate_passwords_with_several_leading_zero_bytes() -> None:
    password = bytes.fromhex("0000000000000abc")
    polynomial = [int.from_bytes(password, "big"), 77]
    shares = [PasswordShare(x, _evaluate(polynomial, x, FIXED_PRIME)) for x in (1, 3)]
    assert candidate_passwords(FIXED_PRIME, shares) == [password, b"\x0a\xbc"]


def test_share_value_is_not_in_repr() -> None:
    share = PasswordShare(3, 0x1122334455667788)
    assert "3" in repr(share)
    assert str(0x1122334455667788) not in repr(share)
    assert "1122334455667788" not in repr(share)


# --- notation -----------------------------------------------------------------------


def test_format_matches_sc_hsm_tool() -> None:
    assert format_prime(FIXED_PRIME) == "c3:1f:22:00:00:00:02:37"
    assert format_share_value(0x0A0B0C) == "0a:0b:0c"  # minimal, shorter than 8 bytes
    assert format_share_value(0x7F) == "7f"
    assert format_share_value(0) == "00"
    assert format_share_id(7) == "7"
    with pytest.raises(ValueError, match="negative"):
        format_share_value(-1)


@given(st.integers(min_value=0, max_value=2**512 - 1))
def test_display_form_round_trip(value: int) -> None:
    assert parse_prime(format_prime(value)) == value
    assert parse_share_value(format_share_value(value)) == value


def test_parse_values_exactly_as_printed_by_sc_hsm_tool() -> None:
    split = split_password(bytes.fromhex("6b5a49382716f5e4"), 2, 3, prime=FIXED_PRIME)
    sheet = format_share_sheet(split, 1)
    fields = dict(line.split(" : ", 1) for line in sheet.splitlines() if " : " in line)
    assert fields.keys() == {"Prime      ", "Share ID   ", "Share value"}
    prime = parse_prime(fields["Prime      "])
    share_id = parse_share_id(fields["Share ID   "])
    value = parse_share_value(fields["Share value"])
    assert (prime, share_id, value) == (FIXED_PRIME, 2, split.shares[1].value)
    assert parse_prime("c3:1f:22:00:00:00:02:37") == FIXED_PRIME
    assert parse_share_value("1f:03") == 0x1F03


@pytest.mark.parametrize(
    "text",
    [
        "c3:1f:22:00:00:00:02:37",
        "C3:1F:22:00:00:00:02:37",
        "c3 1f 22 00 00 00 02 37",
        "c31f220000000237",
        "  c31f 2200  0000 0237\n",
        "c3:1f:22:00 : 00:00:02:37",
        "\tC31F220000000237 ",
    ],
)
def test_prime_entry_accepts_separators_case_and_whitespace(text: str) -> None:
    assert parse_prime(text) == FIXED_PRIME


def test_a_single_digit_group_is_one_byte_as_in_opensc() -> None:
    assert parse_share_value("3:1f") == 0x031F
    assert parse_share_value("a") == 0x0A


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c3:1g:22", "share value contains 'g', which is not a hexadecimal digit"),
        ("0x1f", "share value contains 'x'"),
        ("", "share value is empty"),
        ("   ", "share value is empty"),
        ("c31:f2", "group 1 of the share value has an odd number of hexadecimal digits"),
        ("c31f2", "share value has an odd number of hexadecimal digits"),
        ("ab" * 65, "65 bytes long"),
    ],
)
def test_malformed_share_values_are_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedShareEntry, match=message) as caught:
        parse_share_value(text)
    assert "c31" not in str(caught.value)


def test_malformed_prime_names_the_prime() -> None:
    with pytest.raises(MalformedShareEntry, match="the prime contains 'z'"):
        parse_prime("c3:1f:zz")


@pytest.mark.parametrize(
    ("text", "expected"), [("1", 1), (" 7 ", 7), ("10", 10), ("255", 255), ("007", 7)]
)
def test_share_ids_are_parsed_in_decimal_as_printed(text: str, expected: int) -> None:
    assert parse_share_id(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "between 1 and 255, not 0"),
        ("256", "between 1 and 255, not 256"),
        ("x", "decimal number as printed"),
        ("a", "decimal number as printed"),
        ("-1", "decimal number as printed"),
        ("1.5", "decimal number as printed"),
        ("\u0663", "decimal number as printed"),  # ARABIC-INDIC DIGIT THREE
        ("", "share ID is empty"),
    ],
)
def test_bad_share_ids_are_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedShareEntry, match=message):
        parse_share_id(text)


def test_all_entry_errors_are_password_share_errors() -> None:
    with pytest.raises(PasswordShareError):
        parse_share_id("x")


def test_share_sheet_uses_sc_hsm_tool_labels() -> None:
    split = split_password(bytes.fromhex("1122334455667788"), 3, 5, prime=FIXED_PRIME)
    sheet = format_share_sheet(split, 3)
    lines = sheet.splitlines()
    assert lines[0] == "Share 4 of 5"
    assert "Prime       : c3:1f:22:00:00:00:02:37" in lines
    assert "Share ID    : 4" in lines
    assert f"Share value : {format_share_value(split.shares[3].value)}" in lines
    assert "Any 3 of the 5 shares rebuild the password." in lines
    with pytest.raises(IndexError):
        format_share_sheet(split, 5)
