"""Sample builders of the Ceremony menu's dialogs for the dialog catalog.

Each takes the main window on the demo card and returns the dialog, not shown yet.
Nothing here touches the card: the verification sample checks a small record written
to a temporary folder (deleted again) and closed with a throw-away host key.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from keymanager.workflows.ceremony_record import Participant

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow

PEOPLE = (
    Participant("Olga Officer", "security officer"),
    Participant("Alice Custodian", "custodian"),
    Participant("Bob Custodian", "custodian"),
    Participant("Wanda Witness", "witness"),
)


def start_ceremony(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.ceremony_record import StartCeremonyDialog

    dialog = StartCeremonyDialog(
        window.card_name(), True, Path(tempfile.gettempdir()) / "ceremony-sample.jsonl", window
    )
    dialog.title_edit.setText("Root key ceremony (rehearsal)")
    dialog.set_participants([(person.name, person.role) for person in PEOPLE])
    return dialog


def acting_participant(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.ceremony_record import ActingParticipantDialog

    return ActingParticipantDialog(PEOPLE, "Alice Custodian", window)


def close_ceremony(window: MainWindow) -> QWidget:
    from keymanager.gui.areas.ceremony_record import signing_keys
    from keymanager.gui.dialogs.ceremony_record import CloseCeremonyDialog

    return CloseCeremonyDialog(
        Path("ceremony-2026-05-01.jsonl"),
        window.card_name(),
        signing_keys(window.model.outline),
        PEOPLE,
        "Olga Officer",
        window,
    )


def verify_record(window: MainWindow) -> QWidget:
    """A closed sample record, checked: "record intact"."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from keymanager.gui.dialogs.ceremony_record import RecordVerificationDialog
    from keymanager.workflows.ceremony_record import (
        RecordSignature,
        append_entry,
        close_record,
        start_record,
    )
    from keymanager.workflows.ceremony_record import verify_record as verify
    from keymanager.workflows.ceremony_report import report_text

    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "ceremony-sample.jsonl"
        start_record(
            record,
            title="Root key ceremony (rehearsal)",
            participants=PEOPLE,
            devices=[{"serial": "DECM0102330001", "firmware": "4.0"}],
            rehearsal=True,
        )
        append_entry(
            record,
            workflow="initialise",
            actor="Olga Officer",
            result="done",
            device={"serial": "DECM0102330001"},
            changes={"domains": {"0": {"before": "empty", "after": "2 share(s), 2 outstanding"}}},
            witness="Wanda Witness",
        )
        identity = RecordSignature(
            "ecdsa-sha256",
            signer="Olga Officer",
            public_key=spki,
            key={"serial": "DECM0102330001", "key_reference": 1, "label": "Ceremony seal"},
        )
        close_record(
            record,
            identity,
            lambda digest: key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))),
        )
        verification, report = verify(record), report_text(record)
    return RecordVerificationDialog(record, verification, report, window)


def rotate_share(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.share_rotation import RotateShareDialog

    return RotateShareDialog(window)


def witness(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.ceremony_witness import CeremonyDialogFactory
    from keymanager.gui.prompt_broker import PromptKind, PromptRequest

    prompt = (
        "Witness (Wanda Witness): type your name to confirm that you observe this step "
        "(initialise) before it starts"
    )
    request = PromptRequest(PromptKind.TEXT, {"prompt": prompt, "default": ""})
    return CeremonyDialogFactory().open(request, window)
