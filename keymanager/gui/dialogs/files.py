"""File and print dialogs of the card actions (backup, restore, exports): window-modal.

They are opened with ``QDialog.open()`` (no nested event loop) and call back with the
chosen path, so the main window stays responsive and tests can fill them in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QFileDialog, QWidget


def print_dialog(parent: QWidget, print_to: Callable[[QPrinter], object]) -> QPrintDialog:
    """Open the print dialog (window-modal); ``print_to`` prints once it is accepted."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    dialog = QPrintDialog(printer, parent)
    dialog.setObjectName("printDialog")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.accepted.connect(lambda: print_to(printer))
    dialog.show()
    return dialog


def file_dialog(
    parent: QWidget | None,
    title: str,
    on_chosen: Callable[[Path], object],
    *,
    save: bool,
    name_filter: str = "",
    default_name: str = "",
    directory: bool = False,
    default_suffix: str = "",
) -> QFileDialog:
    """Open a file dialog; ``on_chosen(path)`` runs once a file (or folder) is chosen.

    Saving asks before an existing file is replaced (Qt's own confirmation).
    """
    dialog = QFileDialog(parent, title)
    dialog.setObjectName("fileDialog")
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    if directory:
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    elif save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    else:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    if name_filter:
        dialog.setNameFilter(name_filter)
    if default_suffix:
        dialog.setDefaultSuffix(default_suffix)
    if default_name:
        dialog.selectFile(default_name)

    def chosen(path: str) -> None:
        if path:
            on_chosen(Path(path))

    dialog.fileSelected.connect(chosen)
    dialog.open()
    return dialog
