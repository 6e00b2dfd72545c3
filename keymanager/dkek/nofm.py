"""n-of-m password shares for a DKEK share file, exactly as OpenSC's sc-hsm-tool makes them.

Instead of a typed password, a share file (``.pbe``) can be protected by a random
8-byte binary password that is split among key custodians with Shamir's secret
sharing over a prime field:

* the password is 8 random bytes whose first byte is ANDed with ``0x7F``, read as a
  big-endian integer *s* < 2**63;
* a fresh random 64-bit *safe* prime *p* (*p* and (*p* - 1) / 2 both prime) is drawn;
  it is public and every custodian notes it;
* a polynomial f of degree *threshold* - 1 with f(0) = *s* and the other coefficients
  uniform in [0, *p*) gives share *x* the value f(*x*) mod *p*, for *x* = 1 .. *total*;
* any *threshold* shares rebuild *s* by Lagrange interpolation at *x* = 0.

Display and entry follow sc-hsm-tool: the prime and share values as minimal
big-endian bytes in lowercase hex separated by ``:``, the share ID in decimal.

Two sc-hsm-tool pitfalls are guarded against here:

* sc-hsm-tool prints the share ID in decimal but parses it back as hex, so IDs of 10
  and more would be misread there; a split therefore has at most 9 shares;
* sc-hsm-tool turns the rebuilt secret into its *minimal* big-endian bytes, so a
  password whose first byte is 0x00 would come back 7 bytes long and not decrypt;
  :func:`generate_password` never returns such a password, and
  :func:`recover_password` always returns the 8-byte form.

Python integers cannot be overwritten, so the secret and the polynomial live in
memory until the garbage collector reuses it; see :mod:`keymanager.dkek.secret`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from keymanager.dkek.errors import (
    DuplicateShareId,
    InvalidPrime,
    InvalidSplitParameters,
    MalformedShareEntry,
    NotEnoughShares,
)
from keymanager.dkek.secret import wipe

PASSWORD_LENGTH = 8
"""Length in bytes of the random password protecting an n-of-m share file."""

PRIME_BITS = 64
"""Size of the prime sc-hsm-tool draws for a split."""

MIN_TOTAL = 3
"""sc-hsm-tool refuses splits into fewer than three shares."""

MAX_TOTAL = 9
"""sc-hsm-tool parses share IDs as hex, so only IDs 1 to 9 rebuild there."""

MIN_THRESHOLD = 2
MAX_SHARE_ID = 255
MAX_ENTRY_BYTES = 64
"""Longest prime or share value accepted on entry (sc-hsm-tool's own buffer size)."""

_SMALL_PRIMES: tuple[int, ...] = tuple(
    n for n in range(2, 2000) if all(n % d for d in range(2, int(n**0.5) + 1))
)
_DETERMINISTIC_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
# The twelve bases above decide primality exactly for every n below this bound
# (Sorenson and Webster, 2015), which is far above 2**64.
_DETERMINISTIC_LIMIT = 318_665_857_834_031_151_167_461
_EXTRA_ROUNDS = 32
_MAX_PRIME_ATTEMPTS = 1000
_MIN_PRIME_BITS = 16

_SEPARATORS = re.compile(r"[:\s]+")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


# --- password ---------------------------------------------------------------------


def generate_password(random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """Draw the random 8-byte password that an n-of-m split protects.

    As in sc-hsm-tool, the first byte is ANDed with ``0x7F`` so that the password read
    as a big-endian integer is below 2**63 and thus below any 64-bit prime with its top
    bit set.  A draw whose first byte ends up 0x00 is thrown away and drawn again:
    sc-hsm-tool rebuilds the password in its minimal form, which would then be only
    7 bytes and would not decrypt the share file.
    """
    while True:
        buffer = bytearray(random_bytes(PASSWORD_LENGTH))
        if len(buffer) != PASSWORD_LENGTH:
            raise ValueError(
                f"the random source returned {len(buffer)} bytes, not {PASSWORD_LENGTH}"
            )
        buffer[0] &= 0x7F
        if buffer[0] != 0:
            password = bytes(buffer)
            wipe(buffer)
            return password
        wipe(buffer)


# --- primes -----------------------------------------------------------------------


def _miller_rabin_round(n: int, base: int, odd_part: int, twos: int) -> bool:
    """Return ``False`` if ``base`` proves the odd number ``n`` composite."""
    x = pow(base, odd_part, n)
    if x in (1, n - 1):
        return True
    for _ in range(twos - 1):
        x = pow(x, 2, n)
        if x == n - 1:
            return True
    return False


def is_probable_prime(
    n: int,
    extra_rounds: int = _EXTRA_ROUNDS,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> bool:
    """Tell whether ``n`` is prime.

    Trial division by the primes below 2000, then Miller-Rabin with the bases 2 to 37,
    which is exact (no false answer) for every ``n`` below 3.18 * 10**23, and so for
    every 64-bit number.  Larger numbers, which a user may type, additionally get
    ``extra_rounds`` rounds with random bases; a composite then passes with probability
    below 4**-extra_rounds.
    """
    if n < 2:
        return False
    for small_prime in _SMALL_PRIMES:
        if n == small_prime:
            return True
        if n % small_prime == 0:
            return False
    odd_part, twos = n - 1, 0
    while odd_part % 2 == 0:
        odd_part //= 2
        twos += 1
    for base in _DETERMINISTIC_BASES:
        if not _miller_rabin_round(n, base, odd_part, twos):
            return False
    if n < _DETERMINISTIC_LIMIT:
        return True
    for _ in range(extra_rounds):
        base = 2 + randbelow(n - 3)
        if not _miller_rabin_round(n, base, odd_part, twos):
            return False
    return True


def _sieve_passes(candidate_half: int) -> bool:
    """Tell whether neither q nor 2q + 1 has a small prime factor (q above the sieve)."""
    for small_prime in _SMALL_PRIMES[1:]:
        remainder = candidate_half % small_prime
        # q divisible by r, or 2q + 1 divisible by r, i.e. q = (r - 1) / 2 mod r.
        if remainder == 0 or remainder == (small_prime - 1) // 2:
            return False
    return True


def generate_safe_prime(
    bits: int = PRIME_BITS, randbits: Callable[[int], int] = secrets.randbits
) -> int:
    """Draw a random safe prime of exactly ``bits`` bits (top bit set).

    A safe prime *p* is a prime whose half (*p* - 1) / 2 is prime as well; this is what
    OpenSSL's ``BN_generate_prime_ex(bits, safe=1)`` gives sc-hsm-tool.  Candidates
    q = (*p* - 1) / 2 are drawn with the top bit set and q = 5 (mod 6), sieved so that
    neither q nor 2q + 1 has a prime factor below 2000, then both are checked with
    :func:`is_probable_prime` (exact for 64-bit numbers).
    """
    if bits < _MIN_PRIME_BITS:
        raise ValueError(f"a safe prime needs at least {_MIN_PRIME_BITS} bits, not {bits}")
    top_bit = 1 << (bits - 2)
    while True:
        half = randbits(bits - 1) | top_bit
        # Every safe prime above 7 has q = 5 (mod 6): q odd and not divisible by 3,
        # and 2q + 1 not divisible by 3 either.
        half += (5 - half % 6) % 6
        if half.bit_length() != bits - 1 or not _sieve_passes(half):
            continue
        if is_probable_prime(half) and is_probable_prime(2 * half + 1):
            return 2 * half + 1


# --- split and recovery -------------------------------------------------------------


@dataclass(frozen=True)
class PasswordShare:
    """One custodian's share: the point (``share_id``, ``value``) of the polynomial.

    The value is secret; it is left out of ``repr`` so that it does not end up in logs.
    """

    share_id: int
    value: int = field(repr=False)


@dataclass(frozen=True)
class PasswordSplit:
    """The result of splitting a password: the public prime, the threshold and the shares."""

    prime: int
    threshold: int
    shares: tuple[PasswordShare, ...]

    @property
    def total(self) -> int:
        """How many shares the password was split into."""
        return len(self.shares)


def _check_split_parameters(threshold: int, total: int) -> None:
    if total < MIN_TOTAL:
        raise InvalidSplitParameters(
            f"the password must be split into at least {MIN_TOTAL} shares "
            f"(sc-hsm-tool's minimum), not {total}"
        )
    if total > MAX_TOTAL:
        raise InvalidSplitParameters(
            f"the password can be split into at most {MAX_TOTAL} shares, not {total}: "
            "sc-hsm-tool reads share IDs back as hexadecimal, so share 10 and above "
            "would not rebuild the password there"
        )
    if not MIN_THRESHOLD <= threshold <= total:
        raise InvalidSplitParameters(
            f"the number of shares required must be between {MIN_THRESHOLD} and the "
            f"total number of shares ({total}), not {threshold}"
        )


def split_password(
    password: bytes,
    threshold: int,
    total: int,
    *,
    prime: int | None = None,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> PasswordSplit:
    """Split an 8-byte password into ``total`` shares, any ``threshold`` of which rebuild it.

    ``total`` must be 3 to 9 and ``threshold`` 2 to ``total``.  Without ``prime`` a fresh
    64-bit safe prime above the password is drawn (as sc-hsm-tool does, up to 1000
    tries); a given ``prime`` must be prime and larger than the password.  The other
    coefficients of the polynomial are drawn with ``randbelow``.

    The password must be 8 bytes with a non-zero first byte (see
    :func:`generate_password`): sc-hsm-tool would rebuild anything else differently.
    """
    _check_split_parameters(threshold, total)
    if len(password) != PASSWORD_LENGTH:
        raise InvalidSplitParameters(
            f"the password to split must be {PASSWORD_LENGTH} bytes, not {len(password)}"
        )
    if password[0] == 0:
        raise InvalidSplitParameters(
            "the password to split must not start with a zero byte: sc-hsm-tool would "
            "rebuild it 7 bytes long and it would not decrypt the share file"
        )
    secret = int.from_bytes(password, "big")
    if prime is None:
        for _ in range(_MAX_PRIME_ATTEMPTS):
            prime = generate_safe_prime(PRIME_BITS)
            if prime > secret:
                break
        else:
            raise InvalidSplitParameters(
                f"no {PRIME_BITS}-bit prime larger than the password was found in "
                f"{_MAX_PRIME_ATTEMPTS} draws: use a password from generate_password()"
            )
    else:
        if not is_probable_prime(prime):
            raise InvalidPrime("the prime given for the split is not a prime number")
        if prime <= secret:
            raise InvalidPrime("the prime given for the split must be larger than the password")
    coefficients = [secret] + [randbelow(prime) for _ in range(threshold - 1)]
    shares = tuple(
        PasswordShare(share_id, _evaluate_polynomial(coefficients, share_id, prime))
        for share_id in range(1, total + 1)
    )
    coefficients.clear()
    return PasswordSplit(prime=prime, threshold=threshold, shares=shares)


def _evaluate_polynomial(coefficients: Sequence[int], x: int, prime: int) -> int:
    """Evaluate the polynomial (constant term first) at ``x`` modulo ``prime`` (Horner)."""
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % prime
    return result


def _check_shares(prime: int, shares: Sequence[PasswordShare], threshold: int | None) -> None:
    if prime < 2 or not is_probable_prime(prime):
        raise InvalidPrime(
            "the prime entered is not a prime number: check it against the custodian's note"
        )
    if threshold is not None and threshold < MIN_THRESHOLD:
        raise InvalidSplitParameters(
            f"the number of shares required must be at least {MIN_THRESHOLD}, not {threshold}"
        )
    needed = max(MIN_THRESHOLD, threshold or 0)
    if len(shares) < needed:
        raise NotEnoughShares(
            f"{needed} shares are needed to rebuild the password, but only "
            f"{len(shares)} {'was' if len(shares) == 1 else 'were'} entered"
        )
    seen: set[int] = set()
    for position, share in enumerate(shares, start=1):
        if not 1 <= share.share_id <= MAX_SHARE_ID:
            raise MalformedShareEntry(
                f"share {position}: the share ID must be between 1 and {MAX_SHARE_ID}, "
                f"not {share.share_id}"
            )
        if share.share_id in seen:
            raise DuplicateShareId(
                f"share ID {share.share_id} was entered twice: each custodian's share "
                "has its own ID"
            )
        seen.add(share.share_id)
        if share.share_id >= prime:
            raise InvalidPrime(
                f"the prime entered is not larger than share ID {share.share_id}: "
                "check it against the custodian's note"
            )
        if not 0 <= share.value < prime:
            raise MalformedShareEntry(
                f"the value of share ID {share.share_id} is not smaller than the prime: "
                "the value or the prime is mistyped"
            )


def _interpolate_at_zero(prime: int, shares: Sequence[PasswordShare]) -> int:
    """Lagrange interpolation of the shares' polynomial at x = 0, modulo ``prime``."""
    secret = 0
    for share in shares:
        numerator, denominator = 1, 1
        for other in shares:
            if other.share_id == share.share_id:
                continue
            numerator = numerator * other.share_id % prime
            denominator = denominator * (other.share_id - share.share_id) % prime
        secret = (secret + share.value * numerator * pow(denominator, -1, prime)) % prime
    return secret


def _secret_to_password(secret: int) -> bytes:
    """The password in its 8-byte form (longer only if a prime above 2**64 was used)."""
    return secret.to_bytes(max(PASSWORD_LENGTH, (secret.bit_length() + 7) // 8), "big")


def recover_password(
    prime: int, shares: Sequence[PasswordShare], threshold: int | None = None
) -> bytes:
    """Rebuild the password from the custodians' shares.

    The entries are checked first: the prime must be prime (:class:`InvalidPrime`),
    share IDs between 1 and 255 (:class:`MalformedShareEntry`) and distinct
    (:class:`DuplicateShareId`), values below the prime (:class:`MalformedShareEntry`),
    and there must be at least two shares and at least ``threshold`` if it is given
    (:class:`NotEnoughShares`).  All shares given are used.

    The password is returned as 8 bytes, left-padded with zeros: the form every share
    file sc-hsm-tool or this library wrote was encrypted with.  A wrong or missing
    share does not raise here; it gives a wrong password, which the share file's
    padding check then rejects.
    """
    _check_shares(prime, shares, threshold)
    return _secret_to_password(_interpolate_at_zero(prime, shares))


def candidate_passwords(
    prime: int, shares: Sequence[PasswordShare], threshold: int | None = None
) -> list[bytes]:
    """The passwords to try on the share file, most likely first.

    The first is the 8-byte form of :func:`recover_password`, which opens every file
    sc-hsm-tool or this library made.  If the secret's first byte is 0x00, its minimal
    big-endian form (what sc-hsm-tool's ``BN_bn2bin`` gives, 7 bytes or fewer) follows:
    a tool that encrypted the file with the password as sc-hsm-tool *rebuilds* it,
    rather than as it generated it, used that form.  Neither form can be told right
    without trying to decrypt, so the caller tries each in turn.
    """
    _check_shares(prime, shares, threshold)
    secret = _interpolate_at_zero(prime, shares)
    padded = _secret_to_password(secret)
    minimal = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
    return [padded] if minimal == padded else [padded, minimal]


# --- display and entry in sc-hsm-tool's notation -----------------------------------


def _format_hex_bytes(value: int, what: str) -> str:
    if value < 0:
        raise ValueError(f"a {what} cannot be negative")
    # sc-hsm-tool would print nothing for zero; "00" reads back as zero there too.
    length = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big").hex(":")


def format_prime(prime: int) -> str:
    """The prime as sc-hsm-tool prints it: minimal big-endian bytes, ``c3:1f:...``."""
    return _format_hex_bytes(prime, "prime")


def format_share_value(value: int) -> str:
    """A share value as sc-hsm-tool prints it: minimal bytes, may be shorter than 8."""
    return _format_hex_bytes(value, "share value")


def format_share_id(share_id: int) -> str:
    """A share ID as sc-hsm-tool prints it: in decimal."""
    return str(share_id)


def _parse_hex_bytes(text: str, what: str) -> int:
    """Parse hex bytes separated by ``:`` or white space, or not separated at all.

    Each group between separators is read as whole bytes; a group of one digit is
    one byte (``3:1f`` is 03 1f, as in OpenSC's ``sc_hex_to_bin``).  Any other odd
    number of digits in a group is refused as ambiguous.  Messages never repeat the
    digits, which may be secret.
    """
    stripped = text.strip()
    if not stripped:
        raise MalformedShareEntry(f"the {what} is empty")
    # A separator typed first or last (":c3:1f:") leaves an empty group: ignore it.
    groups = [group for group in _SEPARATORS.split(stripped) if group]
    if not groups:
        raise MalformedShareEntry(f"the {what} holds separators but no hexadecimal digits")
    digits: list[str] = []
    for group_number, group in enumerate(groups, start=1):
        for character in group:
            if character not in _HEX_DIGITS:
                raise MalformedShareEntry(
                    f"the {what} contains {character!r}, which is not a hexadecimal digit"
                )
        if len(group) == 1:
            group = "0" + group
        elif len(group) % 2:
            where = f"group {group_number} of the {what}" if len(groups) > 1 else f"the {what}"
            raise MalformedShareEntry(
                f"{where} has an odd number of hexadecimal digits ({len(group)}): "
                "each byte is two digits"
            )
        digits.append(group)
    joined = "".join(digits)
    if len(joined) // 2 > MAX_ENTRY_BYTES:
        raise MalformedShareEntry(
            f"the {what} is {len(joined) // 2} bytes long; at most {MAX_ENTRY_BYTES} are accepted"
        )
    return int(joined, 16)


def parse_prime(text: str) -> int:
    """Parse a prime typed as sc-hsm-tool prints it (``c3:1f:...``; spaces or no separators too).

    Only the notation is checked here; :func:`recover_password` checks that it is prime.
    """
    return _parse_hex_bytes(text, "prime")


def parse_share_value(text: str) -> int:
    """Parse a share value typed as sc-hsm-tool prints it (hex bytes, ``:``-separated)."""
    return _parse_hex_bytes(text, "share value")


def parse_share_id(text: str) -> int:
    """Parse a share ID typed as printed: a decimal number from 1 to 255.

    Unlike sc-hsm-tool, which reads the ID back as hex, the ID is read in decimal, the
    way it was printed.
    """
    stripped = text.strip()
    if not stripped:
        raise MalformedShareEntry("the share ID is empty")
    if not (stripped.isascii() and stripped.isdigit()):
        raise MalformedShareEntry(
            f"the share ID must be a decimal number as printed (1 to {MAX_SHARE_ID}), "
            f"not {stripped!r}"
        )
    share_id = int(stripped)
    if not 1 <= share_id <= MAX_SHARE_ID:
        raise MalformedShareEntry(
            f"the share ID must be between 1 and {MAX_SHARE_ID}, not {share_id}"
        )
    return share_id


def format_share_sheet(split: PasswordSplit, index: int) -> str:
    """The text one custodian receives: share ``split.shares[index]`` (``index`` from 0).

    The labels and notation are sc-hsm-tool's, so the values can be typed into either
    tool; the last line says how many shares rebuild the password.
    """
    if not 0 <= index < split.total:
        raise IndexError(f"share index {index} is out of range for {split.total} shares")
    share = split.shares[index]
    return (
        f"Share {index + 1} of {split.total}\n"
        "\n"
        f"Prime       : {format_prime(split.prime)}\n"
        f"Share ID    : {format_share_id(share.share_id)}\n"
        f"Share value : {format_share_value(share.value)}\n"
        "\n"
        f"Any {split.threshold} of the {split.total} shares rebuild the password.\n"
    )
