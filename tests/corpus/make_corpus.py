"""Generate ``tests/corpus/manifest.json``: the malformed-input corpus of issue 7.

Run ``.venv/bin/python -m tests.corpus.make_corpus`` from the repository root.  The
output is deterministic (a fixed seed, fixed salts and fixed key material), and
``tests/test_corpus.py`` checks that the committed manifest equals a fresh build.

Each case is ``{"name", "family", "kind", "input", "expect", "fragment"}``:

* ``kind`` says which parser pipeline the test runs (``sharefile``, ``nofm``,
  ``paperkey``, ``keyblob`` or ``wky``) and ``input`` holds that pipeline's arguments;
* ``expect`` is the name of the error class (from :mod:`keymanager.dkek.errors`) the
  pipeline must raise, or ``null`` for an input that must be *accepted* (by design,
  see the case's ``note``);
* ``fragment`` is a piece of text the error message must contain.

The expected outcome of every case is decided here from the format's rules, not by
running the code under test.  The large families (every single-character PaperKey
substitution, every single byte flipped in a key blob, oversized ``.wky`` files) are
generated in the test itself from the seed inputs stored here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import MINIMUM_BLOB_LENGTH, AesKey, encode_key
from keymanager.dkek.nofm import PasswordShare, format_prime, format_share_value, is_probable_prime
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.dkek.sharefile import encrypt_share

SEED = 20240607
CORPUS_DIRECTORY = Path(__file__).resolve().parent
MANIFEST_PATH = CORPUS_DIRECTORY / "manifest.json"
VECTORS_PATH = CORPUS_DIRECTORY.parents[2] / "shared" / "vectors" / "dkek-vectors.json"

SELF_MADE_PASSWORD = "corpus-password"
SELF_MADE_ROUNDS = 1000
"""Small round count for self-made share files (real files use 10,000,000)."""

Case = dict[str, Any]


def _case(
    family: str,
    name: str,
    kind: str,
    case_input: dict[str, Any],
    expect: str | None,
    fragment: str = "",
    note: str = "",
) -> Case:
    case: Case = {
        "name": f"{family}/{name}",
        "family": family,
        "kind": kind,
        "input": case_input,
        "expect": expect,
        "fragment": fragment,
    }
    if note:
        case["note"] = note
    return case


def _flip(data: bytes, index: int, mask: int = 0xFF) -> bytes:
    changed = bytearray(data)
    changed[index] ^= mask
    return bytes(changed)


# --- share files ------------------------------------------------------------------------


def _share_file_cases(rng: random.Random, vectors: dict[str, Any]) -> tuple[list[Case], str]:
    real = base64.b64decode(vectors["share_file"]["pbe_base64"])
    cases: list[Case] = []

    def add(name: str, data: bytes, expect: str, fragment: str, **extra: Any) -> None:
        case_input: dict[str, Any] = {"hex": data.hex(), "password": "x", "rounds": 1}
        case_input.update(extra)
        cases.append(_case("sharefile", name, "sharefile", case_input, expect, fragment))

    for length in (0, 1, 7, 8, 15, 16, 31, 32, 47, 48, 63):
        add(f"truncated-{length}", real[:length], "NotAShareFile", "(truncated?)")
    for extra_length in (1, 16, 36, 64, 192):
        junk = bytes(rng.randrange(256) for _ in range(extra_length))
        add(f"long-{64 + extra_length}", real + junk, "NotAShareFile", "extra data appended?")
    for label, magic in (
        ("lowercase", b"salted__"),
        ("uppercase", b"SALTED__"),
        ("nul", b"Salted_\x00"),
        ("hyphen", b"Salted-_"),
        ("zeros", bytes(8)),
    ):
        add(f"wrong-magic-{label}", magic + real[8:], "NotAShareFile", "'Salted__'")
    add("all-zeros", bytes(64), "NotAShareFile", "'Salted__'")
    add("all-ff", b"\xff" * 64, "NotAShareFile", "'Salted__'")
    for number in range(4):
        data = bytes(rng.randrange(256) for _ in range(64))
        if data.startswith(b"Salted__"):  # pragma: no cover - 2**-64
            continue
        add(f"random-no-magic-{number}", data, "NotAShareFile", "'Salted__'")
    for number in range(6):
        data = b"Salted__" + bytes(rng.randrange(256) for _ in range(56))
        # A random last block decrypts to 16 bytes of 0x10 with probability 2**-128.
        add(f"random-with-magic-{number}", data, "WrongPassword", "wrong password")

    # The published real file with a wrong password: the full 10,000,000-round KDF.
    cases.append(
        _case(
            "sharefile",
            "real-vector-wrong-password",
            "sharefile",
            {"vector": "share_file", "password": "passwordpassworD", "rounds": None},
            "WrongPassword",
            "wrong password",
        )
    )

    share = bytes(rng.randrange(256) for _ in range(32))
    salt = bytes(rng.randrange(256) for _ in range(8))
    made = encrypt_share(share, SELF_MADE_PASSWORD.encode(), salt=salt, rounds=SELF_MADE_ROUNDS)
    cases.append(
        _case(
            "sharefile",
            "self-made-right-password",
            "sharefile",
            {"hex": made.hex(), "password": SELF_MADE_PASSWORD, "rounds": SELF_MADE_ROUNDS},
            None,
            note="control: the self-made file opens with its password",
        )
    )
    for label, password, rounds in (
        ("wrong-password", "corpus-passworD", SELF_MADE_ROUNDS),
        ("empty-password", "", SELF_MADE_ROUNDS),
        ("password-prefix", SELF_MADE_PASSWORD[:-1], SELF_MADE_ROUNDS),
        ("wrong-rounds", SELF_MADE_PASSWORD, SELF_MADE_ROUNDS - 1),
    ):
        add(f"self-made-{label}", made, "WrongPassword", "wrong password", rounds=rounds)
        cases[-1]["input"]["password"] = password
    # Salt flips change the key; flips in ciphertext blocks 2 and 3 (bytes 32..63) garble
    # the last plaintext block, the padding.  (A flip in block 1 only garbles the share
    # and cannot be detected: the format has no MAC.)
    for index in [*range(8, 16), *range(32, 64)]:
        add(
            f"self-made-flip-{index:02d}",
            _flip(made, index),
            "WrongPassword",
            "wrong password",
            rounds=SELF_MADE_ROUNDS,
        )
        cases[-1]["input"]["password"] = SELF_MADE_PASSWORD
    return cases, share.hex()


# --- n-of-m password shares -------------------------------------------------------------


def _nofm_cases(rng: random.Random) -> list[Case]:
    candidate = (1 << 63) | rng.getrandbits(63) | 1
    while not is_probable_prime(candidate):
        candidate += 2
    prime = candidate
    password = bytes([rng.randrange(1, 128)]) + bytes(rng.randrange(256) for _ in range(7))
    secret = int.from_bytes(password, "big")
    coefficients = [secret, rng.randrange(prime), rng.randrange(prime)]  # threshold 3
    shares = [
        PasswordShare(x, sum(c * x**i for i, c in enumerate(coefficients)) % prime)
        for x in range(1, 6)
    ]
    text = [[str(share.share_id), format_share_value(share.value)] for share in shares]
    prime_text = format_prime(prime)
    cases: list[Case] = []

    def recover(
        name: str,
        expect: str | None,
        fragment: str,
        *,
        prime_entry: str = prime_text,
        entries: list[list[str]] | None = None,
        threshold: int | None = 3,
        note: str = "",
    ) -> None:
        case_input = {
            "op": "recover",
            "prime": prime_entry,
            "shares": text[:3] if entries is None else entries,
            "threshold": threshold,
        }
        if expect is None:
            case_input["password_hex"] = password.hex()
        cases.append(_case("nofm", name, "nofm", case_input, expect, fragment, note))

    recover("control-first-three", None, "", note="control: three right shares rebuild")
    recover("control-last-three", None, "", entries=text[2:], note="control: any three rebuild")
    # wrong prime (the script checks the facts each expectation rests on)
    assert all(share.value >= 65537 for share in shares)
    recover(
        "wrong-prime-small", "MalformedShareEntry", "not smaller than the prime", prime_entry="07"
    )
    recover(
        "wrong-prime-two",
        "InvalidPrime",
        "not larger than share ID 3",
        prime_entry="02",
        entries=[text[2], text[0], text[1]],
    )
    recover(
        "wrong-prime-below-values",
        "MalformedShareEntry",
        "not smaller than the prime",
        prime_entry=format_prime(65537),
    )
    # composite primes
    for label, value in (
        ("zero", 0),
        ("one", 1),
        ("even", prime + 1),
        ("prime-times-3", prime * 3),
        ("square", 4294967291**2),
        ("carmichael", 561),
        ("carmichael-41041", 41041),
        ("product-of-64-bit-primes", 18446744073709551557 * 18446744073709551533),
        ("strong-pseudoprime-base-2", 3215031751),
    ):
        recover(
            f"composite-prime-{label}",
            "InvalidPrime",
            "not a prime number",
            prime_entry=format_prime(value) if value else "00",
        )
    # duplicate IDs
    recover(
        "duplicate-id",
        "DuplicateShareId",
        "share ID 1 was entered twice",
        entries=[text[0], text[1], text[0]],
    )
    recover(
        "duplicate-id-other-value",
        "DuplicateShareId",
        "share ID 2 was entered twice",
        entries=[text[1], ["2", text[3][1]], text[2]],
    )
    recover(
        "duplicate-id-zero-padded",
        "DuplicateShareId",
        "share ID 3 was entered twice",
        entries=[text[2], ["003", text[2][1]], text[0]],
    )
    # too few
    recover("too-few-none", "NotEnoughShares", "only 0 were entered", entries=[])
    recover("too-few-one", "NotEnoughShares", "only 1 was entered", entries=text[:1])
    recover("too-few-two-of-three", "NotEnoughShares", "only 2 were entered", entries=text[:2])
    recover(
        "too-few-one-no-threshold",
        "NotEnoughShares",
        "2 shares are needed",
        entries=text[:1],
        threshold=None,
    )
    recover("threshold-one", "InvalidSplitParameters", "at least 2", threshold=1)
    # non-hex, malformed and empty entries
    for label, entry, fragment in (
        ("non-hex-prime", "zz:" + prime_text[3:], "'z', which is not a hexadecimal digit"),
        ("prime-with-0x", "0x" + prime_text.replace(":", ""), "'x', which is not"),
        ("prime-odd-group", prime_text.replace(":", "")[:-1], "odd number of hexadecimal digits"),
        ("prime-too-long", ":".join(["ab"] * 65), "65 bytes long"),
        ("prime-empty", "", "the prime is empty"),
        ("prime-blank", "  \t ", "the prime is empty"),
        ("prime-unicode-digit", "\u0661" + prime_text[1:], "not a hexadecimal digit"),
    ):
        recover(label, "MalformedShareEntry", fragment, prime_entry=entry)
    for label, entry, fragment in (
        ("non-hex-value", text[0][1][:-1] + "g", "'g', which is not a hexadecimal digit"),
        ("value-odd-group", text[0][1] + "123", "odd number of hexadecimal digits"),
        ("value-empty", "", "the share value is empty"),
        ("value-too-long", "ff" * 65, "65 bytes long"),
        ("value-not-below-prime", format_prime(prime), "not smaller than the prime"),
    ):
        recover(label, "MalformedShareEntry", fragment, entries=[[text[0][0], entry], *text[1:3]])
    for label, entry, fragment in (
        ("id-hex-letter", "a", "decimal number"),
        ("id-0x", "0x3", "decimal number"),
        ("id-negative", "-1", "decimal number"),
        ("id-fraction", "1.5", "decimal number"),
        ("id-empty", "", "the share ID is empty"),
        ("id-zero", "0", "between 1 and 255, not 0"),
        ("id-256", "256", "between 1 and 255, not 256"),
        ("id-1000", "1000", "between 1 and 255, not 1000"),
        ("id-superscript", "\u00b2", "decimal number"),
    ):
        recover(label, "MalformedShareEntry", fragment, entries=[[entry, text[0][1]], *text[1:3]])
    # IDs >= 10: a split may have at most 9 shares (sc-hsm-tool reads IDs as hex).
    for total in (10, 12, 16, 255):
        cases.append(
            _case(
                "nofm",
                f"split-ids-{total}",
                "nofm",
                {
                    "op": "split",
                    "password_hex": password.hex(),
                    "threshold": 3,
                    "total": total,
                    "prime": prime_text,
                },
                "InvalidSplitParameters",
                "at most 9 shares",
            )
        )
    for label, threshold, total, fragment in (
        ("split-total-2", 2, 2, "at least 3 shares"),
        ("split-threshold-above-total", 6, 5, "between 2 and the total"),
        ("split-threshold-1", 1, 5, "between 2 and the total"),
    ):
        cases.append(
            _case(
                "nofm",
                label,
                "nofm",
                {
                    "op": "split",
                    "password_hex": password.hex(),
                    "threshold": threshold,
                    "total": total,
                    "prime": prime_text,
                },
                "InvalidSplitParameters",
                fragment,
            )
        )
    cases.append(
        _case(
            "nofm",
            "split-composite-prime",
            "nofm",
            {
                "op": "split",
                "password_hex": password.hex(),
                "threshold": 3,
                "total": 5,
                "prime": format_prime(prime + 1),
            },
            "InvalidPrime",
            "not a prime number",
        )
    )
    return cases


# --- PaperKeys --------------------------------------------------------------------------


def _paperkey_cases(share: bytes) -> list[Case]:
    lines = list(encode_paperkey(share).lines)
    bare = [line.split(": ", 1)[1] for line in lines]
    cases: list[Case] = []

    def add(name: str, typed: list[str], expect: str | None, fragment: str, note: str = "") -> None:
        cases.append(_case("paperkey", name, "paperkey", {"lines": typed}, expect, fragment, note))

    add("control-as-printed", lines, None, "", "control: the sheet as printed")
    add(
        "control-lowercase-bare",
        [line.lower() for line in bare],
        None,
        "",
        "control: lower case, no line numbers",
    )
    for missing in range(4):
        typed = lines[:missing] + lines[missing + 1 :]
        add(f"missing-line-{missing + 1}", typed, "PaperKeyFormatError", "expected 4 lines, got 3")
    add("extra-line", [*lines, lines[0]], "PaperKeyFormatError", "expected 4 lines, got 5")
    add("no-lines", [], "PaperKeyFormatError", "expected 4 lines, got 0")
    add("empty-line-2", [lines[0], "2:", *lines[2:]], "PaperKeyFormatError", "line 2 is empty")
    add(
        "short-line-3",
        [*lines[:2], lines[2][:-1], lines[3]],
        "PaperKeyFormatError",
        "line 3 has 17 characters",
    )
    add(
        "long-line-4",
        [*lines[:3], lines[3] + "0"],
        "PaperKeyFormatError",
        "line 4 has 19 characters",
    )
    # Swapped lines: numbered lines are refused by number, bare ones by the group check.
    for first, second in ((0, 1), (1, 2), (2, 3), (0, 3)):
        typed = list(lines)
        typed[first], typed[second] = typed[second], typed[first]
        add(
            f"swapped-lines-{first + 1}-{second + 1}-numbered",
            typed,
            "PaperKeyFormatError",
            f"line {first + 1} is numbered {second + 1}",
        )
        typed = list(bare)
        typed[first], typed[second] = typed[second], typed[first]
        add(
            f"swapped-lines-{first + 1}-{second + 1}-bare",
            typed,
            "PaperKeyGroupError",
            f"line {first + 1}, group 1 is mistyped",
        )
    # Swapped groups: the check character depends on the position, so the first of the
    # two positions fails.
    groups = [group for line in bare for group in line.split()]
    pairs = [(a, b) for a in range(12) for b in range(a + 1, 12) if groups[a] != groups[b]]
    for a, b in pairs:
        swapped = list(groups)
        swapped[a], swapped[b] = swapped[b], swapped[a]
        typed = [" ".join(swapped[3 * n : 3 * n + 3]) for n in range(4)]
        add(
            f"swapped-groups-{a + 1:02d}-{b + 1:02d}",
            typed,
            "PaperKeyGroupError",
            f"line {a // 3 + 1}, group {a % 3 + 1} is mistyped",
        )
    # Characters outside the alphabet.
    for position, character in enumerate("U*#é_+?!,ÄΩ~"):
        line_index, group_index = divmod(position, 3)
        compact = bare[line_index].replace(" ", "")
        index = group_index * 6 + position % 5
        compact = compact[:index] + character + compact[index + 1 :]
        typed = list(bare)
        typed[line_index] = compact
        add(
            f"bad-character-{position + 1:02d}",
            typed,
            "PaperKeyGroupError",
            f"line {line_index + 1}, group {group_index + 1} is mistyped: "
            f"{character!r} is not a PaperKey character",
        )
    return cases


# --- key blobs --------------------------------------------------------------------------


def _forge(dkek: Dkek, header: bytes, plaintext: bytes) -> bytes:
    """A blob with the right KCV and a valid MAC around a chosen header and plaintext."""
    encryptor = Cipher(algorithms.AES(dkek.kenc()), modes.CBC(bytes(16))).encryptor()
    body = dkek.kcv() + header + encryptor.update(plaintext) + encryptor.finalize()
    mac = cmac.CMAC(algorithms.AES(dkek.kmac()))
    mac.update(body)
    return body + mac.finalize()


def _aes_header(allowed: bytes = b"\x10\x11\x18\x99") -> bytes:
    oid = bytes.fromhex("6086480165030401")
    return (
        bytes([15])
        + len(oid).to_bytes(2, "big")
        + oid
        + len(allowed).to_bytes(2, "big")
        + (allowed + bytes(4))
    )


def _keyblob_cases(
    rng: random.Random, vectors: dict[str, Any]
) -> tuple[list[Case], dict[str, str]]:
    dkek_value = bytes(rng.randrange(256) for _ in range(32))
    dkek = Dkek.from_value(dkek_value)
    aes_key = bytes(rng.randrange(256) for _ in range(32))
    randomize = bytes(rng.randrange(256) for _ in range(8))
    blob = encode_key(dkek, AesKey(aes_key), randomize=randomize)
    real_dkek = vectors["wrapped_key_file"]["dkek_hex"]
    wky = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    real_blob = wky[8 : 8 + int.from_bytes(wky[6:8], "big")]
    cases: list[Case] = []

    def add(
        name: str, data: bytes, key: str, expect: str | None, fragment: str, note: str = ""
    ) -> None:
        cases.append(
            _case(
                "keyblob",
                name,
                "keyblob",
                {"hex": data.hex(), "dkek_hex": key},
                expect,
                fragment,
                note,
            )
        )

    add("control-aes", blob, dkek_value.hex(), None, "", "control: the self-made AES blob")
    add("control-real-ec", real_blob, real_dkek, None, "", "control: the real device's blob")
    other = hashlib.sha256(dkek_value).hexdigest()
    add("wrong-kcv-aes", blob, other, "KcvMismatch", "not under this DKEK")
    add("wrong-kcv-real", real_blob, dkek_value.hex(), "KcvMismatch", "not under this DKEK")
    add("wrong-kcv-zero-dkek", real_blob, "00" * 32, "KcvMismatch", "KCV 97E303855DC1C54D")
    for source, data, key in (("aes", blob, dkek_value.hex()), ("real", real_blob, real_dkek)):
        lengths = {0, 1, 8, 9, MINIMUM_BLOB_LENGTH - 1, MINIMUM_BLOB_LENGTH, len(data) // 2}
        for length in sorted(lengths | {len(data) - 16, len(data) - 1}):
            # Below the minimum the length check refuses it; above, the KCV is intact and
            # the last 16 bytes are no longer the MAC.
            if length < MINIMUM_BLOB_LENGTH:
                expect, fragment = "MalformedKeyBlob", "too short"
            else:
                expect, fragment = "MacMismatch", "MAC does not verify"
            add(f"truncated-{source}-{length}", data[:length], key, expect, fragment)
        add(f"appended-block-{source}", data + bytes(16), key, "MacMismatch", "MAC does not verify")
        add(
            f"mac-zeroed-{source}",
            data[:-16] + bytes(16),
            key,
            "MacMismatch",
            "MAC does not verify",
        )
    # Authentic (correctly MACed) blobs whose contents are broken.
    key_hex = dkek_value.hex()
    good_plain = randomize + (32).to_bytes(2, "big") + aes_key + b"\x80" + bytes(5)
    add(
        "forged-unknown-type",
        _forge(dkek, bytes([7]) + _aes_header()[1:], good_plain),
        key_hex,
        "MalformedKeyBlob",
        "unknown key type 7",
    )
    add(
        "forged-field-overrun",
        _forge(dkek, bytes([15, 0xFF, 0xFF]), good_plain),
        key_hex,
        "MalformedKeyBlob",
        "claims 65535 bytes",
    )
    add(
        "ragged-ciphertext",
        _forge(dkek, _aes_header(), good_plain)[:-16][:-5]
        + _forge(dkek, _aes_header(), good_plain)[-16:],
        key_hex,
        "MacMismatch",
        "MAC does not verify",
    )
    add(
        "forged-bad-padding",
        _forge(dkek, _aes_header(), good_plain[:-6] + b"\x81" + bytes(5)),
        key_hex,
        "MalformedKeyBlob",
        "bad padding",
    )
    add(
        "forged-padding-junk",
        _forge(dkek, _aes_header(), good_plain[:-1] + b"\x01"),
        key_hex,
        "MalformedKeyBlob",
        "bad padding",
    )
    short_plain = randomize + (64).to_bytes(2, "big") + aes_key + b"\x80" + bytes(5)
    add(
        "forged-key-size-overrun",
        _forge(dkek, _aes_header(), short_plain),
        key_hex,
        "MalformedKeyBlob",
        "ends inside the 64-byte AES key",
    )
    odd_plain = randomize + (20).to_bytes(2, "big") + aes_key[:20] + b"\x80" + bytes(1)
    add(
        "forged-aes-20-bytes",
        _forge(dkek, _aes_header(), odd_plain),
        key_hex,
        "UnsupportedKey",
        "not of 20",
    )
    ec_plain = randomize + (256).to_bytes(2, "big") + b"\xff\xff" + bytes(20)
    ec_header = bytes([12, 0, 0, 0, 0, 0, 0, 0, 0])
    add(
        "forged-ec-component-overrun",
        _forge(dkek, ec_header, ec_plain),
        key_hex,
        "MalformedKeyBlob",
        "ends inside the curve coefficient a",
    )
    rsa_plain = randomize + (1024).to_bytes(2, "big") + b"\x00\x01\x05" * 2 + b"\x80" + bytes(15)
    add(
        "forged-rsa-truncated",
        _forge(dkek, bytes([5, 0, 0, 0, 0, 0, 0, 0, 0]), rsa_plain),
        key_hex,
        "MalformedKeyBlob",
        "ends inside the public exponent e",
    )
    seeds = {"aes_blob_hex": blob.hex(), "aes_dkek_hex": key_hex}
    return cases, seeds


# --- key backups (.wky) -----------------------------------------------------------------


def _wky_cases(vectors: dict[str, Any]) -> list[Case]:
    wky = bytes.fromhex(vectors["wrapped_key_file"]["wky_hex"])
    dkek = vectors["wrapped_key_file"]["dkek_hex"]
    blob_length = int.from_bytes(wky[6:8], "big")
    blob_end = 8 + blob_length
    blob = wky[8:blob_end]
    rest = wky[blob_end:]
    prkd_length = 2 + rest[1]
    prkd, certificate = rest[:prkd_length], rest[prkd_length:]
    cases: list[Case] = []

    def add(
        name: str, data: bytes, expect: str | None, fragment: str, key: str = dkek, note: str = ""
    ) -> None:
        cases.append(
            _case("wky", name, "wky", {"hex": data.hex(), "dkek_hex": key}, expect, fragment, note)
        )

    def sequence(content: bytes) -> bytes:
        length = len(content)
        encoded = bytes([length]) if length < 0x80 else b"\x82" + length.to_bytes(2, "big")
        return b"\x30" + encoded + content

    add("control-real", wky, None, "", note="control: the real device's backup")
    add("empty", b"", "BackupFileError", "the key backup is empty")
    for length in (1, 2, 3, 4, 5, 8, 9, 100, blob_end - 1, blob_end, len(wky) // 2, len(wky) - 1):
        add(f"truncated-{length}", wky[:length], "BackupFileError", "")
    add("wrong-dkek", wky, "KcvMismatch", "not under this DKEK", key="11" * 32)
    for offset in (1, 8, 16):
        add(
            f"flipped-mac-byte-{offset}",
            _flip(wky, blob_end - offset),
            "MacMismatch",
            "MAC does not verify",
        )
    add("flipped-kcv-byte", _flip(wky, 8), "KcvMismatch", "not under this DKEK")
    add("flipped-ciphertext-byte", _flip(wky, blob_end - 40), "MacMismatch", "MAC does not verify")
    add(
        "missing-prkd",
        sequence(wky[4:blob_end] + certificate),
        None,
        "",
        note="accepted: PRKD and certificate are optional; a lone CV request (tag 67) is "
        "taken as the certificate, as sc-hsm-tool writes it",
    )
    add(
        "missing-prkd-and-certificate",
        sequence(wky[4:blob_end]),
        None,
        "",
        note="accepted: a backup of the blob alone is what sc-hsm-tool --wrap-key writes",
    )
    add(
        "trailing-junk",
        wky + b"junk" * 8,
        None,
        "",
        note="accepted by design: bytes after the SEQUENCE are ignored, as sc-hsm-tool does",
    )
    add(
        "junk-element-inside",
        sequence(wky[4:] + b"\x04\x04junk"),
        "BackupFileError",
        "holds 4 elements",
    )
    add(
        "cv-request-as-prkd",
        sequence(wky[4:blob_end] + certificate + prkd),
        "BackupFileError",
        "cannot be the PRKD",
    )
    add("not-a-sequence", b"\x31" + wky[1:], "BackupFileError", "does not start with a SEQUENCE")
    add("octet-string-only", wky[4:blob_end], "BackupFileError", "does not start with a SEQUENCE")
    add(
        "first-not-octet-string",
        sequence(prkd + wky[4:blob_end]),
        "BackupFileError",
        "not an OCTET STRING",
    )
    add("empty-sequence", b"\x30\x00", "BackupFileError", "SEQUENCE is empty")
    add("empty-blob", b"\x30\x02\x04\x00", "BackupFileError", "key blob is empty")
    add(
        "oversized-length-claim",
        b"\x30\x84\xff\xff\xff\xff" + wky[4:],
        "BackupFileError",
        "damaged",
    )
    add(
        "oversized-length-overflow",
        b"\x30\x89" + b"\xff" * 9 + wky[4:],
        "BackupFileError",
        "length overflow",
    )
    add(
        "indefinite-length",
        b"\x30\x80" + wky[4:] + b"\x00\x00",
        "BackupFileError",
        "indefinite length",
    )
    add(
        "blob-length-overrun",
        wky[:6] + b"\xff\xff" + wky[8:],
        "BackupFileError",
        "contents are damaged",
    )
    add("blob-too-short", sequence(b"\x04\x10" + blob[:16]), "MalformedKeyBlob", "too short")
    return cases


def build_manifest(vectors: dict[str, Any]) -> dict[str, Any]:
    """The whole manifest, deterministic for a given vectors file."""
    rng = random.Random(SEED)
    share_cases, paperkey_share = _share_file_cases(rng, vectors)
    nofm = _nofm_cases(rng)
    blob_cases, blob_seeds = _keyblob_cases(rng, vectors)
    cases = [
        *share_cases,
        *nofm,
        *_paperkey_cases(bytes.fromhex(paperkey_share)),
        *blob_cases,
        *_wky_cases(vectors),
    ]
    names = [case["name"] for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return {
        "about": "Malformed-input corpus (issue 7); regenerate with "
        "`.venv/bin/python -m tests.corpus.make_corpus`.",
        "seed": SEED,
        "seeds": {"paperkey_share_hex": paperkey_share, **blob_seeds},
        "cases": cases,
    }


def render(manifest: dict[str, Any]) -> str:
    """The manifest as written to disk."""
    return json.dumps(manifest, indent=1, ensure_ascii=True) + "\n"


def main() -> None:
    """Write the manifest next to this script."""
    vectors = json.loads(VECTORS_PATH.read_text())
    manifest = build_manifest(vectors)
    MANIFEST_PATH.write_text(render(manifest))
    print(f"{len(manifest['cases'])} cases written to {MANIFEST_PATH}")


if __name__ == "__main__":
    main()
