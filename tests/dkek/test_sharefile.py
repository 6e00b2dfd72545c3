"""Share files (.pbe): the real-device vector, round trips and every kind of bad input."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keymanager.dkek import sharefile
from keymanager.dkek.errors import (
    DerivationCancelled,
    InvalidShare,
    NotAShareFile,
    WeakPassword,
    WrongPassword,
)
from keymanager.dkek.sharefile import (
    SHARE_FILE_LENGTH,
    check_new_password,
    decrypt_share,
    encrypt_share,
    read_share_file,
    write_share_file,
)

FAST = 50  # rounds for structural tests; the format's 10,000,000 are covered below


@pytest.fixture(scope="module")
def vector(vectors: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = vectors["share_file"]
    return data


def test_real_device_share_file_decrypts(vector: dict[str, Any]) -> None:
    data = base64.b64decode(vector["pbe_base64"])
    share = decrypt_share(data, vector["password_ascii"].encode())
    assert bytes(share) == bytes.fromhex(vector["share_hex"])


def test_real_device_share_file_re_encrypts_byte_for_byte(vector: dict[str, Any]) -> None:
    data = base64.b64decode(vector["pbe_base64"])
    again = encrypt_share(
        bytes.fromhex(vector["share_hex"]), vector["password_ascii"].encode(), salt=data[8:16]
    )
    assert again == data


def test_wrong_password_on_real_file(vector: dict[str, Any]) -> None:
    data = base64.b64decode(vector["pbe_base64"])
    with pytest.raises(WrongPassword, match="wrong password"):
        decrypt_share(data, b"passwordpassworD")


@settings(max_examples=25, deadline=None)
@given(
    share=st.binary(min_size=32, max_size=32),
    password=st.binary(min_size=1, max_size=24),
    salt=st.binary(min_size=8, max_size=8),
)
def test_round_trip(share: bytes, password: bytes, salt: bytes) -> None:
    data = encrypt_share(share, password, salt=salt, rounds=FAST)
    assert len(data) == SHARE_FILE_LENGTH
    assert data.startswith(b"Salted__") and data[8:16] == salt
    assert bytes(decrypt_share(data, password, rounds=FAST)) == share


def test_random_salt_differs_between_files() -> None:
    share = os.urandom(32)
    assert encrypt_share(share, b"secret1", rounds=FAST) != encrypt_share(
        share, b"secret1", rounds=FAST
    )


@settings(max_examples=25, deadline=None)
@given(password=st.binary(min_size=1, max_size=24), other=st.binary(min_size=1, max_size=24))
def test_any_other_password_is_wrong(password: bytes, other: bytes) -> None:
    if password == other:
        return
    data = encrypt_share(bytes(32), password, rounds=FAST)
    with pytest.raises(WrongPassword):
        decrypt_share(data, other, rounds=FAST)


GOOD = encrypt_share(bytes(range(32)), b"correct horse", salt=b"saltsalt", rounds=FAST)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "0 bytes"),
        (GOOD[:63], "truncated"),
        (GOOD[:16], "truncated"),
        (GOOD + b"\n", "extra data"),
        (GOOD + bytes(64), "extra data"),
        (b"Salted_!" + GOOD[8:], "Salted__"),
        (b"SALTED__" + GOOD[8:], "Salted__"),
        (bytes(64), "Salted__"),
        (b"\xff" * 64, "Salted__"),
    ],
    ids=[
        "empty",
        "63-bytes",
        "16-bytes",
        "newline-appended",
        "padded",
        "magic-typo",
        "magic-case",
        "all-zero",
        "all-ff",
    ],
)
def test_malformed_share_files_are_not_share_files(data: bytes, message: str) -> None:
    with pytest.raises(NotAShareFile, match=message):
        decrypt_share(data, b"correct horse", rounds=FAST)


@pytest.mark.parametrize("position", range(32, 64))
def test_damage_in_the_last_two_blocks_reads_as_wrong_password(position: int) -> None:
    damaged = bytearray(GOOD)
    damaged[position] ^= 0x01
    with pytest.raises(WrongPassword):
        decrypt_share(bytes(damaged), b"correct horse", rounds=FAST)


@pytest.mark.parametrize("position", range(16, 32))
def test_damage_in_the_first_block_changes_the_share(position: int) -> None:
    # The format has no MAC: damage before the padding block yields another share.
    # That is why every route shows the share's fingerprint and the KCV is compared
    # with the card's before anything is imported.
    damaged = bytearray(GOOD)
    damaged[position] ^= 0x01
    assert bytes(decrypt_share(bytes(damaged), b"correct horse", rounds=FAST)) != bytes(range(32))


def test_wrong_share_length_is_refused() -> None:
    with pytest.raises(InvalidShare):
        encrypt_share(bytes(31), b"password", rounds=FAST)


@pytest.mark.parametrize("password", [b"", b"a", b"12345"])
def test_short_passwords_are_refused_for_new_files(password: bytes) -> None:
    with pytest.raises(WeakPassword, match="at least 6"):
        check_new_password(password)


def test_cancel_during_decryption() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DerivationCancelled):
        decrypt_share(GOOD, b"correct horse", cancel=cancel)


def test_write_is_atomic_private_and_refuses_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "custodian1.pbe"
    write_share_file(target, GOOD)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == GOOD
    assert read_share_file(target) == GOOD
    with pytest.raises(FileExistsError):
        write_share_file(target, GOOD)
    write_share_file(target, GOOD, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custodian1.pbe"]


def test_write_refuses_data_that_is_not_a_share_file(tmp_path: Path) -> None:
    with pytest.raises(NotAShareFile):
        write_share_file(tmp_path / "x.pbe", bytes(64))
    assert list(tmp_path.iterdir()) == []


def test_read_refuses_long_file(tmp_path: Path) -> None:
    path = tmp_path / "long.pbe"
    path.write_bytes(GOOD + b"junk")
    with pytest.raises(NotAShareFile, match="extra data"):
        read_share_file(path)


def test_password_encoding_is_utf8() -> None:
    assert sharefile.encode_password("pässwörd") == "pässwörd".encode()
