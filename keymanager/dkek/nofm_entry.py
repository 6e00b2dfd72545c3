"""Checks of n-of-m entries as the custodians type them (the CLI; the share dialog's rules).

The prime is typed once, from the custodians' sheets, and must be a prime; then each
custodian's fragment (share ID and value) is checked at once: the ID as printed
(decimal, 1 to 255) and not entered twice, the value in the printed notation and below
the prime.  Messages never repeat the digits typed (they may be secret).
"""

from __future__ import annotations

from collections.abc import Collection

from keymanager.dkek.errors import DuplicateShareId, InvalidPrime, MalformedShareEntry
from keymanager.dkek.nofm import (
    PasswordShare,
    is_probable_prime,
    parse_prime,
    parse_share_id,
    parse_share_value,
)


def check_prime_entry(text: str) -> int:
    """The prime typed from the sheets.

    :raises MalformedShareEntry: not in the printed notation.
    :raises InvalidPrime: not a prime (a digit is mistyped).
    """
    prime = parse_prime(text)
    if prime < 2 or not is_probable_prime(prime):
        raise InvalidPrime("this is not a prime: compare it with the sheet")
    return prime


def check_fragment_entry(
    share_id_text: str, value_text: str, prime: int, seen: Collection[int] = ()
) -> PasswordShare:
    """One custodian's fragment, checked against the prime and the IDs entered before.

    :raises MalformedShareEntry: the ID or value is not in the printed notation, or the
        value is not below the prime.
    :raises DuplicateShareId: the ID was entered before.
    """
    share_id = parse_share_id(share_id_text)
    if share_id in seen:
        raise DuplicateShareId(f"share ID {share_id} is entered twice")
    value = parse_share_value(value_text)
    if value >= prime:
        raise MalformedShareEntry(
            "the value is not below the prime: it is mistyped, or the prime is"
        )
    return PasswordShare(share_id, value)
