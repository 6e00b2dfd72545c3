"""Pieces the key-domain group dialogs share: the group file field and the card chooser.

:class:`GroupFileField` is a path with a **Choose…** button and, for a file that exists,
what it holds in one line (the group's UID, its members and their key domains), read on
the GUI thread: the group file is a small public JSON file, no card is involved.
:class:`CardSourceField` picks the second card of an operation: a PC/SC reader or a
simulated card the window offers, a simulated card file added here, or (where the
dialog allows it) the window's own card.  Neither talks to a card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.worker import CardSource, SimulatorSource

GROUP_FILTER = "Key-domain groups (*.json);;All files (*)"
THIS_CARD = "this-card"
"""The chooser's key of the window's own card (offered where a dialog allows it)."""
UID_SHOWN = 16
"""Hex digits of a group UID shown in titles and summaries ("group 1A2B…")."""

Announce = Callable[[QWidget], None]


def short_uid(uid: bytes | str) -> str:
    """The first :data:`UID_SHOWN` hex digits of a group UID and an ellipsis."""
    text = uid.hex() if isinstance(uid, bytes) else uid
    return f"{text[:UID_SHOWN].upper()}…"


@dataclass(frozen=True)
class GroupSummary:
    """What a group file says, for the dialogs (``problem``: why it cannot be used)."""

    uid: str = ""
    members: tuple[tuple[str, int | None], ...] = ()
    """(device serial, key domain) of each member admitted so far."""
    signer: str = ""
    problem: str | None = None

    @property
    def text(self) -> str:
        if self.problem is not None:
            return f"Not usable: {self.problem}"
        members = ", ".join(
            f"{serial} (domain {domain})" if domain is not None else serial
            for serial, domain in self.members
        )
        signer = f", signer {self.signer}" if self.signer else ""
        return f"Group {short_uid(self.uid)}{signer}; members: {members or 'none yet'}"


def read_group_summary(path: Path) -> GroupSummary:
    """Read the group file ``path`` (no card): its UID and members, or why it is unusable."""
    from keymanager.workflows.xkek_group import GroupFile, XkekWorkflowError

    try:
        group = GroupFile.load(path)
    except XkekWorkflowError as error:  # unreadable, damaged, or not a group file
        return GroupSummary(problem=str(error))
    members = tuple((member.serial, member.domain) for member in group.members)
    return GroupSummary(group.uid.hex(), members, group.signer.serial)


class GroupFileField(QWidget):
    """The group file: a path, **Choose…**, and what the file holds.

    :param save: the file is written by the operation (create a group): it must not
        exist yet; otherwise it must exist and read as a group file.
    """

    changed = Signal()

    def __init__(
        self,
        *,
        save: bool = False,
        path: Path | None = None,
        optional: bool = False,
        announce: Announce | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.save = save
        self.optional = optional
        self._announce = announce
        self.summary = GroupSummary()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.edit = QLineEdit(str(path) if path is not None else "")
        self.edit.setObjectName("groupFile")
        self.edit.setPlaceholderText(
            "GROUP.json" if not optional else "none: found from both devices' exchange keys"
        )
        row.addWidget(self.edit)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setObjectName("chooseGroupFile")
        self.choose_button.clicked.connect(self._choose)
        row.addWidget(self.choose_button)
        layout.addLayout(row)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("groupSummary")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.edit.textChanged.connect(self._update)
        self._update()

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_path(self, path: Path) -> None:
        self.edit.setText(str(path))

    def problem(self) -> str | None:
        """Why the field cannot be used as it stands (``None``: it can)."""
        path = self.path()
        if path is None:
            return None if self.optional else "choose the group file"
        if self.save:
            if path.exists():
                return f"{path.name} exists already: choose a new file for the group"
            if not path.parent.is_dir():
                return f"the folder {path.parent} does not exist"
            return None
        return self.summary.problem

    def _update(self) -> None:
        path = self.path()
        if path is None or self.save:
            self.summary = GroupSummary()
            self.summary_label.setText("")
        else:
            self.summary = read_group_summary(path)
            self.summary_label.setText(self.summary.text)
        self.changed.emit()

    def _choose(self) -> None:
        dialog = QFileDialog(self, "Key-domain group file")
        dialog.setObjectName("groupFileDialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        if self.save:
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setFileMode(QFileDialog.FileMode.AnyFile)
            dialog.setDefaultSuffix("json")
            dialog.selectFile("GROUP.json")
        else:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter(GROUP_FILTER)
        dialog.fileSelected.connect(lambda name: self.set_path(Path(name)) if name else None)
        dialog.open()
        if self._announce is not None:
            self._announce(dialog)


class CardSourceField(QWidget):
    """The second card: a source the window offers, or a simulated card file added here.

    :param this_card: offer the window's own card first (e.g. the signer admitting itself).
    :param exclude: the source key never offered (the window's own card's).
    """

    changed = Signal()

    def __init__(
        self,
        sources: dict[str, CardSource],
        *,
        exclude: str | None = None,
        this_card: str = "",
        announce: Announce | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.sources = {key: source for key, source in sources.items() if key != exclude}
        self._announce = announce
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setObjectName("cardSource")
        if this_card:
            self.combo.addItem(this_card, THIS_CARD)
        for key, source in self.sources.items():
            self.combo.addItem(source.label, key)
        self.combo.currentIndexChanged.connect(self.changed)
        layout.addWidget(self.combo, 1)
        self.add_button = QPushButton("Add a simulated card file…")
        self.add_button.setObjectName("addSimulatedCard")
        self.add_button.setToolTip("A simulated card (keymanager's simulator state file)")
        self.add_button.clicked.connect(self._choose_file)
        layout.addWidget(self.add_button)

    def _choose_file(self) -> None:
        dialog = QFileDialog(self, "Simulated card")
        dialog.setObjectName("simulatedCardFileDialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter("Simulator state (*.json);;All files (*)")
        dialog.fileSelected.connect(lambda name: self.add_simulated_card(Path(name)))
        dialog.open()
        if self._announce is not None:
            self._announce(dialog)

    def add_simulated_card(self, path: Path) -> CardSource:
        """Offer the simulated card kept in ``path`` and choose it."""
        from keymanager.simulator import SmartCardHsmSimulator

        source = SimulatorSource(SmartCardHsmSimulator(path), f"Simulated card {path.name}")
        if source.key not in self.sources:
            self.sources[source.key] = source
            self.combo.addItem(source.label, source.key)
        self.combo.setCurrentIndex(self.combo.findData(source.key))
        return self.sources[source.key]

    def choose(self, key: str) -> None:
        """Choose the source ``key`` (or :data:`THIS_CARD`)."""
        index = self.combo.findData(key)
        if index < 0:
            raise KeyError(key)
        self.combo.setCurrentIndex(index)

    def is_this_card(self) -> bool:
        return bool(self.combo.currentData() == THIS_CARD)

    def source(self) -> CardSource | None:
        """The chosen source (``None``: the window's own card, or nothing offered)."""
        key = self.combo.currentData()
        return self.sources.get(str(key)) if key is not None and key != THIS_CARD else None

    def problem(self) -> str | None:
        if self.combo.currentData() is None:
            return "no card to choose: plug in a reader or add a simulated card file"
        return None
