"""``pip install keymanager`` from the built wheel and sdist, each into a fresh venv.

``python -m build`` makes the sdist and, from it, the wheel (so a file missing from the
sdist is missing from the wheel too).  The wheel goes into a new venv (no system site
packages) with its dependencies from the package index, as a user would install it; the
sdist goes into a second new venv with ``--no-deps`` (it builds its own wheel), reading the
dependencies from the first venv through a ``.pth`` line that comes after its own
site-packages, so its own keymanager is the one imported (checked).  In both, the two
commands run and every package data file of the source tree is found in the installed
package.  The build and the two installs take about a minute on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import keymanager

REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(600)

SOURCE_ONLY_SUFFIXES = {".py", ".pyc", ".c", ".so"}
"""Files that are code, not data (the ``.c`` is the optional accelerator's source)."""


def _package_data_files() -> set[str]:
    """The data files of the source tree the installed package must carry, as
    ``keymanager/...`` paths: every file under ``keymanager/`` that is not code."""
    return {
        name
        for name in _source_files()
        if name.startswith("keymanager/") and Path(name).suffix not in SOURCE_ONLY_SUFFIXES
    }


def _source_files() -> list[str]:
    """The files of the work tree as git sees them (tracked, or new and not ignored)."""
    listing = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    result = subprocess.run(
        ["git", "-C", str(REPOSITORY), *listing],
        capture_output=True,
        check=True,
    )
    names = [name for name in result.stdout.decode().split("\0") if name]
    return [name for name in names if (REPOSITORY / name).is_file()]


def _environment(home: Path) -> dict[str, str]:
    """The environment of the installed commands: no borrowed paths, state in ``home``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    }
    environment.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        QT_QPA_PLATFORM="offscreen",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return environment


def _run(command: list[str], *, cwd: Path, environment: dict[str, str], timeout: int) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=environment,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@dataclass(frozen=True)
class Distributions:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distributions]:
    """The sdist and the wheel ``python -m build`` makes from a copy of the work tree
    (a copy, so the build's ``build/`` and ``*.egg-info`` stay out of the repository)."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    for name in _source_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / name, target)
    out = work / "dist"
    _run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        cwd=work,
        environment=_environment(work),
        timeout=300,
    )
    (wheel,) = out.glob("keymanager-*.whl")
    (sdist,) = out.glob("keymanager-*.tar.gz")
    yield Distributions(wheel=wheel, sdist=sdist)
    shutil.rmtree(work, ignore_errors=True)


def test_sdist_carries_the_sources_and_data_and_no_tests(distributions: Distributions) -> None:
    with tarfile.open(distributions.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    required = _package_data_files() | {
        "pyproject.toml",
        "setup.py",
        "README.md",
        "keymanager/dkek/_md5chain.c",
        "keymanager/cli/main.py",
        "keymanager/gui/app.py",
    }
    assert required <= names, sorted(required - names)
    assert not any(name.startswith("tests/") for name in names), "MANIFEST.in prunes tests/"


def test_wheel_carries_the_data_and_both_commands(distributions: Distributions) -> None:
    with zipfile.ZipFile(distributions.wheel) as archive:
        names = set(archive.namelist())
        entry_points_file = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(entry_points_file).decode()
    assert _package_data_files() <= names, sorted(_package_data_files() - names)
    assert "keymanager-cli = keymanager.cli.main:main" in entry_points
    assert "keymanager = keymanager.gui.app:main" in entry_points
    assert "[keymanager.plugins]" in entry_points


@dataclass(frozen=True)
class Installation:
    """A fresh venv with keymanager installed from one distribution."""

    kind: str
    venv: Path
    home: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, *command: str, timeout: int = 120) -> str:
        return _run(
            [str(self.bin / command[0]), *command[1:]],
            cwd=self.home,
            environment=_environment(self.home),
            timeout=timeout,
        )

    def site_packages(self) -> list[str]:
        output = self.run(
            "python",
            "-c",
            "import json, sysconfig; "
            "print(json.dumps(sorted({sysconfig.get_path(n) for n in ('purelib', 'platlib')})))",
        )
        paths: list[str] = json.loads(output)
        return paths


def _new_venv(root: Path, kind: str) -> Installation:
    venv = root / f"venv-{kind}"
    home = root / f"home-{kind}"
    home.mkdir()
    _run(
        [sys.executable, "-m", "venv", str(venv)],
        cwd=root,
        environment=_environment(home),
        timeout=120,
    )
    configuration = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in configuration
    return Installation(kind=kind, venv=venv, home=home)


@pytest.fixture(scope="module")
def wheel_installation(
    distributions: Distributions, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("install-wheel")
    installation = _new_venv(root, "wheel")
    installation.run("python", "-m", "pip", "install", "-q", str(distributions.wheel), timeout=480)
    yield installation
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sdist_installation(
    distributions: Distributions,
    wheel_installation: Installation,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("install-sdist")
    installation = _new_venv(root, "sdist")
    installation.run(
        "python", "-m", "pip", "install", "-q", "--no-deps", str(distributions.sdist), timeout=300
    )
    # The dependencies (PySide6, cryptography, pyscard) from the wheel's venv, searched
    # after this venv's own site-packages.
    (own,) = {Path(path) for path in installation.site_packages()}
    (own / "dependencies-from-the-wheel-venv.pth").write_text(
        "\n".join(wheel_installation.site_packages()) + "\n"
    )
    yield installation
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["wheel", "sdist"])
def installation(request: pytest.FixtureRequest) -> Installation:
    fixture: Installation = request.getfixturevalue(f"{request.param}_installation")
    return fixture


def test_cli_reports_the_version_and_its_help(installation: Installation) -> None:
    assert installation.run("keymanager-cli", "--version").strip() == (
        f"keymanager-cli {keymanager.__version__}"
    )
    usage = installation.run("keymanager-cli", "--help")
    assert usage.startswith("usage: keymanager-cli")
    for command in ("readers", "status", "share", "backup", "restore", "import-p12"):
        assert command in usage, command
    assert (installation.bin / "keymanager").is_file()  # the GUI command


INSTALLED_DATA_SCRIPT = """
import json
from importlib import metadata
from pathlib import Path

import keymanager
from keymanager import resources
from keymanager.gui.help import user_guide_path

package = Path(keymanager.__file__).parent
data = sorted(
    "keymanager/" + path.relative_to(package).as_posix()
    for path in package.rglob("*")
    if path.is_file() and path.suffix not in {".py", ".pyc", ".c", ".so"}
    and "__pycache__" not in path.parts
)
through_the_api = [
    *resources.app_icon_files(),
    resources.desktop_file(),
    resources.metainfo_file(),
    *(resources.outline_icon(name) for name in resources.OUTLINE_ICONS),
]
print(json.dumps({
    "package": str(package),
    "data": data,
    "api": [path.is_file() and path.stat().st_size > 0 for path in through_the_api],
    "plugins": sorted(entry.name for entry in metadata.entry_points(group="keymanager.plugins")),
    "guide": str(user_guide_path()),
}))
"""


def test_installed_package_has_every_data_file(installation: Installation) -> None:
    report = json.loads(installation.run("python", "-c", INSTALLED_DATA_SCRIPT))
    # The package imported is the one installed into this venv, not the source tree's.
    assert Path(report["package"]).is_relative_to(installation.venv), report["package"]
    assert set(report["data"]) == _package_data_files()
    assert report["api"] and all(report["api"])
    assert report["plugins"] == ["pkcs12-import"]
    # Help → User guide finds the installed guide and its pictures, not the source tree's
    guide = Path(report["guide"])
    assert guide.is_relative_to(installation.venv) and guide.name == "user-guide.md"
    assert (guide.parent / "images" / "main-window.png").is_file()


def test_gui_command_starts_and_renders_the_main_window(
    wheel_installation: Installation,
) -> None:
    shot = wheel_installation.home / "window.png"
    wheel_installation.run("keymanager", "--screenshot", str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 640 and height >= 400
