"""PaperKey: a printed DKEK share that a custodian can type back in without a file.

This is keymanager's own format (version 1), specified in ``docs/paperkey.md``.  It is
*not* Smart Card Shell's PaperKey, whose format is unpublished.

A 32-byte share becomes 4 lines of 3 groups; each group is 5 data characters and one
check character from a 32-symbol alphabet without look-alikes, printed as
``1: ABCDE9 FGHJK2 MNPQR7`` (line number, then the three groups).

* Payload, 300 bits: version (4 bits, ``0001``) || share (256 bits) || checksum
  (40 bits, the first 5 bytes of SHA-256(``b"keymanager-paperkey-v1"`` || share)),
  written as 60 data characters of 5 bits each, most significant first.
* The check character of the group at position *p* (0 to 11, in reading order) with
  data symbols c0..c4 is, in GF(32) with the polynomial x^5 + x^2 + 1 and alpha = 2,
  ``alpha^7 * (p + 1) + sum(alpha^(i + 1) * c_i)``.  Every single-character error
  (including in the check character) changes the check of its own group only, so it is
  detected *and* located to its line and group.  Swapping two different characters
  within a group, or swapping whole groups or lines, is detected as well.
* The 40-bit checksum catches what slips through the group checks (several errors in
  one group).

Entry is case-insensitive, reads O as 0 and I or L as 1, and ignores spaces, hyphens
and a leading line number (``1:``, ``1.`` or ``1 ``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from keymanager.dkek.dkek import SHARE_LENGTH, share_fingerprint
from keymanager.dkek.errors import (
    PaperKeyChecksumError,
    PaperKeyFormatError,
    PaperKeyGroupError,
)

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""The 32 symbols, in value order (Crockford's Base32: no I, L, O or U)."""

VERSION = 1
LINES = 4
GROUPS_PER_LINE = 3
DATA_PER_GROUP = 5
GROUP_LENGTH = DATA_PER_GROUP + 1
LINE_LENGTH = GROUPS_PER_LINE * GROUP_LENGTH
GROUPS = LINES * GROUPS_PER_LINE

_VERSION_BITS = 4
_CHECKSUM_LENGTH = 5
_CHECKSUM_LABEL = b"keymanager-paperkey-v1"
_PAYLOAD_BITS = _VERSION_BITS + 8 * SHARE_LENGTH + 8 * _CHECKSUM_LENGTH
_DATA_SYMBOLS = GROUPS * DATA_PER_GROUP
assert _PAYLOAD_BITS == 5 * _DATA_SYMBOLS

_SYMBOL_VALUES: dict[str, int] = {symbol: value for value, symbol in enumerate(ALPHABET)}
_SYMBOL_VALUES.update({"O": 0, "I": 1, "L": 1})
_IGNORED = re.compile(r"[\s\-]+")
_NUMBER_WITH_MARK = re.compile(r"^\s*([0-9]{1,2})\s*[:.]")
_NUMBER_WITH_SPACE = re.compile(r"^\s*([0-9]{1,2})\s+")

# --- GF(32) arithmetic, polynomial x^5 + x^2 + 1 -----------------------------------

_FIELD_POLYNOMIAL = 0b100101
_FIELD_ORDER = 31


def _build_tables() -> tuple[list[int], list[int]]:
    exp = [0] * (2 * _FIELD_ORDER)
    log = [0] * 32
    element = 1
    for power in range(_FIELD_ORDER):
        exp[power] = exp[power + _FIELD_ORDER] = element
        log[element] = power
        element <<= 1
        if element & 0b100000:
            element ^= _FIELD_POLYNOMIAL
    return exp, log


_EXP, _LOG = _build_tables()


def gf32_multiply(a: int, b: int) -> int:
    """Multiply two elements of GF(32) (x^5 + x^2 + 1), given as integers 0 to 31."""
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


_POSITION_WEIGHT = _EXP[7]
_DATA_WEIGHTS = tuple(_EXP[i + 1] for i in range(DATA_PER_GROUP))


def check_symbol(position: int, data: Sequence[int]) -> int:
    """The check symbol of the group at ``position`` (0 to 11) with the 5 data symbols."""
    check = gf32_multiply(_POSITION_WEIGHT, position + 1)
    for weight, symbol in zip(_DATA_WEIGHTS, data, strict=True):
        check ^= gf32_multiply(weight, symbol)
    return check


# --- encoding -----------------------------------------------------------------------


def format_share_fingerprint(share: bytes | bytearray) -> str:
    """The share's fingerprint as printed on the sheet: ``2AFA 121E 8764 A1E3``."""
    digits = share_fingerprint(share).hex().upper()
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _checksum(share: bytes | bytearray) -> int:
    digest = hashlib.sha256(_CHECKSUM_LABEL + bytes(share)).digest()
    return int.from_bytes(digest[:_CHECKSUM_LENGTH], "big")


@dataclass(frozen=True)
class PaperKey:
    """A share laid out for printing: 4 lines such as ``1: ABCDE9 FGHJK2 MNPQR7``.

    The lines are the secret share and are kept out of ``repr``.
    """

    lines: tuple[str, ...] = field(repr=False)
    fingerprint: str

    def text(self) -> str:
        """The printable sheet: title, the 4 lines, the fingerprint and instructions."""
        body = "\n".join(f"    {line}" for line in self.lines)
        return (
            "DKEK share - PaperKey (keymanager format, version 1)\n"
            "\n"
            f"{body}\n"
            "\n"
            f"Share fingerprint: {self.fingerprint}\n"
            "\n"
            "Keep this sheet as secret as the share itself.\n"
            "To restore the share, type the 4 lines in order. Spaces, hyphens and the\n"
            "line numbers may be left out; letters may be typed in lower case, and\n"
            "O is read as 0, I and L as 1. The last character of each group is a\n"
            "check character: a typing error is reported with its line and group.\n"
            "After restoring, compare the fingerprint shown with the one above.\n"
        )


def encode_paperkey(share: bytes | bytearray) -> PaperKey:
    """Lay out a 32-byte DKEK share as a PaperKey (:class:`InvalidShare` if not 32 bytes)."""
    fingerprint = format_share_fingerprint(share)
    payload = (
        (VERSION << (_PAYLOAD_BITS - _VERSION_BITS))
        | (int.from_bytes(share, "big") << (8 * _CHECKSUM_LENGTH))
        | _checksum(share)
    )
    symbols = [
        (payload >> (5 * (_DATA_SYMBOLS - 1 - index))) & 0x1F for index in range(_DATA_SYMBOLS)
    ]
    groups: list[str] = []
    for position in range(GROUPS):
        data = symbols[position * DATA_PER_GROUP : (position + 1) * DATA_PER_GROUP]
        data.append(check_symbol(position, data))
        groups.append("".join(ALPHABET[symbol] for symbol in data))
    lines = tuple(
        f"{line + 1}: " + " ".join(groups[line * GROUPS_PER_LINE : (line + 1) * GROUPS_PER_LINE])
        for line in range(LINES)
    )
    return PaperKey(lines=lines, fingerprint=fingerprint)


# --- entry --------------------------------------------------------------------------


def _compact_line(line_number: int, text: str) -> str:
    """Strip the optional line number and the separators; check the length.

    A leading number followed by ``:`` or ``.`` is always a line number; one followed
    only by white space is taken as a line number when the rest has the full length.
    A line number that is not ``line_number`` is refused: the lines are out of order.
    """
    compact = _IGNORED.sub("", text)
    match = _NUMBER_WITH_MARK.match(text)
    if match is None:
        candidate = _NUMBER_WITH_SPACE.match(text)
        if candidate is not None and len(compact) == LINE_LENGTH + len(candidate.group(1)):
            match = candidate
    if match is not None:
        typed_number = int(match.group(1))
        if typed_number != line_number:
            raise PaperKeyFormatError(
                f"line {line_number} is numbered {typed_number}: "
                "enter the lines in the order printed"
            )
        compact = _IGNORED.sub("", text[match.end() :])
    if not compact:
        raise PaperKeyFormatError(f"line {line_number} is empty")
    if len(compact) != LINE_LENGTH:
        raise PaperKeyFormatError(
            f"line {line_number} has {len(compact)} characters; it must have {LINE_LENGTH} "
            f"({GROUPS_PER_LINE} groups of {GROUP_LENGTH})"
        )
    return compact


def _group_problem(position: int, group: str) -> str | None:
    """Why the group at ``position`` (0 to 11) fails, or ``None`` if it is consistent."""
    symbols: list[int] = []
    for character in group:
        value = _SYMBOL_VALUES.get(character.upper()) if character.isascii() else None
        if value is None:
            return f"{character!r} is not a PaperKey character"
        symbols.append(value)
    if check_symbol(position, symbols[:DATA_PER_GROUP]) != symbols[DATA_PER_GROUP]:
        return "check character does not match"
    return None


def _failing_groups(line_number: int, compact: str) -> list[tuple[int, str]]:
    """The (group number, problem) of every group of a compact line that fails."""
    failures: list[tuple[int, str]] = []
    for group_index in range(GROUPS_PER_LINE):
        group = compact[group_index * GROUP_LENGTH : (group_index + 1) * GROUP_LENGTH]
        position = (line_number - 1) * GROUPS_PER_LINE + group_index
        problem = _group_problem(position, group)
        if problem is not None:
            failures.append((group_index + 1, problem))
    return failures


def check_paperkey_line(line_number: int, text: str) -> list[int]:
    """The 1-based numbers of the groups of one typed line that fail their check.

    Meant for live validation while a custodian types: an empty list means that every
    group of line ``line_number`` (1 to 4) is consistent.  A line with the wrong number
    of characters (or numbered differently) raises :class:`PaperKeyFormatError`.
    """
    if not 1 <= line_number <= LINES:
        raise PaperKeyFormatError(f"a PaperKey has lines 1 to {LINES}, not {line_number}")
    compact = _compact_line(line_number, text)
    return [group_number for group_number, _ in _failing_groups(line_number, compact)]


def decode_paperkey(lines: Sequence[str] | str) -> bytes:
    """Read a typed PaperKey back into the 32-byte share.

    ``lines`` is the 4 lines, or one text holding them (blank lines are skipped).
    Checks, in order: the number of lines and each line's length
    (:class:`PaperKeyFormatError`), every group's characters and check character
    (:class:`PaperKeyGroupError` for the first failing group, with its line and
    group), the version (:class:`PaperKeyFormatError`) and the whole-share checksum
    (:class:`PaperKeyChecksumError`).
    """
    if isinstance(lines, str):
        lines = [line for line in lines.splitlines() if line.strip()]
    if len(lines) != LINES:
        raise PaperKeyFormatError(f"expected {LINES} lines, got {len(lines)}")
    compact_lines = [_compact_line(number, text) for number, text in enumerate(lines, start=1)]
    for line_number, compact in enumerate(compact_lines, start=1):
        failures = _failing_groups(line_number, compact)
        if failures:
            group_number, detail = failures[0]
            raise PaperKeyGroupError(line_number, group_number, detail)

    payload = 0
    for compact in compact_lines:
        for group_index in range(GROUPS_PER_LINE):
            start = group_index * GROUP_LENGTH
            for character in compact[start : start + DATA_PER_GROUP]:
                payload = (payload << 5) | _SYMBOL_VALUES[character.upper()]
    version = payload >> (_PAYLOAD_BITS - _VERSION_BITS)
    if version != VERSION:
        raise PaperKeyFormatError(
            f"this PaperKey is format version {version}; this key manager reads version {VERSION}"
        )
    share_bits = 8 * SHARE_LENGTH
    share_value = (payload >> (8 * _CHECKSUM_LENGTH)) & ((1 << share_bits) - 1)
    share = share_value.to_bytes(SHARE_LENGTH, "big")
    if _checksum(share) != payload & ((1 << (8 * _CHECKSUM_LENGTH)) - 1):
        raise PaperKeyChecksumError(
            "every group passes its check but the share's checksum does not match: "
            "there are several typing errors; compare the whole sheet again"
        )
    return share
