"""Custodian rotation (issue 18), the workflow and `keymanager-cli share rotate`: the same
share protected anew; old secrets stop working;
a failed rotation puts the original file back.

Card-free, so not under tests/workflows (whose modules run once per simulator profile
and secure-messaging mode): each test runs several share-file key derivations."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from keymanager.dkek.errors import DkekError
from keymanager.dkek.sharefile import WeakPassword
from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan, create_share
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import FileShareInput, NofMShareInput, ScriptedInteraction
from keymanager.workflows.share_rotation import rotate_share_file
from keymanager.workflows.shares import read_share
from tests.cli.support import run
from tests.support.fake_terminal import install_terminal

OLD_PASSWORD = "old custodian passphrase"
NEW_PASSWORD = "new custodian passphrase"


def _fragments(interaction: ScriptedInteraction) -> tuple[str, list[tuple[str, str]]]:
    sheets = [text for _title, text in interaction.shown_secrets]
    prime = re.search(r"Prime\s*:\s*(\S+)", sheets[0])
    assert prime is not None
    fragments = []
    for sheet in sheets:
        ident = re.search(r"Share ID\s*:\s*(\S+)", sheet)
        value = re.search(r"Share value\s*:\s*(\S+)", sheet)
        assert ident and value
        fragments.append((ident.group(1), value.group(1)))
    return prime.group(1), fragments


def test_password_file_rotated_to_a_new_n_of_m_set(tmp_path: Path) -> None:
    path = tmp_path / "alice.pbe"
    made = create_share(
        ScriptedInteraction().answer("secret", OLD_PASSWORD), ShareCreationPlan(share_file=path)
    )
    interaction = ScriptedInteraction()
    result = rotate_share_file(
        interaction,
        FileShareInput(path, bytearray(OLD_PASSWORD.encode())),
        ShareCreationPlan(share_file=path, protection=FileProtection.N_OF_M, threshold=2, total=3),
    )
    assert result.fingerprint == made.fingerprint == result.saved.fingerprint
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(DkekError):  # the old password no longer opens the file
        read_share(FileShareInput(path, bytearray(OLD_PASSWORD.encode())), ScriptedInteraction())
    prime, fragments = _fragments(interaction)
    assert len(fragments) == 3
    share = read_share(NofMShareInput(path, prime, fragments[:2]), ScriptedInteraction())
    assert share.hex() and result.fingerprint in " ".join(interaction.texts())
    assert "the share fingerprint is unchanged" in result.checks


def test_n_of_m_file_rotated_to_a_new_split_and_then_a_password(tmp_path: Path) -> None:
    path = tmp_path / "bob.pbe"
    first = ScriptedInteraction()
    made = create_share(
        first,
        ShareCreationPlan(share_file=path, protection=FileProtection.N_OF_M, threshold=2, total=3),
    )
    old_prime, old_fragments = _fragments(first)
    second = ScriptedInteraction()
    resplit = rotate_share_file(
        second,
        NofMShareInput(path, old_prime, [old_fragments[0], old_fragments[2]]),
        ShareCreationPlan(share_file=path, protection=FileProtection.N_OF_M, threshold=3, total=4),
    )
    assert (resplit.saved.threshold, resplit.saved.total) == (3, 4)
    assert resplit.fingerprint == made.fingerprint
    with pytest.raises(DkekError):  # the old fragments no longer open it
        read_share(NofMShareInput(path, old_prime, old_fragments[:2]), ScriptedInteraction())
    new_prime, new_fragments = _fragments(second)
    rekeyed = rotate_share_file(
        ScriptedInteraction().answer("secret", NEW_PASSWORD),
        NofMShareInput(path, new_prime, new_fragments[1:]),
        ShareCreationPlan(share_file=path),
    )
    assert rekeyed.fingerprint == made.fingerprint and rekeyed.old_protection == "n-of-m fragments"
    read_share(FileShareInput(path, bytearray(NEW_PASSWORD.encode())), ScriptedInteraction())


def test_failures_leave_the_original_file(tmp_path: Path) -> None:
    path = tmp_path / "carol.pbe"
    create_share(
        ScriptedInteraction().answer("secret", OLD_PASSWORD), ShareCreationPlan(share_file=path)
    )
    original = path.read_bytes()
    with pytest.raises(DkekError):  # wrong old password
        rotate_share_file(
            ScriptedInteraction().answer("secret", NEW_PASSWORD),
            FileShareInput(path, bytearray(b"not the password")),
            ShareCreationPlan(share_file=path),
        )
    assert path.read_bytes() == original
    with pytest.raises(WeakPassword):  # the new password is refused
        rotate_share_file(
            ScriptedInteraction().answer("secret", "abc"),
            FileShareInput(path, bytearray(OLD_PASSWORD.encode())),
            ShareCreationPlan(share_file=path),
        )
    assert path.read_bytes() == original
    with pytest.raises(WorkflowError, match="in place"):
        rotate_share_file(
            ScriptedInteraction(),
            FileShareInput(path, bytearray(OLD_PASSWORD.encode())),
            ShareCreationPlan(share_file=tmp_path / "other.pbe"),
        )
    assert path.read_bytes() == original and not (tmp_path / "other.pbe").exists()


# --- keymanager-cli share rotate -------------------------------------------------------


def _pdf_text(path: Path) -> str:
    return "".join(
        re.sub(rb"\\(.)", rb"\1", m.group(1)).decode("latin-1") + "\n"
        for m in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", path.read_bytes())
    )


def test_rotate_to_n_of_m_and_back_to_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("OLD", "the old custodian passphrase")
    monkeypatch.setenv("NEW", "the new custodian passphrase")
    share = tmp_path / "alice.pbe"
    status, out, err = run(capsys, "share", "create", str(share), "--password-env", "OLD", "--json")
    assert status == 0, err
    fingerprint = json.loads(out)["fingerprint"]

    status, out, err = run(capsys, "share", "rotate", str(share), "--password-env", "WRONG_UNSET")
    assert status == 2  # usage: a new protection is required
    monkeypatch.setenv("WRONG", "not the password at all")
    before = share.read_bytes()
    status, _, err = run(
        capsys, "share", "rotate", str(share), "--password-env", "WRONG", "--n-of-m", "2/3",
        "--fragments-dir", str(tmp_path / "fragments"),
    )  # fmt: skip
    assert status == 1 and share.read_bytes() == before

    status, out, err = run(
        capsys, "share", "rotate", str(share), "--password-env", "OLD", "--n-of-m", "2/3",
        "--fragments-dir", str(tmp_path / "fragments"), "--json",
    )  # fmt: skip
    assert status == 0, err
    result = json.loads(out)
    assert result["fingerprint"] == fingerprint and (result["threshold"], result["total"]) == (2, 3)
    status, _, _ = run(capsys, "share", "inspect", str(share), "--password-env", "OLD")
    assert status == 1  # the old password no longer opens it

    sheets = [_pdf_text(tmp_path / "fragments" / f"fragment-{i}-of-3.pdf") for i in (1, 3)]
    typed = [result["prime"], "2"]  # the prime as printed (also in the JSON), how many
    for sheet in sheets:
        ident = re.search(r"Share ID\s*:\s*(\S+)", sheet)
        value = re.search(r"Share value\s*:\s*(\S+)", sheet)
        assert ident and value
        typed += [ident.group(1), value.group(1)]
    terminal = install_terminal(monkeypatch, typed)
    status, out, err = run(
        capsys, "share", "rotate", str(share), "--old-n-of-m", "--new-password-env", "NEW"
    )
    assert status == 0, err + terminal.screen
    assert f"Share fingerprint (unchanged): {fingerprint}" in out
    status, out, _ = run(capsys, "share", "inspect", str(share), "--password-env", "NEW", "--json")
    assert status == 0 and json.loads(out)["kcv"] == fingerprint
