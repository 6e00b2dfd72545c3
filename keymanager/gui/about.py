"""The About dialog: what keymanager is, the versions of what it runs on, its licence.

:func:`software_versions` collects the versions (keymanager, Qt, PySide6, pyscard,
pcsc-lite, cryptography, Python); a component that is not there says "not found".
pcsc-lite is asked in this order: ``pcscd --version`` (the daemon the card goes
through), the Debian package of ``libpcsclite1`` (a machine with the library but no
daemon), the shared library itself (found, version unknown).  The dialog shows them in
a table that can be selected and copied (for a bug report).
"""

from __future__ import annotations

import ctypes.util
import functools
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, metadata, version

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import keymanager
from keymanager.gui import APP_NAME

NOT_FOUND = "not found"
LICENCE = "Apache-2.0"
"""The licence pyproject.toml declares (used when the package metadata is missing)."""
PROGRAM_TIMEOUT = 3.0
"""Seconds ``pcscd --version`` and ``dpkg-query`` may take."""
_PCSC_VERSION = re.compile(r"pcsc-lite version ([0-9][0-9A-Za-z.+~-]*[0-9A-Za-z])")


@dataclass(frozen=True)
class Component:
    """One line of the About dialog."""

    name: str
    version: str


def _distribution_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return NOT_FOUND


def _program_output(*command: str) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed commands, no user input
            list(command), capture_output=True, text=True, timeout=PROGRAM_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout + result.stderr if result.returncode == 0 else None


def pcsc_lite_version() -> str:
    """The pcsc-lite version, where it came from in brackets; :data:`NOT_FOUND` if absent."""
    output = _program_output("pcscd", "--version")
    if output is not None:
        match = _PCSC_VERSION.search(output)
        if match:
            return f"{match.group(1)} (pcscd)"
    output = _program_output("dpkg-query", "-W", "-f=${Version}", "libpcsclite1")
    if output and output.strip():
        return f"{output.strip()} (libpcsclite1 package)"
    if ctypes.util.find_library("pcsclite") is not None:
        return "installed, version unknown (libpcsclite)"
    return NOT_FOUND


def licence() -> str:
    """keymanager's licence, from its package metadata."""
    try:
        data = metadata("keymanager")
    except PackageNotFoundError:
        return LICENCE
    return data["License-Expression"] or data["License"] or LICENCE


@functools.cache
def software_versions() -> tuple[Component, ...]:
    """The versions the About dialog shows (asked once per process)."""
    import PySide6

    return (
        Component("keymanager", keymanager.__version__),
        Component("Qt", qVersion()),
        Component("PySide6", PySide6.__version__),
        Component("pyscard", _distribution_version("pyscard")),
        Component("pcsc-lite", pcsc_lite_version()),
        Component("cryptography", _distribution_version("cryptography")),
        Component("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
    )


def versions_text(components: tuple[Component, ...] | None = None) -> str:
    """The versions as plain lines, for a bug report."""
    components = components if components is not None else software_versions()
    lines = [f"{component.name}: {component.version}" for component in components]
    return "\n".join([*lines, f"Licence: {licence()}"])


class AboutDialog(QDialog):
    """keymanager's name, purpose, versions and licence; Copy puts the versions on the clipboard."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.setObjectName("aboutDialog")
        self.components = software_versions()
        layout = QVBoxLayout(self)
        heading = QLabel(f"{APP_NAME} {keymanager.__version__}")
        heading.setObjectName("aboutHeading")
        font = heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        heading.setFont(font)
        layout.addWidget(heading)
        purpose = QLabel(
            "Key domains, DKEK shares, keys and certificates of SmartCard-HSM and "
            "Nitrokey HSM 2 devices."
        )
        purpose.setWordWrap(True)
        layout.addWidget(purpose)
        form = QFormLayout()
        self.version_labels: dict[str, QLabel] = {}
        for component in self.components:
            value = QLabel(component.version)
            value.setObjectName(f"version:{component.name}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{component.name}:", value)
            self.version_labels[component.name] = value
        self.licence_label = QLabel(licence())
        self.licence_label.setObjectName("licence")
        form.addRow("Licence:", self.licence_label)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy versions")
        self.copy_button.setToolTip("Copy the versions, for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_versions)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def copy_versions(self) -> str:
        """Put the versions (no secrets: versions and the licence only) on the clipboard."""
        text = versions_text(self.components)
        QApplication.clipboard().setText(text)
        return text
