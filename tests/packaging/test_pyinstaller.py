"""Build the Linux one-folder bundle with PyInstaller and start it (``--screenshot``).

The build takes about 20-40 s on two cores; the bundle is made once per session in a
temporary directory and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import keymanager

REPOSITORY = Path(__file__).resolve().parents[2]
SPEC = REPOSITORY / "packaging" / "keymanager.spec"

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``dist/keymanager`` of a fresh PyInstaller build."""
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    assert pyinstaller.exists(), "PyInstaller is missing: it is a test dependency (./dev.sh)"
    work = tmp_path_factory.mktemp("pyinstaller")
    result = subprocess.run(
        [
            str(pyinstaller),
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(work / "dist"),
            "--workpath",
            str(work / "build"),
            str(SPEC),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=840,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    yield work / "dist" / "keymanager"
    shutil.rmtree(work, ignore_errors=True)


def _environment(tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_STATE_HOME=str(tmp_path / "state"),
        PYTHONPATH="",  # the bundle must not borrow the source tree
    )
    return environment


def test_bundle_starts_and_renders_the_main_window(bundle: Path, tmp_path: Path) -> None:
    executable = bundle / "keymanager"
    assert executable.is_file() and os.access(executable, os.X_OK)
    shot = tmp_path / "out.png"
    result = subprocess.run(
        [str(executable), "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=_environment(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 640 and height >= 400
    # The demo card was built inside the bundle's run, from the bundled simulator.
    assert (tmp_path / "state" / "keymanager" / "demo-card.json").is_file()


def test_bundle_cli_reports_the_package_version(bundle: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(bundle / "keymanager-cli"), "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=_environment(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"keymanager-cli {keymanager.__version__}"


def test_bundle_carries_the_resources(bundle: Path) -> None:
    internal = bundle / "_internal" / "keymanager" / "resources"
    assert (internal / "io.github.keymanager.KeyManager.desktop").is_file()
    assert (internal / "icons" / "outline" / "key.svg").is_file()
