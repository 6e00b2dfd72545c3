"""The key-domain group (XKEK) dialogs: create a group, admit a device, derive, copy a key.

An XKEK key domain is shared by a group of devices: the card that creates the group
(its *signer*) keeps a group-signer key and issues each device a membership; each
device then creates the domain, makes an exchange key and derives the domain's KEK
with a peer device's exchange key, after which keys wrapped on one device unwrap on
the other.  The group file (``GROUP.json``, public) records the group and its members.

* :class:`CreateGroupDialog`: where the new group file goes (this card signs).
* :class:`AdmitDeviceDialog`: the group file, the device to admit (this card or a
  second one: a reader, a simulated card) and its key-domain slot (this card signs).
* :class:`DeriveKekDialog`: the group file and, optionally, the peer device.
* :class:`CopyKeyDialog`: the target device (another member) and the group file.

They only collect the choices; the area (:mod:`keymanager.gui.areas.xkek`) runs the
workflows on the worker thread, where each card's PIN is asked.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.parts import add_ok_cancel, add_problem_label
from keymanager.gui.dialogs.xkek_parts import (
    Announce,
    CardSourceField,
    GroupFileField,
)
from keymanager.gui.worker import CardSource

FIRST_FREE = -1
"""The slot spin box's value for "the first free slot"."""
ANY_PEER = ""
DIALOG_WIDTH = 560
"""Pixels: the group dialogs' smallest width (their notes wrap to it)."""


class _GroupDialog(QDialog):
    """The common frame: a note, a form, the problem line and OK / Cancel."""

    ok_button: QPushButton

    def __init__(self, title: str, object_name: str, note: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowTitle(title)
        # A minimum width, not resize(): a dialog resized before it is shown keeps that
        # size, and its word-wrapped note then gets the height of a few lines less than
        # it needs (Qt's minimum size ignores height-for-width), squashing the form.
        # Unresized, show() sizes it by height-for-width, as the other dialogs.
        self.setMinimumWidth(DIALOG_WIDTH)
        self.main_layout = QVBoxLayout(self)
        intro = QLabel(note)
        intro.setObjectName("groupNote")
        intro.setWordWrap(True)
        self.main_layout.addWidget(intro)
        self.form = QFormLayout()
        self.main_layout.addLayout(self.form)

    def _finish(self, ok_text: str) -> None:
        self.problem_label = add_problem_label(self.main_layout)
        _buttons, self.ok_button = add_ok_cancel(self, self.main_layout, ok_text)
        self._validate()

    def _make_room(self) -> None:
        """Grow to the height the wrapped lines need now (a longer summary or problem)."""
        if not self.isVisible():
            return
        needed = self.main_layout.totalHeightForWidth(self.width())
        if self.height() < needed:
            self.resize(self.width(), needed)

    def problem(self) -> str | None:
        return None

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(f"Not possible: {problem}" if problem else "")
        self.ok_button.setEnabled(problem is None)
        self._make_room()

    def accept(self) -> None:
        if self.problem() is None:
            super().accept()


class CreateGroupDialog(_GroupDialog):
    """Create a key-domain group with ``card`` as its signer: where the group file goes."""

    def __init__(
        self,
        card: str,
        *,
        path: Path | None = None,
        announce: Announce | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Create key-domain group",
            "createGroupDialog",
            f"{card} becomes the signer of a new key-domain group: it makes a group-signer "
            "key, which never leaves it (it belongs to no key domain), and signs the "
            "membership of each device admitted later (Admit a device to the group…).  "
            "The group file records the group and its members; it holds no secret.  The "
            "card's user PIN is asked next.",
            parent,
        )
        self.group_field = GroupFileField(save=True, path=path, announce=announce)
        self.form.addRow("Group file:", self.group_field)
        self.group_field.changed.connect(self._validate)
        self._finish("Create group")

    def group_path(self) -> Path:
        path = self.group_field.path()
        assert path is not None
        return path

    def problem(self) -> str | None:
        return self.group_field.problem()


class AdmitDeviceDialog(_GroupDialog):
    """Admit a device to the group of a group file; the window's card (the signer) signs."""

    def __init__(
        self,
        card: str,
        sources: dict[str, CardSource],
        *,
        device_key: str | None = None,
        path: Path | None = None,
        announce: Announce | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Admit a device to the group",
            "admitDeviceDialog",
            f"{card}, the group's signer, signs a membership for the device chosen here "
            "(its device certificate is checked first).  That device then creates the "
            "group's XKEK key domain in a free slot and makes its exchange key; the group "
            "file records it.  The PIN of each card is asked in turn.",
            parent,
        )
        self.group_field = GroupFileField(path=path, announce=announce)
        self.form.addRow("Group file:", self.group_field)
        self.member_field = CardSourceField(
            sources,
            exclude=device_key,
            this_card="This card (the signer itself)",
            announce=announce,
        )
        self.form.addRow("Device to admit:", self.member_field)
        self.slot_spin = QSpinBox()
        self.slot_spin.setObjectName("domainSlot")
        self.slot_spin.setRange(FIRST_FREE, 254)
        self.slot_spin.setSpecialValueText("the first free slot")
        self.slot_spin.setValue(FIRST_FREE)
        self.form.addRow("Key-domain slot:", self.slot_spin)
        self.group_field.changed.connect(self._validate)
        self.member_field.changed.connect(self._validate)
        self._finish("Admit")

    def group_path(self) -> Path:
        path = self.group_field.path()
        assert path is not None
        return path

    def member_source(self) -> CardSource | None:
        """The device to admit (``None``: the window's own card)."""
        return self.member_field.source()

    def domain(self) -> int | None:
        value = self.slot_spin.value()
        return None if value == FIRST_FREE else value

    def problem(self) -> str | None:
        return self.group_field.problem() or self.member_field.problem()


class DeriveKekDialog(_GroupDialog):
    """Derive the group's KEK on the window's card with a peer member's exchange key."""

    def __init__(
        self,
        card: str,
        *,
        serial: str | None = None,
        path: Path | None = None,
        announce: Announce | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Derive group KEK",
            "deriveKekDialog",
            f"{card} derives its XKEK key domain's KEK from its exchange key and the "
            "exchange key of a peer device of the group (from the group file; its "
            "certificate chain is checked first).  The KEK is pairwise: the peer derives "
            "the same KEK with this device's exchange key, and keys wrapped on one then "
            "unwrap on the other.  The user PIN is asked next.",
            parent,
        )
        self.serial = serial
        self.group_field = GroupFileField(path=path, announce=announce)
        self.form.addRow("Group file:", self.group_field)
        self.peer_combo = QComboBox()
        self.peer_combo.setObjectName("peer")
        self.form.addRow("Peer device:", self.peer_combo)
        self.group_field.changed.connect(self._fill_peers)
        self._fill_peers()
        self._finish("Derive")
        self.group_field.changed.connect(self._validate)

    def _fill_peers(self) -> None:
        self.peer_combo.clear()
        self.peer_combo.addItem("The first other member of the group", ANY_PEER)
        for member_serial, domain in self.group_field.summary.members:
            if member_serial != self.serial:
                where = f" (key domain {domain})" if domain is not None else ""
                self.peer_combo.addItem(f"{member_serial}{where}", member_serial)

    def group_path(self) -> Path:
        path = self.group_field.path()
        assert path is not None
        return path

    def peer_serial(self) -> str | None:
        peer = self.peer_combo.currentData()
        return str(peer) if peer else None

    def problem(self) -> str | None:
        problem = self.group_field.problem()
        if problem is not None:
            return problem
        members = [serial for serial, _domain in self.group_field.summary.members]
        if self.serial is not None and self.serial not in members:
            return f"this device ({self.serial}) is not a member of the group yet: admit it first"
        if not [serial for serial in members if serial != self.serial]:
            return "the group has no other member yet to derive with"
        return None


class CopyKeyDialog(_GroupDialog):
    """Copy key ``key_reference`` to another device of its key-domain group."""

    def __init__(
        self,
        key_reference: int,
        label: str,
        card: str,
        sources: dict[str, CardSource],
        *,
        device_key: str | None = None,
        path: Path | None = None,
        announce: Announce | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Copy key to another device of the group",
            "copyKeyDialog",
            f"Copy key {key_reference} (“{label}”) from {card} to another device of its "
            "XKEK key domain's group.  Both devices derive the KEK with each other's "
            "exchange key and their KCVs are compared; then the key is wrapped here and "
            "unwrapped on the target, with the same label and certificate, and a test "
            "signature made there is verified.  The key stays on this card.  The PIN of "
            "each card is asked in turn.",
            parent,
        )
        self.key_reference = key_reference
        self.target_field = CardSourceField(sources, exclude=device_key, announce=announce)
        self.form.addRow("Target device:", self.target_field)
        self.group_field = GroupFileField(path=path, optional=True, announce=announce)
        self.form.addRow("Group file:", self.group_field)
        self.group_field.changed.connect(self._validate)
        self.target_field.changed.connect(self._validate)
        self._finish("Copy key")

    def target_source(self) -> CardSource:
        source = self.target_field.source()
        assert source is not None
        return source

    def group_path(self) -> Path | None:
        return self.group_field.path()

    def problem(self) -> str | None:
        return self.target_field.problem() or self.group_field.problem()
