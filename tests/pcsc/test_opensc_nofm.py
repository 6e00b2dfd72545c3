"""n-of-m password shares: sc-hsm-tool's split rebuilds with our library and ours with sc-hsm-tool.

``sc-hsm-tool --create-dkek-share C.pbe --pwd-shares-threshold 2 --pwd-shares-total 3``
runs on a pseudo-terminal (it clears the screen and waits for Enter between the
share screens); the printed prime and shares are parsed, any two of them rebuild the
8-byte password with :mod:`keymanager.dkek.nofm`, and that password opens C.pbe with
our library.  The other way round, the fragments as our library formats them are
typed into ``sc-hsm-tool --import-dkek-share C.pbe --pwd-shares-total 2`` and the card
ends up with the share our library decrypted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pytest

from keymanager.dkek import kcv_of
from keymanager.dkek.nofm import (
    PasswordShare,
    candidate_passwords,
    format_prime,
    format_share_id,
    format_share_value,
    parse_prime,
    parse_share_id,
    parse_share_value,
    recover_password,
)
from keymanager.dkek.sharefile import decrypt_share
from tests.support.opensc import (
    KDF_TIMEOUT,
    SO_PIN,
    USER_PIN,
    InsertedCard,
    PressEnter,
    hsm_session,
    inserted_simulator,
    parse_share_screens,
    parse_status,
    sc_hsm_tool,
    sc_hsm_tool_argv,
    share_entry_script,
)
from tests.support.pcscd import PcscdHarness
from tests.support.profiles import current_profile
from tests.support.pty_tool import run_in_pty


@pytest.fixture(scope="module")
def hsm_card(
    pcscd: PcscdHarness, opensc_tools: None, simulator_profile: str
) -> Iterator[InsertedCard]:
    with inserted_simulator(pcscd, seed=b"opensc interop: n-of-m") as inserted:
        if current_profile().challenge_before_init_fails:
            # Pico HSM answers GET CHALLENGE with 6A82 while blank (pcsc-testing item 6):
            # sc-hsm-tool can create a share only on an initialised device there.
            sc_hsm_tool(
                inserted.reader,
                "--initialize", "--so-pin", SO_PIN, "--pin", USER_PIN, "--dkek-shares", "1",
            ).check()  # fmt: skip
        yield inserted


@dataclass(frozen=True)
class Split:
    path: Path
    status: int
    output: str
    prime: int
    shares: tuple[PasswordShare, ...]


@pytest.fixture(scope="module")
def split(hsm_card: InsertedCard, workdir: Path) -> Split:
    """C.pbe protected by a 2-of-3 password split, made by sc-hsm-tool on a pty."""
    path = workdir / "C.pbe"
    argv = sc_hsm_tool_argv(
        hsm_card.reader,
        "--create-dkek-share", path, "--pwd-shares-threshold", "2", "--pwd-shares-total", "3",
    )  # fmt: skip
    status, output = run_in_pty(argv, PressEnter(), timeout=KDF_TIMEOUT, idle=0.2)
    screens = parse_share_screens(output)
    assert len(screens) == 3, output
    assert len({screen.prime for screen in screens}) == 1, output
    return Split(
        path=path,
        status=status,
        output=output,
        prime=parse_prime(screens[0].prime),
        shares=tuple(
            PasswordShare(parse_share_id(s.share_id), parse_share_value(s.value)) for s in screens
        ),
    )


@pytest.fixture(scope="module")
def share_c(split: Split) -> bytes:
    """Share C as our library decrypts it with the password rebuilt from shares 1 and 3."""
    password = recover_password(split.prime, [split.shares[0], split.shares[2]], threshold=2)
    return bytes(decrypt_share(split.path.read_bytes(), password))


def test_sc_hsm_tool_prints_a_2_of_3_split(split: Split) -> None:
    assert split.status == 0, split.output
    assert "DKEK share created and saved to" in split.output, split.output
    assert [share.share_id for share in split.shares] == [1, 2, 3]
    assert split.prime.bit_length() == 64
    data = split.path.read_bytes()
    assert len(data) == 64 and data.startswith(b"Salted__")


def test_any_two_shares_rebuild_the_password_that_opens_the_file(
    split: Split, share_c: bytes
) -> None:
    assert len(share_c) == 32
    passwords = {
        recover_password(split.prime, list(pair), threshold=2)
        for pair in combinations(split.shares, 2)
    }
    assert len(passwords) == 1, "every pair of shares must rebuild the same password"
    [password] = passwords
    assert len(password) == 8 and password[0] & 0x80 == 0
    # candidate_passwords offers the same password first (the form sc-hsm-tool wrote).
    assert candidate_passwords(split.prime, list(split.shares[1:]))[0] == password


def test_sc_hsm_tool_imports_with_shares_as_our_library_prints_them(
    hsm_card: InsertedCard, split: Split, share_c: bytes
) -> None:
    initialise = sc_hsm_tool(
        hsm_card.reader,
        "--initialize", "--so-pin", SO_PIN, "--pin", USER_PIN, "--dkek-shares", "1",
    )  # fmt: skip
    assert hsm_card.card.state.initialised, initialise.report()
    typed = [split.shares[2], split.shares[1]]
    script = share_entry_script(
        format_prime(split.prime),
        [(format_share_id(s.share_id), format_share_value(s.value)) for s in typed],
    )
    argv = sc_hsm_tool_argv(
        hsm_card.reader, "--import-dkek-share", split.path, "--pwd-shares-total", "2"
    )
    status, output = run_in_pty(argv, script, timeout=KDF_TIMEOUT, idle=0.2)
    assert status == 0 and script.finished, output
    assert "DKEK share imported" in output, output
    # sc-hsm-tool reads the status without a PIN: Pico HSM shows zeros then (item 2)
    hidden = current_profile().hide_kcv_until_login
    assert parse_status(output).kcv == (bytes(8) if hidden else kcv_of(share_c)), output
    with hsm_session(hsm_card.reader) as hsm:
        hsm.verify_pin(USER_PIN)
        domain = hsm.key_domain_status(0)
    assert domain is not None and domain.complete and domain.kcv == kcv_of(share_c)
