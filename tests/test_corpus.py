"""The malformed-input corpus of issue 7: every case gives its specific error.

The stored cases live in ``tests/corpus/manifest.json`` (made by
``tests/corpus/make_corpus.py``); the large families are generated here from the seed
inputs stored there: every single-character substitution of a PaperKey, every byte
of two key blobs flipped, and oversized ``.wky`` files.  ``test_case_count`` prints
and checks the total.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from keymanager.dkek import errors
from keymanager.dkek.dkek import KCV_LENGTH, Dkek
from keymanager.dkek.errors import (
    DkekError,
    KcvMismatch,
    MacMismatch,
    PaperKeyGroupError,
)
from keymanager.dkek.keyblob import decode_key
from keymanager.dkek.nofm import (
    PasswordShare,
    parse_prime,
    parse_share_id,
    parse_share_value,
    recover_password,
    split_password,
)
from keymanager.dkek.paperkey import ALPHABET, decode_paperkey, encode_paperkey
from keymanager.dkek.sharefile import decrypt_share
from keymanager.dkek.wky import parse_backup
from tests.corpus.make_corpus import MANIFEST_PATH, build_manifest, render
from tests.support.figures import record

MANIFEST: dict[str, Any] = json.loads(MANIFEST_PATH.read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]
SEEDS: dict[str, str] = MANIFEST["seeds"]
PAPERKEY_SHARE = bytes.fromhex(SEEDS["paperkey_share_hex"])
OVERSIZED_BLOB_SIZES = (64 * 1024, 1024 * 1024, 10 * 1024 * 1024)
MINIMUM_CASES = 200


# --- the pipelines each kind of input goes through ---------------------------------------


def _run_sharefile(case_input: dict[str, Any], vectors: dict[str, Any]) -> object:
    if "vector" in case_input:
        data = base64.b64decode(vectors[case_input["vector"]]["pbe_base64"])
    else:
        data = bytes.fromhex(case_input["hex"])
    password = case_input["password"].encode()
    if case_input["rounds"] is None:
        return decrypt_share(data, password)
    return decrypt_share(data, password, rounds=case_input["rounds"])


def _run_nofm(case_input: dict[str, Any]) -> object:
    prime = parse_prime(case_input["prime"])
    if case_input["op"] == "split":
        password = bytes.fromhex(case_input["password_hex"])
        return split_password(password, case_input["threshold"], case_input["total"], prime=prime)
    shares = [
        PasswordShare(parse_share_id(share_id), parse_share_value(value))
        for share_id, value in case_input["shares"]
    ]
    return recover_password(prime, shares, case_input["threshold"])


def _run_keyblob(case_input: dict[str, Any]) -> object:
    with Dkek.from_value(bytes.fromhex(case_input["dkek_hex"])) as dkek:
        return decode_key(dkek, bytes.fromhex(case_input["hex"]))


def _run_wky(case_input: dict[str, Any]) -> object:
    backup = parse_backup(bytes.fromhex(case_input["hex"]))
    with Dkek.from_value(bytes.fromhex(case_input["dkek_hex"])) as dkek:
        return decode_key(dkek, backup.blob)


def _run(case: dict[str, Any], vectors: dict[str, Any]) -> object:
    kind, case_input = case["kind"], case["input"]
    if kind == "sharefile":
        return _run_sharefile(case_input, vectors)
    if kind == "nofm":
        return _run_nofm(case_input)
    if kind == "paperkey":
        return decode_paperkey(case_input["lines"])
    if kind == "keyblob":
        return _run_keyblob(case_input)
    if kind == "wky":
        return _run_wky(case_input)
    raise AssertionError(f"unknown kind {kind}")


def _error_class(name: str) -> type[DkekError]:
    cls = getattr(errors, name)
    assert isinstance(cls, type) and issubclass(cls, DkekError)
    return cls


def _secrets_of(case: dict[str, Any]) -> list[str]:
    """Secret inputs of a case that must never appear in an error message."""
    case_input = case["input"]
    found = [case_input.get("password", ""), case_input.get("password_hex", "")]
    if case["kind"] == "paperkey":
        found += [line.split(": ")[-1] for line in case_input["lines"]]
    return [secret for secret in found if len(secret) >= 6]


# --- the stored cases --------------------------------------------------------------------


def test_manifest_is_reproducible(vectors: dict[str, Any]) -> None:
    """The committed manifest is exactly what make_corpus.py generates."""
    assert render(build_manifest(vectors)) == MANIFEST_PATH.read_text()


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_stored_case(case: dict[str, Any], vectors: dict[str, Any]) -> None:
    if case["expect"] is None:
        result = _run(case, vectors)
        if case["kind"] == "nofm":
            assert result == bytes.fromhex(case["input"]["password_hex"])
        if case["kind"] == "paperkey":
            assert result == PAPERKEY_SHARE
        return
    expected = _error_class(case["expect"])
    with pytest.raises(DkekError) as caught:
        _run(case, vectors)
    assert type(caught.value) is expected, f"{case['name']}: {caught.value!r}"
    message = str(caught.value)
    assert case["fragment"] in message
    for secret in _secrets_of(case):
        assert secret not in message


# --- generated families ------------------------------------------------------------------


def _paperkey_substitutions() -> Iterator[tuple[list[str], int, int]]:
    """Every single-character substitution (by another alphabet symbol) of the seed sheet."""
    lines = list(encode_paperkey(PAPERKEY_SHARE).lines)
    for line_index, line in enumerate(lines):
        prefix = line.index(": ") + 2
        for group_index in range(3):
            for character_index in range(6):
                at = prefix + group_index * 7 + character_index
                for symbol in ALPHABET:
                    if symbol == line[at]:
                        continue
                    typed = list(lines)
                    typed[line_index] = line[:at] + symbol + line[at + 1 :]
                    yield typed, line_index + 1, group_index + 1


def _blob_flips(vectors: dict[str, Any]) -> Iterator[tuple[bytes, bytes, type[DkekError]]]:
    """(DKEK, blob with one byte inverted, expected error) for the real and the AES blob."""
    wky = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    real_blob = parse_backup(wky).blob
    sources = (
        (bytes.fromhex(vectors["wrapped_key_file"]["dkek_hex"]), real_blob),
        (bytes.fromhex(SEEDS["aes_dkek_hex"]), bytes.fromhex(SEEDS["aes_blob_hex"])),
    )
    for dkek_value, blob in sources:
        for index in range(len(blob)):
            flipped = bytearray(blob)
            flipped[index] ^= 0xFF
            expected: type[DkekError] = KcvMismatch if index < KCV_LENGTH else MacMismatch
            yield dkek_value, bytes(flipped), expected


def _oversized_wky(vectors: dict[str, Any]) -> Iterator[tuple[bytes, bytes]]:
    """Backups whose blob keeps the real KCV but is padded to an absurd size."""
    wky = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    blob = parse_backup(wky).blob
    for size in OVERSIZED_BLOB_SIZES:
        big = blob[:-16] + bytes(size - len(blob)) + blob[-16:]
        octets = b"\x04\x84" + len(big).to_bytes(4, "big") + big
        yield (
            bytes.fromhex(vectors["wrapped_key_file"]["dkek_hex"]),
            (b"\x30\x84" + len(octets).to_bytes(4, "big") + octets),
        )


def _family_failures(
    cases: Iterator[Any], check: Callable[[Any], str | None]
) -> tuple[int, list[str]]:
    count, failures = 0, []
    for case in cases:
        count += 1
        problem = check(case)
        if problem is not None:
            failures.append(problem)
    return count, failures


def test_every_paperkey_substitution_is_located() -> None:
    def check(case: tuple[list[str], int, int]) -> str | None:
        typed, line, group = case
        try:
            decode_paperkey(typed)
        except PaperKeyGroupError as error:
            if (error.line, error.group) != (line, group):
                return f"{typed}: reported line {error.line} group {error.group}"
            if any(text.split(": ")[1] in str(error) for text in typed):
                return "the message shows a typed line"
            return None
        return f"{typed}: no PaperKeyGroupError"

    count, failures = _family_failures(_paperkey_substitutions(), check)
    assert count == 4 * 3 * 6 * 31
    assert not failures, failures[:5]


def test_every_blob_byte_flip_is_detected(vectors: dict[str, Any]) -> None:
    def check(case: tuple[bytes, bytes, type[DkekError]]) -> str | None:
        dkek_value, blob, expected = case
        with Dkek.from_value(dkek_value) as dkek:
            try:
                decode_key(dkek, blob)
            except DkekError as error:
                return None if type(error) is expected else f"{error!r}, not {expected}"
        return "decoded"

    count, failures = _family_failures(_blob_flips(vectors), check)
    assert count == len(
        parse_backup(bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])).blob
    ) + (len(SEEDS["aes_blob_hex"]) // 2)
    assert not failures, failures[:5]


def test_oversized_wky_is_refused(vectors: dict[str, Any]) -> None:
    for dkek_value, data in _oversized_wky(vectors):
        with Dkek.from_value(dkek_value) as dkek, pytest.raises(MacMismatch):
            decode_key(dkek, parse_backup(data).blob)


FAMILY_LABELS = {
    "sharefile": "Share files (.pbe)",
    "nofm": "n-of-m entries",
    "paperkey": "PaperKeys",
    "paperkey-substitution": "PaperKeys: every single-character substitution",
    "keyblob": "Key blobs",
    "keyblob-byte-flip": "Key blobs: every byte inverted",
    "wky": ".wky backups",
    "wky-oversized": ".wky backups: oversized (64 KiB, 1 MiB, 10 MiB)",
}


def test_case_count(vectors: dict[str, Any]) -> None:
    """Print and report the corpus figures (per family and error) and check the total."""
    families: dict[tuple[str, str], int] = {}
    for case in CASES:
        key = (case["family"], case["expect"] or "accepted")
        families[key] = families.get(key, 0) + 1
    families["paperkey-substitution", "PaperKeyGroupError"] = sum(
        1 for _ in _paperkey_substitutions()
    )
    families["keyblob-byte-flip", "KcvMismatch or MacMismatch"] = sum(
        1 for _ in _blob_flips(vectors)
    )
    families["wky-oversized", "MacMismatch"] = len(OVERSIZED_BLOB_SIZES)
    errors_total = sum(n for (_, error), n in families.items() if error != "accepted")
    for (family, error), n in sorted(families.items()):
        print(f"corpus: {family} ({error}): {n}")
        record("corpus", FAMILY_LABELS[family], n, error=error)
    print(f"corpus: {errors_total} error cases, {sum(families.values())} cases in all")
    record("corpus", "Error cases in all", errors_total, error="")
    assert errors_total >= MINIMUM_CASES
