"""Package resources, the desktop file, the AppStream metainfo and the PyInstaller spec.

The wheel and sdist are built and installed by ``test_install.py``; the Flatpak manifest is
checked by ``test_flatpak_manifest.py``.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

import keymanager
from keymanager import resources
from keymanager.gui import APP_ID

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGING = REPOSITORY / "packaging"


def test_one_application_id_everywhere() -> None:
    assert resources.APP_ID == APP_ID == "io.github.keymanager.KeyManager"
    assert resources.desktop_file().name == f"{APP_ID}.desktop"
    assert resources.metainfo_file().name == f"{APP_ID}.metainfo.xml"
    root = ElementTree.parse(resources.metainfo_file()).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    manifest = (PACKAGING / f"{APP_ID}.yml").read_text()
    assert f"app-id: {APP_ID}\n" in manifest
    entry = _desktop_entry()
    assert entry["Icon"] == APP_ID
    assert resources.app_icon_svg().name == f"{APP_ID}.svg"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(resources.desktop_file().read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def test_desktop_file_categories_keywords_and_command() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "keymanager"
    categories = entry["Categories"].rstrip(";").split(";")
    assert "Utility" in categories and "Security" in categories
    keywords = entry["Keywords"].rstrip(";").split(";")
    assert {"smart card", "HSM", "Nitrokey"} <= set(keywords)


def test_desktop_file_validates() -> None:
    validator = shutil.which("desktop-file-validate")
    assert validator, "desktop-file-validate is missing: install desktop-file-utils (./dev.sh)"
    result = subprocess.run(
        [validator, str(resources.desktop_file())], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower()


def test_metainfo_release_is_the_package_version() -> None:
    root = ElementTree.parse(resources.metainfo_file()).getroot()
    releases = root.findall("releases/release")
    assert releases, "the metainfo lists no release"
    assert releases[0].get("version") == keymanager.__version__


def test_metainfo_validates_with_appstreamcli() -> None:
    appstreamcli = shutil.which("appstreamcli")
    assert appstreamcli, "appstreamcli is missing: install appstream (./dev.sh)"
    result = subprocess.run(
        [appstreamcli, "validate", "--no-net", str(resources.metainfo_file())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation was successful" in result.stdout


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_application_icons_have_every_size() -> None:
    svg = ElementTree.parse(resources.app_icon_svg()).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    for size in resources.APP_ICON_SIZES:
        assert _png_size(resources.app_icon_png(size)) == (size, size)
    files = resources.app_icon_files()
    assert len(files) == len(resources.APP_ICON_SIZES) + 1
    with pytest.raises(ValueError):
        resources.app_icon_png(17)


def test_outline_icons_are_svg() -> None:
    for name in resources.OUTLINE_ICONS:
        root = ElementTree.parse(resources.outline_icon(name)).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.get("viewBox") == "0 0 16 16"
    with pytest.raises(ValueError):
        resources.outline_icon("../../etc/passwd")


def test_render_icons_script_reproduces_the_sizes(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(PACKAGING / "render_icons.py"),
            "--output",
            str(tmp_path),
            "--ico",
            "--icns",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**_environment(), "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    for size in resources.APP_ICON_SIZES:
        rendered = tmp_path / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert _png_size(rendered) == (size, size)
        # The committed PNG is what the script makes from the SVG (a newer Qt may
        # antialias a little differently, hence a tolerance).
        assert _pixel_difference(rendered, resources.app_icon_png(size)) < 2.0, size
    ico = (tmp_path / f"{APP_ID}.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00"
    assert int.from_bytes(ico[4:6], "little") == len(resources.APP_ICON_SIZES)
    icns = (tmp_path / f"{APP_ID}.icns").read_bytes()
    assert icns[:4] == b"icns" and int.from_bytes(icns[4:8], "big") == len(icns)


def _pixel_difference(first: Path, second: Path) -> float:
    """The mean absolute difference of two same-sized images' ARGB bytes."""
    from PySide6.QtGui import QImage

    images = [
        QImage(str(path)).convertToFormat(QImage.Format.Format_ARGB32) for path in (first, second)
    ]
    assert images[0].size() == images[1].size()
    data = [bytes(image.constBits()) for image in images]
    return sum(abs(a - b) for a, b in zip(*data, strict=True)) / len(data[0])


def _environment() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_pyinstaller_spec_names_both_programs() -> None:
    spec = (PACKAGING / "keymanager.spec").read_text()
    compile(spec, "keymanager.spec", "exec")  # valid Python
    assert 'name="keymanager"' in spec and 'name="keymanager-cli"' in spec
    assert "COLLECT(" in spec  # one-folder build
    assert f'"{APP_ID}"' in spec


def test_outline_model_uses_the_packaged_icons(qapp: Any) -> None:
    from PySide6.QtGui import QIcon

    from keymanager.gui.outline_model import ICON_NAMES, UNVERIFIED_PIN_ICON, icon_for
    from keymanager.workflows.outline import NodeKind

    assert set(ICON_NAMES) == set(NodeKind)
    cases = [(kind, True, ICON_NAMES[kind]) for kind in NodeKind]
    cases.append((NodeKind.USER_PIN, False, UNVERIFIED_PIN_ICON))
    for kind, verified, name in cases:
        shown = icon_for(kind, verified=verified).pixmap(16, 16).toImage()
        packaged = QIcon(str(resources.outline_icon(name))).pixmap(16, 16).toImage()
        assert not shown.isNull()
        assert shown == packaged, name
    # The two PIN states look different.
    verified_pin = icon_for(NodeKind.USER_PIN).pixmap(16, 16).toImage()
    assert verified_pin != icon_for(NodeKind.USER_PIN, verified=False).pixmap(16, 16).toImage()
