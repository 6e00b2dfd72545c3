"""The PKCS#12 part of the malformed-input corpus: every file gives its specific error.

The inputs are built by :mod:`tests.reliability._p12_support` (seeded keys, a fixed
test CA, hand-made PFX structures for what :mod:`cryptography` will not write, and the
committed RSA 8192 / DSA fixtures).  Each goes through what both PKCS#12 import
workflows do before touching the card (:func:`~tests.reliability._p12_support.open_case`:
``open_pkcs12`` with the typed password, then ``check_importable``).  An error case
must raise exactly its class (not a parent or a subclass), its message must contain
the case's fragment and never the password; a file that must open must hold what the
case says.  ``tests/reliability/test_card_unchanged.py`` runs the same files through
the two import workflows against a simulated card.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa, ec

from keymanager.workflows.pkcs12 import (
    MAX_PKCS12_SIZE,
    NothingToImport,
    Pkcs12Error,
    Pkcs12TooLarge,
    count_key_bags,
    parse_pkcs12,
)
from tests.reliability._p12_support import (
    DSA_FIXTURE,
    PASSWORD,
    RSA8192_FIXTURE,
    P12Case,
    build_cases,
    build_pfx,
    fixture_key,
    key_bag,
    open_case,
    pkcs8,
    seeded_ec,
    seeded_rsa,
    standard_p12,
)
from tests.support.figures import record

MINIMUM_CASES = 60

# cryptography reads a file with bytes after the PFX, warning that it fell back to BER.
pytestmark = pytest.mark.filterwarnings("ignore:PKCS#12 bundle could not be parsed as DER")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[P12Case]:
    return build_cases(tmp_path_factory.mktemp("p12-corpus"))


def _secrets(case: P12Case) -> list[str]:
    typed = case.password or ""
    return [secret for secret in (PASSWORD, typed) if len(secret) >= 6]


def _problem(case: P12Case) -> str | None:
    """What is wrong with how the code handles ``case`` (``None``: as expected)."""
    try:
        contents = open_case(case)
    except Pkcs12Error as error:
        message = str(error)
        if case.expect is None:
            return f"refused: {error!r}"
        if type(error) is not case.expect:
            return f"{type(error).__name__} ({message}), not {case.expect.__name__}"
        if case.fragment not in message:
            return f"message {message!r} lacks {case.fragment!r}"
        if any(secret in message for secret in _secrets(case)):
            return "the message shows the password"
        return None
    try:
        if case.expect is not None:
            return f"opened, but {case.expect.__name__} was expected"
        return case.check(contents) if case.check is not None else None
    finally:
        contents.forget()


def test_every_case_gives_its_specific_error(cases: list[P12Case]) -> None:
    problems = [f"{case.name}: {problem}" for case in cases if (problem := _problem(case))]
    assert not problems, "\n".join(problems)

    counts = collections.Counter(
        (case.family, "accepted" if case.expect is None else case.expect.__name__) for case in cases
    )
    for (family, expected), count in sorted(counts.items()):
        record("p12", f"PKCS#12: {family}", count, expect=expected)
    errors = sum(1 for case in cases if case.expect is not None)
    record("p12", "PKCS#12: error cases", errors)
    record(
        "p12", "PKCS#12: files that must open (controls, warnings, CA only)", len(cases) - errors
    )


def test_the_corpus_covers_every_error_class(cases: list[P12Case]) -> None:
    """Every typed error of the PKCS#12 module has cases, and the names are unique."""
    expected = {case.expect for case in cases if case.expect is not None}
    names = {
        "NothingToImport", "Pkcs12Corrupt", "Pkcs12Empty", "Pkcs12IntegrityError",
        "Pkcs12TooLarge", "Pkcs12Unreadable", "Pkcs12UnsupportedContent",
        "Pkcs12WrongPassword",
    }  # fmt: skip
    assert {cls.__name__ for cls in expected} == names
    assert len({case.name for case in cases}) == len(cases)
    assert sum(1 for case in cases if case.expect is not None) >= MINIMUM_CASES


def test_inputs_are_deterministic() -> None:
    """The seeded keys are the same on every call (and so on every run)."""
    first, second = seeded_ec(ec.SECP256R1(), "p256"), seeded_ec(ec.SECP256R1(), "p256")
    assert first.private_numbers() == second.private_numbers()
    assert seeded_rsa(1031, "odd").private_numbers() == seeded_rsa(1031, "odd").private_numbers()
    assert seeded_ec(ec.SECP256R1(), "other").private_numbers() != first.private_numbers()


def test_fixtures_hold_the_keys_their_readme_describes(cases: list[P12Case]) -> None:
    """The DSA key is read back here; the RSA 8192 one only by its case (loading an
    8192-bit key costs seconds: OpenSSL checks its primes), whose expected message
    names its size."""
    [big] = [case for case in cases if case.name == "key-rsa-8192"]
    assert big.expect is NothingToImport and "8192-bit" in big.fragment
    assert big.path.read_bytes() == RSA8192_FIXTURE.read_bytes()
    small = fixture_key(DSA_FIXTURE)
    assert isinstance(small, dsa.DSAPrivateKey) and small.key_size == 2048
    for path in (RSA8192_FIXTURE, DSA_FIXTURE):
        assert path.stat().st_size < 16 * 1024


def test_bytes_above_the_limit_are_refused_unparsed() -> None:
    """The in-memory route (GUI drag and drop) refuses a large buffer before parsing it."""
    data = b"\x30\x84" + bytes(MAX_PKCS12_SIZE)
    with pytest.raises(Pkcs12TooLarge, match=f"{len(data)} bytes"):
        parse_pkcs12(data, PASSWORD.encode(), "dropped.p12")


def test_key_bags_are_counted_where_visible() -> None:
    one, two = seeded_ec(ec.SECP256R1(), "a"), seeded_ec(ec.SECP256R1(), "b")
    assert count_key_bags(build_pfx([[key_bag(pkcs8(one)), key_bag(pkcs8(two))]])) == 2
    assert count_key_bags(build_pfx([[key_bag(pkcs8(one))], []])) == 1
    assert count_key_bags(standard_p12(one)) == 1  # shrouded, in plain SafeContents
    assert count_key_bags(b"not der") is None


def test_case_files_exist_where_the_case_needs_a_file(cases: list[P12Case]) -> None:
    """Sanity of the corpus itself: only the path cases point at no regular file."""
    families = {case.family for case in cases}
    assert "Unreadable path" in families and len(families) > 1, sorted(families)
    for case in cases:
        regular = Path(case.path).is_file()
        assert regular == (case.family != "Unreadable path"), case.name


def test_iteration_counts_are_found_wherever_they_stand_in_the_clear() -> None:
    """MacData's count and the PBES2/PBKDF2 counts of a cryptography-written file."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import PrivateFormat
    from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

    from keymanager.workflows.pkcs12 import _iteration_counts

    key = ec.generate_private_key(ec.SECP256R1())
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(54_321)
        .key_cert_algorithm(crypto_pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    data = crypto_pkcs12.serialize_key_and_certificates(b"k", key, None, None, encryption)
    counts = _iteration_counts(data)
    # the shrouded key bag's PBKDF2 count (its bag sits in plain SafeContents, 13 levels
    # deep) and the MAC's (cryptography keeps that at 2,048)
    assert sorted(counts) == [2048, 54_321], counts
