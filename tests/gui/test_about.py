"""The About dialog: every component's version, pcsc-lite asked from the system, the licence."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QApplication

import keymanager
from keymanager.gui import about
from keymanager.gui.about import NOT_FOUND, AboutDialog, pcsc_lite_version, software_versions


def test_about_shows_each_version_and_the_licence(qtbot) -> None:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    shown = {name: label.text() for name, label in dialog.version_labels.items()}
    assert shown["keymanager"] == keymanager.__version__
    assert shown["Qt"] == qVersion()
    assert shown["PySide6"] == PySide6.__version__
    assert shown["pyscard"] == importlib.metadata.version("pyscard")
    assert shown["cryptography"] == importlib.metadata.version("cryptography")
    assert shown["Python"].startswith(platform.python_version())
    assert shown["pcsc-lite"] == pcsc_lite_version()
    assert dialog.licence_label.text() == "Apache-2.0"  # pyproject.toml's licence
    copied = dialog.copy_versions()
    assert QApplication.clipboard().text() == copied
    assert f"PySide6: {PySide6.__version__}" in copied.splitlines()


def test_pcsc_lite_version_is_the_daemons() -> None:
    if shutil.which("pcscd") is None:
        assert "pcscd" not in pcsc_lite_version()
        return
    output = subprocess.run(["pcscd", "--version"], capture_output=True, text=True, check=False)
    first = (output.stdout + output.stderr).split("version", 1)[1].split()[0].rstrip(".")
    assert pcsc_lite_version() == f"{first} (pcscd)"


def test_pcsc_lite_absent_says_not_found(monkeypatch) -> None:
    monkeypatch.setattr(about.shutil, "which", lambda _name: None)
    monkeypatch.setattr(about.ctypes.util, "find_library", lambda _name: None)
    assert pcsc_lite_version() == NOT_FOUND


def test_versions_are_asked_once() -> None:
    assert software_versions() is software_versions()
