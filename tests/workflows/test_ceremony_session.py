"""A ceremony recorded through the workflows (issue 18): initialise with 2 shares, two
custodians create and import shares, generate, back up; the record names who acted,
who witnessed, what changed on the card, holds no secret, closes and verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import ShareCreationPlan, create_share, import_shares
from keymanager.workflows.ceremony_record import (
    Participant,
    read_lines,
    start_record,
    verify_record,
)
from keymanager.workflows.ceremony_session import (
    CeremonySession,
    close_with_card_key,
    recording,
)
from keymanager.workflows.device import DkekScheme, InitPlan, initialize_device
from keymanager.workflows.interaction import Cancelled, FileShareInput, ScriptedInteraction
from keymanager.workflows.key_generation import KeyAlgorithm, generate_key
from keymanager.workflows.keys import backup_key

PIN = "648219"
PASSWORDS = ("alice's share passphrase", "bob's share passphrase")
PEOPLE = [
    Participant("Olga Officer", "security officer"),
    Participant("Alice Custodian", "custodian"),
    Participant("Bob Custodian", "custodian"),
    Participant("Wanda Witness", "witness"),
]


def test_a_recorded_ceremony(tmp_path: Path) -> None:
    simulator = SmartCardHsmSimulator(tmp_path / "card.json", seed=b"recorded ceremony")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    record = tmp_path / "ceremony.jsonl"
    start_record(
        record, title="Key ceremony", participants=PEOPLE, devices=[{"serial": hsm.serial()}]
    )
    session = CeremonySession(record, actor="Olga Officer")
    with recording(session):
        initialize_device(
            hsm,
            ScriptedInteraction()
            .answer("text", "wanda  witness")  # the witness types their name
            .answer("secret", DEFAULT_SO_PIN.hex())
            .answer("secret", PIN)
            .answer("confirm", True),
            InitPlan(DkekScheme.DKEK_SHARES, shares=2),
        )
        files = []
        for index, who in enumerate(("Alice Custodian", "Bob Custodian")):
            session.actor = who
            path = tmp_path / f"share-{index + 1}.pbe"
            create_share(
                ScriptedInteraction()
                .answer("text", "Wanda Witness")
                .answer("secret", PASSWORDS[index]),
                ShareCreationPlan(share_file=path),
                hsm=hsm,
            )
            files.append(path)
        session.actor = "Olga Officer"
        interaction = ScriptedInteraction().answer("text", "Wanda Witness").answer("secret", PIN)
        for path, password in zip(files, PASSWORDS, strict=True):
            interaction.answer("share", FileShareInput(path, bytearray(password.encode())))
        import_shares(hsm, interaction, 0)
        key = generate_key(
            hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "root", domain=0
        )
        backup = backup_key(hsm, ScriptedInteraction(), key.key_reference, tmp_path / "root.wky")
        with pytest.raises(Cancelled):  # the witness does not confirm: nothing happens
            import_shares(hsm, ScriptedInteraction().answer("text", "Mallory"), 0)

    entries = [json.loads(line) for line in read_lines(record)]
    steps = [entry for entry in entries if entry["type"] == "step"]
    assert [s["workflow"] for s in steps] == [
        "initialise",
        "create share",
        "create share",
        "import shares",
        "generate key",
        "back up key",
        "import shares",
    ]
    assert [s["actor"] for s in steps[:4]] == [
        "Olga Officer",
        "Alice Custodian",
        "Bob Custodian",
        "Olga Officer",
    ]
    assert steps[0]["witness"] == "Wanda Witness" and steps[3]["witness"] == "Wanda Witness"
    assert steps[-1]["result"].startswith("not started") and "witness" in steps[-1]["result"]
    # what changed, read from the card: the domain's KCV after the shares, the new key
    domain_change = steps[3]["changes"]["domains"]["0"]
    assert domain_change["before"].startswith("2 share(s), 2 outstanding")
    assert "0 outstanding" in domain_change["after"]
    kcv = domain_change["after"].rsplit("KCV ", 1)[1]
    assert len(kcv) == 16 and kcv != "0" * 16
    assert steps[5]["changes"]["result"]["kcv"] == backup.blob_kcv
    (added,) = steps[4]["changes"]["keys"].values()
    assert added["before"] is None and added["after"]["label"] == "root"
    assert len(added["after"]["public_key_sha256"]) == 32
    assert steps[1]["changes"]["result"]["fingerprint"]
    assert any("decrypts to the share" in check for check in steps[1]["checks"])
    assert steps[0]["device"]["serial"] == hsm.serial()

    # no secret anywhere in the record
    text = record.read_text()
    for secret in (PIN, DEFAULT_SO_PIN.hex(), *PASSWORDS):
        assert secret not in text
    for path, password in zip(files, PASSWORDS, strict=True):
        from keymanager.dkek.sharefile import decrypt_share

        share = decrypt_share(path.read_bytes(), password.encode())
        assert share.hex() not in text.lower()

    # close with a key on the card and verify without it
    signer = generate_key(
        hsm, ScriptedInteraction(), KeyAlgorithm.parse("rsa:2048"), "ceremony seal"
    )
    close_with_card_key(
        record,
        hsm,
        ScriptedInteraction().answer("secret", PIN),
        signer.key_reference,
        "Olga Officer",
    )
    result = verify_record(record)
    assert result.valid, result.text()
    closing = json.loads(read_lines(record)[-1])
    assert closing["signature"]["algorithm"] == "rsa-pkcs1-sha256"
    assert closing["signature"]["key"]["label"] == "ceremony seal"
