"""The live check of a PaperKey line while it is typed (the share dialog and the CLI).

Every complete group of six characters is checked at once
(:func:`keymanager.dkek.paperkey.check_paperkey_line` on the groups typed so far, the
rest stood in for by consistent filler groups).  :func:`read_as_typed` gives what the
checker reads: upper case, ``O`` as ``0``, ``I`` and ``L`` as ``1`` (the PaperKey
alphabet is Crockford's Base32, which has none of these letters; docs/paperkey.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keymanager.dkek.paperkey import (
    ALPHABET,
    DATA_PER_GROUP,
    GROUP_LENGTH,
    GROUPS_PER_LINE,
    LINE_LENGTH,
    check_paperkey_line,
    check_symbol,
)

READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
"""The letters the alphabet leaves out, as the checker reads them."""

_SEPARATORS = re.compile(r"[\s\-]+")
_NUMBER_WITH_MARK = re.compile(r"^\s*([0-9]{1,2})\s*[:.]")
_NUMBER_WITH_SPACE = re.compile(r"^\s*([0-9]{1,2})\s+")
PAPERKEY_CHARACTERS = frozenset(ALPHABET + "OIL")


def _filler_group(position: int) -> str:
    """A consistent group for ``position`` (0 to 11), standing in for untyped groups."""
    data = [0] * DATA_PER_GROUP
    return "0" * DATA_PER_GROUP + ALPHABET[check_symbol(position, data)]


@dataclass(frozen=True)
class LineCheck:
    """What the live check of one typed PaperKey line found.

    :param groups: the groups typed so far (upper case, separators removed).
    :param bad_groups: 1-based numbers of complete groups that fail their check (or
        incomplete ones holding a character that is not a PaperKey character).
    :param problem: a sentence for the user (``None``: nothing wrong so far).
    """

    groups: tuple[str, ...]
    bad_groups: tuple[int, ...]
    complete: bool
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.complete and not self.bad_groups and self.problem is None


def check_line_as_typed(line_number: int, text: str) -> LineCheck:
    """Check one PaperKey line while it is typed: every complete group at once.

    Groups not yet typed are stood in for by consistent filler groups, so that
    :func:`check_paperkey_line` (which wants a whole line) marks exactly the complete
    groups that are mistyped.
    """
    body = text
    mark = _NUMBER_WITH_MARK.match(text)
    if mark is None:
        spaced = _NUMBER_WITH_SPACE.match(text)
        if spaced is not None and int(spaced.group(1)) == line_number:
            rest = _SEPARATORS.sub("", text[spaced.end() :])
            if len(rest) <= LINE_LENGTH:
                mark = spaced
    if mark is not None:
        if int(mark.group(1)) != line_number:
            return LineCheck(
                (),
                (),
                False,
                f"this line is numbered {mark.group(1)}: type line {line_number} here",
            )
        body = text[mark.end() :]
    compact = read_as_typed(_SEPARATORS.sub("", body))
    groups = tuple(compact[i : i + GROUP_LENGTH] for i in range(0, len(compact), GROUP_LENGTH))
    if len(compact) > LINE_LENGTH:
        return LineCheck(
            groups,
            (),
            False,
            f"{len(compact)} characters: a line has {LINE_LENGTH} "
            f"({GROUPS_PER_LINE} groups of {GROUP_LENGTH})",
        )
    complete_groups = len(compact) // GROUP_LENGTH
    bad: list[int] = []
    if complete_groups:
        stand_in = [
            groups[index] if index < complete_groups else _filler_group(position)
            for index, position in enumerate(
                range((line_number - 1) * GROUPS_PER_LINE, line_number * GROUPS_PER_LINE)
            )
        ]
        bad = check_paperkey_line(line_number, " ".join(stand_in))
    if len(groups) > complete_groups and any(
        character not in PAPERKEY_CHARACTERS for character in groups[-1]
    ):
        bad.append(len(groups))
    complete = len(compact) == LINE_LENGTH
    problem = None
    if bad:
        problem = "mistyped: group " + ", ".join(str(number) for number in bad)
    return LineCheck(groups, tuple(bad), complete, problem)


def read_as_typed(text: str) -> str:
    """``text`` as the checker reads it: upper case, ``O`` → ``0``, ``I``/``L`` → ``1``.

    Nothing else changes (spaces, hyphens, the line number and characters outside the
    alphabet stay), so the text keeps its length and the cursor its place.
    """
    return text.upper().translate(READ_AS)


def body_start(line_number: int, text: str) -> int:
    """Where the groups of ``text`` begin: after a line number ``line_number:`` typed
    before them (0 when there is none)."""
    mark = _NUMBER_WITH_MARK.match(text)
    if mark is not None and int(mark.group(1)) == line_number:
        return mark.end()
    return 0
