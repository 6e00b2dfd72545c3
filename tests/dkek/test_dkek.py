"""The DKEK: XOR of shares, KCV, Kenc and Kmac against the published values."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keymanager.dkek import Dkek, format_kcv, kcv_of, share_fingerprint
from keymanager.dkek.errors import InvalidShare

shares_strategy = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=6)


def test_all_zero_dkek_matches_published_values(vectors: dict[str, Any]) -> None:
    expected = vectors["all_zero_dkek"]
    dkek = Dkek()
    assert dkek.value() == bytes.fromhex(expected["dkek_hex"])
    assert dkek.kcv().hex() == expected["kcv_hex"]
    assert dkek.kenc().hex() == expected["kenc_hex"]
    assert dkek.kmac().hex() == expected["kmac_hex"]


def test_single_share_kcv_matches_real_device(vectors: dict[str, Any]) -> None:
    vector = vectors["share_file"]
    share = bytes.fromhex(vector["share_hex"])
    with Dkek() as dkek:
        dkek.import_share(share)
        assert dkek.kcv().hex() == vector["kcv_of_dkek_made_of_this_share_alone_hex"]
    assert share_fingerprint(share).hex() == vector["kcv_of_dkek_made_of_this_share_alone_hex"]


def test_exported_key_dkek_has_the_blob_kcv(vectors: dict[str, Any]) -> None:
    vector = vectors["wrapped_key_file"]
    dkek = Dkek.from_value(bytes.fromhex(vector["dkek_hex"]))
    assert dkek.kcv().hex() == vector["expected"]["kcv_hex"]


@given(shares_strategy, st.randoms())
def test_share_order_does_not_matter(shares: list[bytes], rng: Any) -> None:
    reordered = list(shares)
    rng.shuffle(reordered)
    first, second = Dkek.from_shares(shares), Dkek.from_shares(reordered)
    assert first.value() == second.value()
    assert first.kcv() == second.kcv()
    expected = bytearray(32)
    for share in shares:
        expected = bytearray(a ^ b for a, b in zip(expected, share, strict=True))
    assert first.value() == bytes(expected)
    assert first.kcv() == hashlib.sha256(expected).digest()[:8]
    assert first.kenc() == hashlib.sha256(bytes(expected) + b"\x00\x00\x00\x01").digest()
    assert first.kmac() == hashlib.sha256(bytes(expected) + b"\x00\x00\x00\x02").digest()
    assert first.shares_imported == len(shares)


@given(st.binary(min_size=32, max_size=32))
def test_a_share_imported_twice_cancels_out(share: bytes) -> None:
    dkek = Dkek.from_shares([share, share])
    assert dkek.value() == bytes(32)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_share_of_wrong_length_is_refused(length: int) -> None:
    dkek = Dkek()
    with pytest.raises(InvalidShare, match="32 bytes"):
        dkek.import_share(bytes(length))
    assert dkek.shares_imported == 0
    with pytest.raises(InvalidShare):
        Dkek.from_value(bytes(length))


def test_clear_overwrites_the_secret_and_context_manager_clears() -> None:
    share = bytes(range(32))
    with Dkek() as dkek:
        dkek.import_share(share)
        assert dkek.value() == share
        buffer = dkek._value  # the very buffer that held the secret
    assert buffer == bytearray(32)
    assert dkek.shares_imported == 0


def test_repr_shows_kcv_but_not_the_secret() -> None:
    share = bytes(range(1, 33))
    dkek = Dkek.from_shares([share])
    text = repr(dkek)
    assert format_kcv(kcv_of(share)) in text
    assert share.hex() not in text and share.hex().upper() not in text
