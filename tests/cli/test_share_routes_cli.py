"""``share import`` and ``import-p12`` with shares by every route, typed on a terminal.

A scripted terminal (:mod:`tests.support.fake_terminal`) types what a custodian would;
its screen shows messages and prompts in the order the user sees them, so the tests can
tell that a mistyped PaperKey group or n-of-m fragment is named at once.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.nofm import (
    PasswordSplit,
    format_prime,
    format_share_value,
    generate_safe_prime,
    split_password,
)
from keymanager.dkek.paperkey import ALPHABET, encode_paperkey
from keymanager.dkek.sharefile import encrypt_share
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.fake_terminal import install_terminal
from tests.support.multi_key_pfx import merge_pkcs12
from tests.workflows.p12_support import P12_PASSWORD, PIN, SO_PIN, certificate, host_key, write_p12

OTHER_SHARE = hashlib.sha256(b"the second custodian of the CLI share-route tests").digest()
NOFM_PASSWORD = b"\x5aCLI-n-m"  # 8 bytes, first byte not zero (sc-hsm-tool rebuilds it so)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, vectors: dict[str, Any]) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_P12", P12_PASSWORD)
    monkeypatch.setenv("TEST_SHARE_PASSWORD", vectors["share_file"]["password_ascii"])
    monkeypatch.setenv("WRONG_SHARE_PASSWORD", "not the password of this share file")
    return tmp_path


def new_card(directory: Path, shares: int, imported: tuple[bytes, ...] = ()) -> Path:
    """A card whose domain 0 takes ``shares`` shares, ``imported`` of them already in."""
    state = directory / "card.json"
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state, seed=b"cli routes")))
    hsm.initialize(InitParams(PIN, SO_PIN, dkek_shares=shares, key_domains=4))
    for share in imported:
        hsm.import_dkek_share(share, 0)
    hsm.verify_pin(PIN)  # Pico HSM loses a DKEK not followed by a VERIFY
    return state


def kcv_of(*shares: bytes) -> str:
    dkek = Dkek()
    for share in shares:
        dkek.import_share(bytearray(share))
    return format_kcv(dkek.kcv())


def typo(line: str, position: int) -> str:
    """``line`` with the character at ``position`` replaced by another PaperKey symbol."""
    wrong = ALPHABET[(ALPHABET.index(line[position]) + 1) % len(ALPHABET)]
    return line[:position] + wrong + line[position + 1 :]


def share_file(directory: Path, vectors: dict[str, Any]) -> Path:
    path = directory / "custodian.pbe"
    path.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    return path


@pytest.fixture(scope="module")
def nofm_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PasswordSplit]:
    """A share file (OTHER_SHARE) whose password is split 2 of 3 (fixed prime and split)."""
    prime = generate_safe_prime(64, random.Random(7).getrandbits)
    split = split_password(NOFM_PASSWORD, 2, 3, prime=prime, randbelow=random.Random(8).randrange)
    path = tmp_path_factory.mktemp("nofm") / "nofm.pbe"
    path.write_bytes(encrypt_share(OTHER_SHARE, NOFM_PASSWORD, salt=b"nofm-cli"))
    return path, split


def run_json(*argv: str) -> tuple[int, Any]:
    """Run the CLI with ``--json``: its status and the parsed output (text if it failed)."""
    output = io.StringIO()
    with redirect_stdout(output):
        status = main([*argv, "--json"])
    return status, json.loads(output.getvalue()) if status == 0 else output.getvalue()


# --- share import ---------------------------------------------------------------------


def test_share_import_paperkey_names_a_mistyped_group_as_soon_as_its_line_is_typed(
    environment: Path, vectors: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    share = bytes.fromhex(vectors["share_file"]["share_hex"])
    state = new_card(environment, 1)
    lines = encode_paperkey(share).lines
    # line 2 with a typo in its second group ("2: " + group 1 + " " = 10 characters)
    terminal = install_terminal(
        monkeypatch, [lines[0], typo(lines[1], 12), lines[1], lines[2], lines[3].lower()]
    )
    status, result = run_json(
        "share", "import", "--paperkey", "--simulator", str(state), "--pin-env", "TEST_PIN"
    )
    assert status == 0, terminal.screen
    screen = terminal.screen
    named = screen.index("PaperKey line 2: mistyped: group 2")
    # named right after line 2 was typed, before line 2 is asked again and line 3 at all
    assert screen.index("PaperKey line 2 of 4") < named
    assert named < screen.index("PaperKey line 2 of 4", named) < screen.index("PaperKey line 3")
    assert terminal.unread == []
    assert share.hex().upper() not in screen.upper()
    assert result["kcv"] == kcv_of(share)
    assert result["imported"][0]["number"] == 1


def test_share_import_n_of_m_prime_once_and_each_fragment_checked(
    environment: Path,
    nofm_file: tuple[Path, PasswordSplit],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, split = nofm_file
    state = new_card(environment, 1)
    first, _second, third = split.shares
    terminal = install_terminal(
        monkeypatch,
        [
            format_prime(split.prime + 1),  # even: never a prime
            format_prime(split.prime),
            "2",  # Any 2 of 3
            "1",
            format_share_value(split.prime + 5),  # not below the prime: mistyped
            "1",
            format_share_value(first.value),
            "1",  # the same custodian again
            format_share_value(first.value),
            str(third.share_id),
            format_share_value(third.value),
        ],
    )
    status = main(
        ["share", "import", str(path), "--n-of-m", "--simulator", str(state),
         "--pin-env", "TEST_PIN"]
    )  # fmt: skip
    out = capsys.readouterr().out
    screen = terminal.screen
    assert status == 0, screen
    assert terminal.unread == []
    not_prime = screen.index("prime: this is not a prime")
    assert not_prime < screen.index("How many fragments are needed")
    assert screen.count("Prime (as printed") == 2  # asked again only after the wrong one
    below = screen.index("fragment 1: the value is not below the prime")
    assert screen.index("Fragment 1 of 2: share ID", below) < screen.index("Fragment 1 accepted")
    twice = screen.index("fragment 2: share ID 1 is entered twice")
    assert twice < screen.index("Fragment 2 accepted")
    assert format_share_value(first.value) not in screen  # values are typed without echo
    assert "Share 1 of 1 imported into key domain 0" in out
    assert f"DKEK KCV: {kcv_of(OTHER_SHARE)}" in out


def test_share_import_counts_the_shares_as_the_domain_does(
    environment: Path,
    vectors: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first share from its file, the second typed as a PaperKey."""
    share = bytes.fromhex(vectors["share_file"]["share_hex"])
    state = new_card(environment, 2)
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    path = share_file(environment, vectors)
    assert main(["share", "import", str(path), "--password-env", "TEST_SHARE_PASSWORD", *card]) == 0
    first = capsys.readouterr()
    assert first.out.startswith("Share 1 of 2 imported into key domain 0")
    assert "1 of 2 share(s) still outstanding" in first.out
    terminal = install_terminal(monkeypatch, list(encode_paperkey(OTHER_SHARE).lines))
    assert main(["share", "import", "--paperkey", *card]) == 0, terminal.screen
    out = capsys.readouterr().out
    assert "DKEK share 2 of 2 (PaperKey)" in terminal.screen
    assert out.startswith("Share 2 of 2 imported into key domain 0")
    assert f"DKEK KCV: {kcv_of(share, OTHER_SHARE)}" in out


def test_share_import_paperkey_needs_a_terminal(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = new_card(environment, 1)
    # pytest's stdin is not a terminal
    assert main(["share", "import", "--paperkey", "--simulator", str(state),
                 "--pin-env", "TEST_PIN"]) == 1  # fmt: skip
    error = capsys.readouterr().err
    assert "no terminal" in error and "FILE.pbe --password-env VAR" in error


# --- import-p12 ---------------------------------------------------------------------


def test_import_p12_mixes_routes_in_order(
    environment: Path,
    nofm_file: tuple[Path, PasswordSplit],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--share-paperkey, then --share-n-of-m: both typed, in the order given."""
    path, split = nofm_file
    first_share = hashlib.sha256(b"first custodian of the p12 route test").digest()
    state = new_card(environment, 2, (first_share, OTHER_SHARE))
    p12 = environment / "key.p12"
    write_p12(p12, host_key("p256"), common_name="routed key")
    _first, second, third = split.shares
    terminal = install_terminal(
        monkeypatch,
        [
            *encode_paperkey(first_share).lines,
            format_prime(split.prime),
            "2",
            str(second.share_id),
            format_share_value(second.value),
            str(third.share_id),
            format_share_value(third.value),
            "",  # Enter: every entry of the file
        ],
    )
    status, output = run_json(
        "import-p12", str(p12), "--simulator", str(state),
        "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN",
        "--share-paperkey", "--share-n-of-m", str(path),
    )  # fmt: skip
    assert status == 0, terminal.screen
    screen = terminal.screen
    assert screen.index("DKEK share 1 of 2 (PaperKey)") < screen.index(
        "DKEK share 2 of 2 (n-of-m password fragments)"
    )
    assert output["import"]["kcv"] == kcv_of(first_share, OTHER_SHARE)
    [key] = output["import"]["files"][0]["keys"]
    assert key["label"] == "routed key" and key["proven"]


@pytest.mark.parametrize("route", ["classic", "transient"])
def test_import_p12_imports_every_key_of_the_file(
    environment: Path, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """A file with two keys (one with its certificate, one named only by its key bag's
    friendlyName): both are imported and proven by their test signatures."""
    share = hashlib.sha256(b"custodian of the two-key file").digest()
    state = new_card(environment, 1, (share,))
    first, second = host_key("p256"), host_key("p384")
    encryption = BestAvailableEncryption(P12_PASSWORD.encode())
    with_certificate = pkcs12.serialize_key_and_certificates(
        None, first, certificate("first key", first.public_key(), "first key", first),  # type: ignore[arg-type]
        None, encryption,
    )  # fmt: skip
    named_only = pkcs12.serialize_key_and_certificates(
        b"second key",
        second,
        None,
        None,
        encryption,  # type: ignore[arg-type]
    )
    p12 = environment / "two.p12"
    p12.write_bytes(merge_pkcs12([with_certificate, named_only], P12_PASSWORD))
    if route == "classic":
        terminal = install_terminal(monkeypatch, [*encode_paperkey(share).lines, ""])
        shares = ["--share-paperkey"]
    else:
        shares = ["--transient"]
    status, output = run_json(
        "import-p12", str(p12), "--simulator", str(state),
        "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN", *shares,
    )  # fmt: skip
    assert status == 0, terminal.screen if route == "classic" else output
    keys = output["import"]["files"][0]["keys"]
    assert [(key["label"], bool(key["proven"])) for key in keys] == [
        ("first key", True),
        ("second key", True),
    ]
    card = SmartCardHsmSimulator(state)
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.verify_pin(PIN)
    listed = {info.label: info for info in KeyStore(hsm).list_keys()}
    assert sorted(listed) == ["first key", "second key"]


def test_import_p12_wrong_password_of_the_first_share_names_it_and_stops(
    environment: Path, vectors: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    share = bytes.fromhex(vectors["share_file"]["share_hex"])
    state = new_card(environment, 2, (share, OTHER_SHARE))
    p12 = environment / "key.p12"
    write_p12(p12, host_key("p256"), common_name="cli key")
    first = share_file(environment, vectors)
    second = environment / "second.pbe"
    second.write_bytes(first.read_bytes())
    status = main(
        ["import-p12", str(p12), "--simulator", str(state),
         "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN",
         "--share", str(first), "--share-password-env", "WRONG_SHARE_PASSWORD",
         "--share", str(second), "--share-password-env", "TEST_SHARE_PASSWORD"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 1
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("keymanager-cli: error: share 1 of 2 (")
    assert str(first) in last and "password" in last
    assert "second.pbe" not in captured.err  # never taken for share 1, never opened
    assert "was not accepted" not in captured.err.replace(last, "")


@pytest.mark.parametrize("problem", ["wrong PKCS#12 password", "no key the card can hold"])
def test_import_p12_checks_the_file_before_any_share_is_decrypted(
    environment: Path,
    vectors: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    problem: str,
) -> None:
    """The share's password is wrong too: had the share been decrypted first, its
    refusal would be the error."""
    state = new_card(environment, 1, (bytes.fromhex(vectors["share_file"]["share_hex"]),))
    p12 = environment / "key.p12"
    if problem == "wrong PKCS#12 password":
        write_p12(p12, host_key("p256"))
        monkeypatch.setenv("TEST_P12", "not the PKCS#12 password")
        expected = "PKCS#12 password is wrong"
    else:
        write_p12(p12, host_key("ed25519"), with_certificate=False)
        expected = "nothing in it can go onto the card"
    status = main(
        ["import-p12", str(p12), "--simulator", str(state),
         "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN",
         "--share", str(share_file(environment, vectors)),
         "--share-password-env", "WRONG_SHARE_PASSWORD"]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert status == 1
    assert expected in error.strip().splitlines()[-1]
    assert "share" not in error.lower().replace("--share", "")
