"""The PKCS#12 wizard's first pages: the file and its password, and the entries found.

The file is opened on a helper thread (:class:`_Opener`: an RSA file takes tens of
milliseconds); keys the card cannot hold are greyed with the reason from
:mod:`keymanager.workflows.pkcs12`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from keymanager.dkek.secret import wipe
from keymanager.workflows.pkcs12 import Pkcs12Contents, Pkcs12Error, open_pkcs12

if TYPE_CHECKING:
    from keymanager.gui.p12_wizard import Pkcs12Wizard


class _Opener(QObject):
    """Opens a PKCS#12 file on a helper thread; ``done`` arrives on the GUI thread."""

    done = Signal(object, object)  # contents or None, error or None

    def open(self, path: Path, password: bytearray) -> threading.Thread:
        secret = bytearray(password)

        def work() -> None:
            try:
                contents = open_pkcs12(path, secret)
            except Pkcs12Error as error:
                self.done.emit(None, error)
            except Exception as error:  # anything else: shown, never a traceback dialog
                self.done.emit(None, Pkcs12Error(f"{path.name} cannot be opened: {error}"))
            else:
                self.done.emit(contents, None)
            finally:
                wipe(secret)

        thread = threading.Thread(target=work, name="PKCS#12 open", daemon=True)
        thread.start()
        return thread


class FilePage(QWizardPage):
    """The file (picker or drop) and its own password."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("PKCS#12 file")
        self.setSubTitle(
            "Choose the .p12 / .pfx file and type its password (the file's own password, "
            "not a DKEK share password)."
        )
        self.setAcceptDrops(True)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setObjectName("p12Path")
        self.path.setPlaceholderText("choose a file or drop it here")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.password = QLineEdit()
        self.password.setObjectName("p12Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Password:", self.password)
        self.status = QLabel()
        self.status.setObjectName("p12FileStatus")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self.path.textChanged.connect(self.completeChanged)
        self.opening = False
        self.opener = _Opener(self)
        self.opener.done.connect(self._opened)
        self.open_thread: threading.Thread | None = None

    def _browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "PKCS#12 file", "", "PKCS#12 files (*.p12 *.pfx);;All files (*)"
        )
        if path:
            self.path.setText(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.path.setText(urls[0].toLocalFile())
            self.password.setFocus()
            event.acceptProposedAction()

    def isComplete(self) -> bool:
        return bool(self.path.text().strip()) and not self.opening

    def validatePage(self) -> bool:
        """Next: open the file on a helper thread; the wizard moves on when it opened."""
        if self.owner.contents is not None and self.owner.opened_path == self._path():
            return True
        if not self.opening:
            self._start()
        return False

    def _path(self) -> Path:
        return Path(self.path.text().strip())

    def _start(self) -> None:
        self.opening = True
        self.status.setText("Opening the file…")
        self.status.setStyleSheet("")
        self.completeChanged.emit()
        password = bytearray(self.password.text().encode())
        try:
            self.open_thread = self.opener.open(self._path(), password)
        finally:
            wipe(password)

    def _opened(self, contents: object, error: object) -> None:
        self.opening = False
        self.completeChanged.emit()
        if isinstance(error, BaseException) or not isinstance(contents, Pkcs12Contents):
            self.status.setText(str(error))
            self.status.setStyleSheet("color: #b00020;")
            self.owner.error_shown.emit(str(error))
            return
        self.owner.set_contents(contents, self._path(), bytearray(self.password.text().encode()))
        self.password.clear()
        self.status.setText(f"Opened {self._path().name}.")
        self.owner.next()


class EntriesPage(QWizardPage):
    """The entries found; keys the card cannot hold are greyed with the reason."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Entries found")
        self.setSubTitle("Tick what goes onto the card.")
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("p12Entries")
        self.list.itemChanged.connect(self._item_changed)
        layout.addWidget(self.list)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.entry_ids: list[str] = []

    def _item_changed(self, _item: QListWidgetItem) -> None:
        self.completeChanged.emit()

    def initializePage(self) -> None:
        contents = self.owner.contents
        self.list.clear()
        self.entry_ids = []
        if contents is None:
            return
        for choice in contents.choices():
            kind = "Key" if choice.value.startswith("key") else "Certificate"
            text = f"{kind}: {choice.label}\n    {choice.detail}"
            if choice.disabled:
                text += f"\n    not importable: {choice.disabled}"
            item = QListWidgetItem(text)
            if choice.disabled:
                item.setFlags(Qt.ItemFlag.NoItemFlags)  # greyed
                item.setToolTip(choice.disabled)
            else:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
            self.entry_ids.append(choice.value)
        keys = len(contents.keys)
        chain = len(contents.certificates)
        unsupported = len(contents.keys) - len(contents.importable_keys)
        text = f"{keys} key(s), {chain} certificate(s) without a key (stored as CA certificates)"
        if unsupported:
            text += f"; {unsupported} key(s) the card cannot hold"
        self.summary.setText(text + ".")

    def item(self, entry_id: str) -> QListWidgetItem:
        return self.list.item(self.entry_ids.index(entry_id))

    def chosen(self) -> list[str]:
        return [
            entry_id
            for row, entry_id in enumerate(self.entry_ids)
            if self.list.item(row).flags() & Qt.ItemFlag.ItemIsEnabled
            and self.list.item(row).checkState() == Qt.CheckState.Checked
        ]

    def isComplete(self) -> bool:
        return bool(self.chosen())
