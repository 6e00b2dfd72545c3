"""``keymanager-cli share create`` and ``share inspect``, end to end."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keymanager.cli.main import main
from keymanager.dkek.dkek import format_kcv, share_fingerprint
from keymanager.dkek.sharefile import decrypt_share


@pytest.fixture
def real_share_file(tmp_path: Path, vectors: dict[str, Any]) -> Path:
    path = tmp_path / "device.pbe"
    path.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    return path


def test_inspect_real_share_file_json(
    real_share_file: Path,
    vectors: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SHARE_PW", vectors["share_file"]["password_ascii"])
    assert (
        main(["share", "inspect", str(real_share_file), "--password-env", "SHARE_PW", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "file": str(real_share_file),
        "kcv": vectors["share_file"]["kcv_of_dkek_made_of_this_share_alone_hex"].upper(),
    }


def test_inspect_does_not_reveal_the_share_unless_asked(
    real_share_file: Path,
    vectors: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    share_hex = vectors["share_file"]["share_hex"]
    monkeypatch.setenv("SHARE_PW", vectors["share_file"]["password_ascii"])
    assert main(["share", "inspect", str(real_share_file), "--password-env", "SHARE_PW"]) == 0
    captured = capsys.readouterr()
    assert share_hex not in (captured.out + captured.err).lower()
    assert "2AFA121E8764A1E3" in captured.out
    assert (
        main(["share", "inspect", str(real_share_file), "--password-env", "SHARE_PW", "--reveal"])
        == 0
    )
    assert share_hex.upper() in capsys.readouterr().out


def test_inspect_wrong_password(
    real_share_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHARE_PW", "not the password")
    assert main(["share", "inspect", str(real_share_file), "--password-env", "SHARE_PW"]) == 1
    captured = capsys.readouterr()
    assert "wrong password" in captured.err
    assert captured.out == ""


def test_inspect_not_a_share_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    monkeypatch.setenv("SHARE_PW", "whatever")
    assert main(["share", "inspect", str(path), "--password-env", "SHARE_PW"]) == 1
    assert "not a DKEK share file" in capsys.readouterr().err


def test_inspect_missing_environment_variable(
    real_share_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NOPE_PW", raising=False)
    assert main(["share", "inspect", str(real_share_file), "--password-env", "NOPE_PW"]) == 1
    assert "NOPE_PW" in capsys.readouterr().err


def test_create_then_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "custodian.pbe"
    monkeypatch.setenv("NEW_PW", "correct horse battery")
    assert main(["share", "create", str(target), "--password-env", "NEW_PW", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    share = decrypt_share(target.read_bytes(), b"correct horse battery")
    assert created["fingerprint"] == format_kcv(share_fingerprint(share))
    # refuses to overwrite, and the file is untouched
    before = target.read_bytes()
    assert main(["share", "create", str(target), "--password-env", "NEW_PW"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_create_refuses_short_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEW_PW", "abc")
    assert main(["share", "create", str(tmp_path / "s.pbe"), "--password-env", "NEW_PW"]) == 1
    assert "at least 6" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_create_without_terminal_or_env_says_what_to_do(tmp_path: Path) -> None:
    script = shutil.which("keymanager-cli", path=str(Path(sys.executable).parent))
    assert script is not None, "keymanager-cli is not installed beside this Python"
    result = subprocess.run(
        [script, "share", "create", str(tmp_path / "s.pbe")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "NEW_PW"},
        check=False,
    )
    assert result.returncode == 1
    assert "--password-env" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_create_asks_for_the_password_twice_on_a_terminal(tmp_path: Path) -> None:
    """Drive the real prompt through a pseudo-terminal, as a custodian would type."""
    import pty
    import select

    script = shutil.which("keymanager-cli", path=str(Path(sys.executable).parent))
    assert script is not None
    target = tmp_path / "typed.pbe"
    pid, fd = pty.fork()
    if pid == 0:  # child: becomes keymanager-cli on the terminal
        os.execv(script, [script, "share", "create", str(target)])
    transcript = b""
    answers = [b"typed password 1\n", b"typed password 1\n"]

    def read_until(marker: bytes, timeout: float = 30.0) -> None:
        nonlocal transcript
        while marker not in transcript:
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, f"no prompt {marker!r}; got {transcript!r}"
            chunk = os.read(fd, 1024)
            assert chunk, f"terminal closed; got {transcript!r}"
            transcript += chunk

    read_until(b"Choose the share-file password")
    os.write(fd, answers[0])
    read_until(b"Repeat the share-file password")
    os.write(fd, answers[1])
    read_until(b"Share fingerprint", timeout=120.0)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"typed password" not in transcript  # no echo of the password
    share = decrypt_share(target.read_bytes(), b"typed password 1")
    assert format_kcv(share_fingerprint(share)).encode() in transcript
