"""The share-file key derivation against OpenSSL's own EVP_BytesToKey."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keymanager.dkek import kdf
from keymanager.dkek.errors import DerivationCancelled
from tests.support.openssl_kdf import openssl_evp_bytes_to_key

BACKENDS = ["python", "c"] if kdf.accelerated() else ["python"]


def test_accelerator_is_built_here() -> None:
    # The test machine has a compiler, so the C accelerator must have been built;
    # without it the share key derivation is about twice as slow.
    assert kdf.accelerated()


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(
    password=st.binary(min_size=0, max_size=40),
    salt=st.binary(min_size=8, max_size=8),
    rounds=st.integers(min_value=1, max_value=3000),
)
def test_matches_openssl(backend: kdf.Backend, password: bytes, salt: bytes, rounds: int) -> None:
    key, iv = kdf.evp_bytes_to_key_md5(password, salt, rounds=rounds, backend=backend)
    assert (bytes(key), bytes(iv)) == openssl_evp_bytes_to_key(password, salt, rounds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_openssl_across_chunk_boundaries(backend: kdf.Backend) -> None:
    rounds = 2 * kdf._CHUNK_ROUNDS + 7
    key, iv = kdf.evp_bytes_to_key_md5(b"pw", b"12345678", rounds=rounds, backend=backend)
    assert (bytes(key), bytes(iv)) == openssl_evp_bytes_to_key(b"pw", b"12345678", rounds)


def test_progress_is_monotonic_and_complete() -> None:
    seen: list[tuple[int, int]] = []
    rounds = kdf._CHUNK_ROUNDS + 10
    kdf.evp_bytes_to_key_md5(
        b"pw", b"saltsalt", rounds=rounds, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (3 * rounds, 3 * rounds)
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert all(total == 3 * rounds for _, total in seen)


def test_cancel_stops_the_derivation() -> None:
    cancel = threading.Event()
    calls = 0

    def progress(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        cancel.set()

    with pytest.raises(DerivationCancelled):
        kdf.evp_bytes_to_key_md5(b"pw", b"saltsalt", progress=progress, cancel=cancel)
    assert calls == 1  # stopped after the first chunk, not after 30 million rounds


def test_zero_rounds_is_refused() -> None:
    with pytest.raises(ValueError):
        kdf.evp_bytes_to_key_md5(b"pw", b"saltsalt", rounds=0)
