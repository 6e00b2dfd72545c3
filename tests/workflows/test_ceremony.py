"""Share ceremonies against the simulated card: create (three routes) and import."""

from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.errors import CardRemoved
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.dkek.errors import WeakPassword
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.dkek.sharefile import decrypt_share
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import (
    FileProtection,
    ShareCreationPlan,
    create_share,
    import_shares,
)
from keymanager.workflows.errors import DomainNotReady, PinNotVerified, WorkflowError
from keymanager.workflows.interaction import (
    Cancelled,
    FileShareInput,
    MessageLevel,
    NofMShareInput,
    PaperKeyShareInput,
    ScriptedInteraction,
)
from keymanager.workflows.printable import MAX_LINES
from keymanager.workflows.shares import read_share

PIN = "648219"
PASSWORD = "custodian passphrase 1"


def card(
    shares: int | None = 2, *, seed: bytes = b"ceremony"
) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=shares))
    return simulator, hsm


def pdf_lines(pdf: bytes) -> list[str]:
    return [
        re.sub(rb"\\(.)", rb"\1", m.group(1)).decode("latin-1")
        for m in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", pdf)
    ]


# --- creating shares: one derivation-heavy run per route, shared by the module ---------


@pytest.fixture(scope="module")
def password_share(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Any, ScriptedInteraction]:
    directory = tmp_path_factory.mktemp("password")
    _simulator, hsm = card(None)
    interaction = ScriptedInteraction().answer("secret", PASSWORD)
    plan = ShareCreationPlan(
        share_file=directory / "alice.pbe", paperkey=True, paperkey_pdf=directory / "alice.pdf"
    )
    result = create_share(interaction, plan, hsm=hsm)
    return directory, result, interaction


@pytest.fixture(scope="module")
def nofm_share(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, ScriptedInteraction]:
    directory = tmp_path_factory.mktemp("nofm")
    interaction = ScriptedInteraction()
    plan = ShareCreationPlan(
        share_file=directory / "bob.pbe",
        protection=FileProtection.N_OF_M,
        threshold=2,
        total=3,
        fragment_pdf_dir=directory / "fragments",
    )
    (directory / "fragments").mkdir()
    return directory, create_share(interaction, plan), interaction


def test_password_route_writes_a_file_that_opens_with_the_password(
    password_share: tuple[Path, Any, ScriptedInteraction],
) -> None:
    directory, result, interaction = password_share
    path = directory / "alice.pbe"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    share = decrypt_share(path.read_bytes(), PASSWORD.encode())
    assert result.fingerprint == format_kcv(share_fingerprint(share))
    assert result.random_source == "card"
    assert result.protection is FileProtection.PASSWORD
    assert any("decrypts to the share" in check for check in result.checks)
    texts = interaction.texts()
    assert any(text.startswith("Password strength: ") for text in texts)
    assert any(result.fingerprint in text for text in texts)
    assert interaction.finished
    # nothing secret in the messages
    assert not any(PASSWORD in text or share.hex() in text.lower() for text in texts)


def test_paperkey_route_sheet_and_pdf_give_the_same_share(
    password_share: tuple[Path, Any, ScriptedInteraction],
) -> None:
    directory, result, interaction = password_share
    ((title, sheet),) = interaction.shown_secrets
    assert "PaperKey" in title
    typed = [line.strip() for line in sheet.splitlines() if re.match(r"^\s*[1-4]: ", line)]
    share = read_share(PaperKeyShareInput(typed), interaction)
    assert format_kcv(share_fingerprint(share)) == result.fingerprint
    pdf = (directory / "alice.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"xref" in pdf and b"trailer" in pdf
    assert stat.S_IMODE((directory / "alice.pdf").stat().st_mode) == 0o600
    printed = [line.strip() for line in pdf_lines(pdf) if re.match(r"^\s*[1-4]: ", line)]
    assert printed == typed
    assert any("printed to" in check for check in result.checks)


def test_n_of_m_route_any_two_fragments_open_the_file(
    nofm_share: tuple[Path, Any, ScriptedInteraction],
) -> None:
    directory, result, interaction = nofm_share
    assert result.random_source == "host"
    assert (result.threshold, result.total) == (2, 3)
    assert len(interaction.shown_secrets) == 3  # one custodian at a time
    sheets = [text for _title, text in interaction.shown_secrets]
    for index, sheet in enumerate(sheets):
        assert f"Share {index + 1} of 3" in sheet
        assert sum(1 for s in sheets if sheet.split("Share ID")[1] in s) == 1  # distinct
    pdfs = sorted((directory / "fragments").iterdir())
    assert [p.name for p in pdfs] == [f"fragment-{i}-of-3.pdf" for i in (1, 2, 3)]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pdfs)

    def fragment(sheet: str) -> tuple[str, str]:
        ident = re.search(r"Share ID\s*:\s*(\S+)", sheet)
        value = re.search(r"Share value\s*:\s*(\S+)", sheet)
        assert ident and value
        return ident.group(1), value.group(1)

    prime = re.search(r"Prime\s*:\s*(\S+)", sheets[0])
    assert prime is not None and prime.group(1) == result.prime
    # the first and third custodians (the creation checked the last two)
    entry = NofMShareInput(
        directory / "bob.pbe", prime.group(1), [fragment(sheets[0]), fragment(sheets[2])]
    )
    share = read_share(entry, interaction)
    assert format_kcv(share_fingerprint(share)) == result.fingerprint
    # the printed fragment carries the same values as the screen
    assert fragment(sheets[1])[1] in "".join(pdf_lines(pdfs[1].read_bytes()))


def test_paperkey_only_from_the_host_shown_once(tmp_path: Path) -> None:
    interaction = ScriptedInteraction()
    result = create_share(interaction, ShareCreationPlan(paperkey=True))
    assert result.share_file is None and result.random_source == "host"
    ((_title, sheet),) = interaction.shown_secrets
    assert result.fingerprint.upper()[:4] in sheet.replace(" ", "")
    assert list(tmp_path.iterdir()) == []


def test_weak_password_and_existing_files_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(WeakPassword, match="at least 6"):
        create_share(
            ScriptedInteraction().answer("secret", "abc"),
            ShareCreationPlan(share_file=tmp_path / "a.pbe"),
        )
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "b.pbe"
    existing.write_bytes(b"keep me")
    with pytest.raises(WorkflowError, match="already exists"):
        create_share(ScriptedInteraction(), ShareCreationPlan(share_file=existing))
    assert existing.read_bytes() == b"keep me"


def test_a_file_cancelled_during_its_read_back_is_removed(tmp_path: Path) -> None:
    class CancelOnReadBack(ScriptedInteraction):
        def progress(self, step: str, done: int, total: int) -> None:
            if step.startswith("Reading the share back"):
                self.cancel_event.set()

    interaction = CancelOnReadBack().answer("secret", PASSWORD)
    with pytest.raises(Cancelled):
        create_share(interaction, ShareCreationPlan(share_file=tmp_path / "c.pbe"))
    assert list(tmp_path.iterdir()) == []


def test_plan_validation() -> None:
    with pytest.raises(ValueError):
        ShareCreationPlan()
    with pytest.raises(ValueError):
        ShareCreationPlan(share_file=Path("x"), protection=FileProtection.N_OF_M, total=10)
    with pytest.raises(ValueError):
        ShareCreationPlan(
            share_file=Path("x"), protection=FileProtection.N_OF_M, threshold=4, total=3
        )
    assert MAX_LINES > 20  # a PaperKey sheet fits a page


# --- importing shares ------------------------------------------------------------------


def paperkey_input(share: bytes) -> PaperKeyShareInput:
    return PaperKeyShareInput(list(encode_paperkey(share).lines))


SHARES = [bytes(range(32)), bytes(range(100, 132))]


def test_import_two_custodians_shows_outstanding_then_kcv() -> None:
    _simulator, hsm = card(2)
    interaction = ScriptedInteraction()
    interaction.answer("secret", PIN)
    for share in SHARES:
        interaction.answer("share", paperkey_input(share))
    result = import_shares(hsm, interaction, 0)
    expected = Dkek.from_shares(SHARES)
    assert result.kcv == format_kcv(expected.kcv())
    assert [step.shares_outstanding for step in result.imported] == [1, 0]
    assert [step.fingerprint for step in result.imported] == [
        format_kcv(share_fingerprint(s)) for s in SHARES
    ]
    assert result.complete and result.pin_verified
    assert hsm.pin_status().verified
    texts = interaction.texts()
    assert any("1 of 2 outstanding" in t for t in texts)
    assert any(result.kcv in t for t in texts if result.kcv)
    assert interaction.finished


def test_import_from_a_real_share_file_one_session_at_a_time(
    tmp_path: Path, vectors: dict[str, Any]
) -> None:
    _simulator, hsm = card(2)
    path = tmp_path / "device.pbe"
    path.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    password = bytearray(vectors["share_file"]["password_ascii"].encode())
    interaction = ScriptedInteraction().answer("secret", PIN)
    interaction.answer("share", FileShareInput(path, password))
    first = import_shares(hsm, interaction, 0, count=1)
    assert password == bytearray(len(password))  # wiped once used
    assert (first.shares_outstanding, first.kcv) == (1, None)
    second = import_shares(
        hsm,
        ScriptedInteraction().answer("secret", PIN).answer("share", paperkey_input(SHARES[0])),
        0,
    )
    real = bytes.fromhex(vectors["share_file"]["share_hex"])
    assert second.kcv == format_kcv(Dkek.from_shares([real, SHARES[0]]).kcv())


def test_a_share_not_accepted_is_asked_again() -> None:
    _simulator, hsm = card(1)
    lines = list(encode_paperkey(SHARES[0]).lines)
    broken = [
        lines[0],
        lines[1],
        lines[2][:-2] + ("A" if lines[2][-2] != "A" else "B") + lines[2][-1],
        lines[3],
    ]
    interaction = ScriptedInteraction().answer("secret", PIN)
    interaction.answer("share", PaperKeyShareInput(broken))
    interaction.answer("share", PaperKeyShareInput(lines))
    result = import_shares(hsm, interaction, 0)
    assert len(result.imported) == 1
    assert any("not accepted" in t for t in interaction.texts(MessageLevel.WARNING))


def test_import_is_refused_before_anything_is_asked_when_the_domain_is_not_waiting() -> None:
    _simulator, hsm = card(0)  # random DKEK: complete
    with pytest.raises(DomainNotReady, match="expects no more shares"):
        import_shares(hsm, ScriptedInteraction(), 0)
    _simulator, hsm = card(None)
    with pytest.raises(DomainNotReady, match="without a DKEK"):
        import_shares(hsm, ScriptedInteraction(), 0)
    _simulator, hsm = card(1)
    with pytest.raises(DomainNotReady, match="no key domain 3"):
        import_shares(hsm, ScriptedInteraction(), 3)
    with pytest.raises(DomainNotReady, match="cannot be imported"):
        import_shares(hsm, ScriptedInteraction(), 0, count=2)


def test_wrong_pin_shows_tries_left_and_nothing_is_imported() -> None:
    _simulator, hsm = card(1)
    interaction = ScriptedInteraction()
    for _ in range(3):
        interaction.answer("secret", "000000")
    with pytest.raises(PinNotVerified):
        import_shares(hsm, interaction, 0)
    warnings = interaction.texts(MessageLevel.WARNING)
    assert any("2 tries left" in w for w in warnings)
    assert any("last try" in w for w in warnings)
    status = hsm.key_domain_status(0)
    assert status is not None and status.shares_outstanding == 1
    assert not any(q.startswith("share") for q in interaction.questions)


def test_card_removed_at_each_apdu_leaves_a_consistent_domain() -> None:
    # A clean run first, to count the APDUs the workflow sends.
    simulator, hsm = card(2)
    simulator.faults.clear()
    script = ScriptedInteraction().answer("secret", PIN)
    for share in SHARES:
        script.answer("share", paperkey_input(share))
    import_shares(hsm, script, 0)
    fault_points = simulator.faults.apdus_seen
    assert fault_points >= 6
    expected = format_kcv(Dkek.from_shares(SHARES).kcv())
    for k in range(1, fault_points + 1):
        simulator, hsm = card(2)
        simulator.faults.remove_at(k)
        script = ScriptedInteraction().answer("secret", PIN)
        for share in SHARES:
            script.answer("share", paperkey_input(share))
        with pytest.raises(CardRemoved):
            import_shares(hsm, script, 0)
        simulator.insert()
        hsm = SmartCardHsm.open(LocalTransport(simulator))
        status = hsm.key_domain_status(0)
        assert status is not None and status.shares_total == 2
        done = 2 - status.shares_outstanding
        if status.shares_outstanding:
            rest = ScriptedInteraction().answer("secret", PIN)
            for share in SHARES[done:]:
                rest.answer("share", paperkey_input(share))
            assert import_shares(hsm, rest, 0).kcv == expected, k
        else:
            hsm.verify_pin(PIN)
            final = hsm.key_domain_status(0)
            assert final is not None and final.kcv is not None
            assert format_kcv(final.kcv) == expected
    print(f"share import: {fault_points} fault points")


def test_host_random_is_not_the_card_when_no_card(tmp_path: Path) -> None:
    first = create_share(ScriptedInteraction(), ShareCreationPlan(paperkey=True))
    second = create_share(ScriptedInteraction(), ShareCreationPlan(paperkey=True))
    assert first.fingerprint != second.fingerprint
    assert os.listdir(tmp_path) == []


def test_new_share_falls_back_to_the_host_when_the_card_gives_no_random() -> None:
    """Pico HSM answers GET CHALLENGE with 6A82 before initialisation."""
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.transport import LocalTransport
    from keymanager.simulator import SmartCardHsmSimulator
    from keymanager.workflows.ceremony import new_share

    simulator = SmartCardHsmSimulator(seed=b"pico-like blank card")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    from_card = new_share(hsm)
    simulator.faults.status_at(1, 0x6A82)
    from_host = new_share(hsm)
    assert len(from_card) == len(from_host) == 32
    assert from_card != from_host
    assert simulator.faults.pending == 0  # the 6A82 was answered, and the host filled in
