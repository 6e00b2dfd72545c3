"""Sample builders of the key-domain group (XKEK) dialogs for the dialog catalog.

As :mod:`keymanager.gui.dialog_samples`: each takes the main window on the demo card and
returns the dialog, not shown yet.  The dialogs that read a group file get a real one,
made by the workflows on two throw-away simulated cards (seeded, in memory, their PIN a
public sample) in a temporary folder that is deleted once the dialog has read it.
Nothing here touches the window's card.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.gui.main_window import MainWindow

SAMPLE_PIN = "123456"
"""The user PIN of the sample cards (a public sample, never a real one)."""
SAMPLE_SO_PIN = bytes.fromhex("3537363231383830")


def sample_device(seed: bytes) -> SmartCardHsm:
    """An initialised simulated device with two key-domain slots (in memory), its session open."""
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.hsm_types import InitParams
    from keymanager.card.transport import LocalTransport
    from keymanager.simulator import SmartCardHsmSimulator

    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator, name="Sample device"))
    hsm.initialize(InitParams(SAMPLE_PIN, SAMPLE_SO_PIN, key_domains=2))
    return SmartCardHsm.open(LocalTransport(simulator, name="Sample device"))


def make_group_file(out: Path) -> Path:
    """A group signed by one sample card with that card and a second one admitted."""
    from keymanager.workflows.interaction import ScriptedInteraction
    from keymanager.workflows.xkek import admit_member, create_group

    signer = sample_device(b"keymanager sample group signer")
    member = sample_device(b"keymanager sample group member")
    interaction = ScriptedInteraction()
    for _ in range(4):
        interaction.answer("secret", SAMPLE_PIN.encode())
    create_group(signer, interaction, out)
    admit_member(signer, signer, interaction, out)
    admit_member(signer, member, interaction, out)
    return out


def create_group(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.xkek import CreateGroupDialog

    return CreateGroupDialog(window.card_name(), path=Path.home() / "GROUP.json", parent=window)


def admit_device(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.xkek import AdmitDeviceDialog

    sources, device = window.card_sources()
    with tempfile.TemporaryDirectory() as directory:
        path = make_group_file(Path(directory) / "GROUP.json")
        return AdmitDeviceDialog(
            window.card_name(), sources, device_key=device, path=path, parent=window
        )


def derive_kek(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.xkek import DeriveKekDialog
    from keymanager.workflows.xkek_group import GroupFile

    with tempfile.TemporaryDirectory() as directory:
        path = make_group_file(Path(directory) / "GROUP.json")
        first = GroupFile.load(path).members[0].serial  # shown as the member deriving
        return DeriveKekDialog(window.card_name(), serial=first, path=path, parent=window)


def copy_key(window: MainWindow) -> QWidget:
    from keymanager.gui.dialog_samples import _first_node
    from keymanager.gui.dialogs.xkek import CopyKeyDialog

    key = _first_node(window, "KEY").data
    sources, _device = window.card_sources()  # the demo card stands in for the target
    with tempfile.TemporaryDirectory() as directory:
        path = make_group_file(Path(directory) / "GROUP.json")
        return CopyKeyDialog(
            key.key_reference, key.label, window.card_name(), sources, path=path, parent=window
        )
