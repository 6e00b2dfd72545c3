"""Sample builders of the public-key-authentication dialogs for the dialog catalog.

As :mod:`keymanager.gui.dialog_samples`: each takes the main window on the demo card and
returns the dialog, not shown yet.  The register sample shows a real ``.pka`` file, made
by :func:`keymanager.workflows.pka.create_custodian_key` on a throw-away simulated
custodian card (seeded, in memory; its PIN a public sample) and deleted again once the
dialog has read it.  Nothing here touches the window's card.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from keymanager.card.pka import PkaStatus, RegisteredKey
from keymanager.workflows.outline_pka import PkaInfo

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.gui.main_window import MainWindow

SAMPLE_PIN = "123456"
"""The user PIN of the sample custodian card (a public sample, never a real one)."""
SAMPLE_SO_PIN = bytes.fromhex("3537363231383830")


def sample_info() -> PkaInfo:
    """A 2-of-3 device with two custodian keys registered, none authenticated yet."""
    keys = (
        RegisteredKey(0, "UTSIM0000100001", False),
        RegisteredKey(1, "UTSIM0000200001", False),
        RegisteredKey(2, None, False),
    )
    return PkaInfo(PkaStatus(3, 1, 2, 0), keys, replaceable=True, pin_too=False)


def sample_custodian_card(seed: bytes = b"keymanager sample custodian") -> SmartCardHsm:
    """An initialised simulated custodian card (in memory), its session open."""
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.hsm_types import InitParams
    from keymanager.card.transport import LocalTransport
    from keymanager.simulator import SmartCardHsmSimulator

    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator, name="Sample custodian card"))
    hsm.initialize(InitParams(user_pin=SAMPLE_PIN.encode(), so_pin=SAMPLE_SO_PIN))
    return SmartCardHsm.open(LocalTransport(simulator, name="Sample custodian card"))


def make_pka_file(out: Path, label: str = "Custodian Alice") -> Path:
    """Write a sample custodian's ``.pka`` file to ``out`` (a fresh simulated card)."""
    from keymanager.workflows.interaction import ScriptedInteraction
    from keymanager.workflows.pka import create_custodian_key

    interaction = ScriptedInteraction().answer("secret", SAMPLE_PIN.encode())
    create_custodian_key(sample_custodian_card(), interaction, label=label, out=out)
    return out


def register_custodian(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.custodians import RegisterCustodianDialog

    with tempfile.TemporaryDirectory() as directory:
        path = make_pka_file(Path(directory) / "custodian-alice.pka")
        return RegisterCustodianDialog(path, sample_info(), card=window.card_name(), parent=window)


def create_custodian_key(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.custodians import CreateCustodianKeyDialog

    dialog = CreateCustodianKeyDialog(window.card_name(), window)
    dialog.label_edit.setText("Custodian Alice")
    return dialog


def authenticate_custodians(window: MainWindow) -> QWidget:
    from keymanager.gui.pka_wizard import AuthenticateWizard

    sources, _device = window.card_sources()  # the demo card stands in for a custodian's
    return AuthenticateWizard(sample_info(), sources, device_key=None, parent=window)
