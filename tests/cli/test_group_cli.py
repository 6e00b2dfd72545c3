"""``keymanager-cli group`` and ``migrate`` (issue 17) on simulated cards kept in state files.

A signer card and three devices (each ``init --key-domains 4``): ``group create`` on the
signer, ``group admit`` of devices A and B, ``group derive`` on both (each with the
other's exchange key) gives the same KCV; a key generated in A's XKEK domain is copied to
B by ``migrate`` and signs there, the signature verified on the host with the public key
``export-pubkey`` reads from A.  ``group show``, ``status`` and ``audit`` name the group.
Refusals, each with exit status 1 and its JSON error document: a group file of another
group, a device that is not a member, a key in no XKEK domain, the same card twice.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from tests.cli.support import run

PIN = "123456"
SIGNER_PIN = "654321"
SO_PIN = "3537363231383830"
ECDSA_ON_HASH = 0x70


def run_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, Any]:
    status, out, err = run(capsys, *[str(word) for word in argv], "--json")
    assert status == 0, (out, err)
    assert "Traceback" not in err
    data: dict[str, Any] = json.loads(out)
    return data


def error_of(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, Any]:
    """The JSON error document of a command that fails with exit status 1."""
    status, out, err = run(capsys, *[str(word) for word in argv], "--json")
    assert status == 1, (out, err)
    assert "Traceback" not in err
    error: dict[str, Any] = json.loads(out)["error"]
    assert error["message"] in err
    return error


def card(directory: Path, name: str) -> Path:
    return directory / f"{name}.json"


@pytest.fixture(scope="module")
def variables() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("T_SO", SO_PIN)
        patch.setenv("T_PIN", PIN)
        patch.setenv("T_SPIN", SIGNER_PIN)
        yield


@pytest.fixture(scope="module")
def base(
    tmp_path_factory: pytest.TempPathFactory,
    variables: None,
    simulator_profile: str,
    secure_messaging: str,
) -> Path:
    """signer.json, a.json, b.json, c.json (initialised, 4 key-domain slots each) and
    group.json with A and B admitted (no KEK derived yet)."""
    directory = tmp_path_factory.mktemp("xkek-cli")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(directory / "state"))

        def cli(*argv: str | Path) -> None:
            assert main([str(word) for word in argv]) == 0, argv

        for name, variable in (("signer", "T_SPIN"), ("a", "T_PIN"), ("b", "T_PIN"),
                               ("c", "T_PIN")):  # fmt: skip
            cli("init", "--simulator", card(directory, name), "--so-pin-env", "T_SO",
                "--pin-env", variable, "--key-domains", "4", "--yes")  # fmt: skip
        cli("group", "create", "--signer-simulator", card(directory, "signer"),
            "--out", directory / "group.json", "--pin-env", "T_SPIN")  # fmt: skip
        for name in ("a", "b"):
            cli("group", "admit", directory / "group.json",
                "--signer-simulator", card(directory, "signer"), "--signer-pin-env", "T_SPIN",
                "--simulator", card(directory, name), "--pin-env", "T_PIN")  # fmt: skip
    return directory


@pytest.fixture
def cards(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the base set for one test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    directory = tmp_path / "cards"
    shutil.copytree(base, directory, ignore=shutil.ignore_patterns("state"))
    return directory


def serial_of(state: Path) -> str:
    return SmartCardHsmSimulator(state).serial


def derive(capsys: pytest.CaptureFixture[str], cards: Path, name: str, peer: str) -> dict[str, Any]:
    return run_json(capsys, "group", "derive", cards / "group.json",
                    "--simulator", card(cards, name), "--peer", serial_of(card(cards, peer)),
                    "--pin-env", "T_PIN")  # fmt: skip


def test_create_admit_and_derive_the_same_kcv_on_both(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    assert group["format"] == "keymanager-xkek-group" and len(group["uid"]) == 128
    assert group["signer"]["serial"] == serial_of(card(cards, "signer"))
    members = {member["serial"]: member for member in group["members"]}
    assert set(members) == {serial_of(card(cards, "a")), serial_of(card(cards, "b"))}

    before = run_json(capsys, "status", "--simulator", card(cards, "a"), "--pin-env", "T_PIN")
    xkek = [domain for domain in before["key_domains"] if domain["type"] == "XKEK"]
    assert [domain["uid"] for domain in xkek] == [group["uid"]]
    assert xkek[0]["kcv"] is None and xkek[0]["kcv_hidden"] is False

    on_a = derive(capsys, cards, "a", "b")
    on_b = derive(capsys, cards, "b", "a")
    assert on_a["kcv"] == on_b["kcv"]
    assert len(on_a["kcv"]) == 16 and on_a["kcv"] != "0" * 16
    assert on_a["domain"] == members[serial_of(card(cards, "a"))]["domain"]

    status, out, err = run(capsys, "group", "derive", str(cards / "group.json"),
                           "--simulator", str(card(cards, "a")), "--pin-env", "T_PIN")  # fmt: skip
    assert status == 0, err
    # the default peer: the other member
    assert out.splitlines()[0] == (
        f"Key domain {on_a['domain']}: KEK derived with the exchange key of device "
        f"{serial_of(card(cards, 'b'))}, KCV {on_a['kcv']}."
    )

    status, out, err = run(capsys, "status", "--simulator", str(card(cards, "b")),
                           "--pin-env", "T_PIN")  # fmt: skip
    assert status == 0, err
    domain = on_b["domain"]
    assert (
        f"Key domain {domain:<4} : XKEK domain, group {group['uid'][:16]}…, KCV {on_b['kcv']}"
        in out
    )

    status, out, err = run(capsys, "audit", "--simulator", str(card(cards, "b")),
                           "--pin-env", "T_PIN")  # fmt: skip
    assert status == 0, err
    assert f"Key domain {domain}: XKEK domain, group {group['uid'][:16]}…, KCV {on_b['kcv']}" in out
    audit = run_json(capsys, "audit", "--simulator", card(cards, "b"), "--pin-env", "T_PIN")
    assert [d["uid"] for d in audit["key_domains"] if d["state"] == "XKEK"] == [group["uid"]]


def test_show_lists_the_signer_and_the_members(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    shown = run_json(capsys, "group", "show", cards / "group.json")
    assert shown["uid"] == group["uid"]
    assert [member["serial"] for member in shown["members"]] == [
        member["serial"] for member in group["members"]
    ]
    status, out, err = run(capsys, "group", "show", str(cards / "group.json"))
    assert status == 0, err
    assert f"Group UID       : {group['uid'].upper()}" in out
    for member in group["members"]:
        assert f"Member          : device {member['serial']}, key domain {member['domain']}" in out


def test_migrate_a_generated_key_which_signs_on_the_target(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    domain_a = next(
        m["domain"] for m in group["members"] if m["serial"] == serial_of(card(cards, "a"))
    )
    derive(capsys, cards, "a", "b")
    key = run_json(capsys, "generate", "ec:prime256v1", "--label", "group key",
                   "--domain", str(domain_a), "--simulator", card(cards, "a"),
                   "--pin-env", "T_PIN")  # fmt: skip
    reference = int(key["key_reference"])
    status, pem, err = run(capsys, "export-pubkey", "--key", str(reference),
                           "--simulator", str(card(cards, "a")))  # fmt: skip
    assert status == 0, err
    public_key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    migrated = run_json(capsys, "migrate", "--key", str(reference),
                        "--simulator", card(cards, "a"), "--pin-env", "T_PIN",
                        "--to-simulator", card(cards, "b"), "--to-pin-env", "T_PIN",
                        "--group", cards / "group.json")  # fmt: skip
    target_ref = int(migrated["target_key_reference"])

    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(card(cards, "b"))))
    hsm.verify_pin(PIN)
    labels = {k.key_reference: k.label for k in KeyStore(hsm).list_keys()}
    assert labels[target_ref] == "group key"
    message = b"signed on device B after migrate"
    digest = hashlib.sha256(message).digest()
    signature = hsm.sign(target_ref, ECDSA_ON_HASH, digest)
    public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    # the source keeps its key
    assert run_json(capsys, "keys", "--simulator", card(cards, "a"))  # listed, still there


def test_migrate_without_group_file_reads_the_group_from_both_devices(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    domain_a = next(
        m["domain"] for m in group["members"] if m["serial"] == serial_of(card(cards, "a"))
    )
    key = run_json(capsys, "generate", "ec:prime256v1", "--label", "no file",
                   "--domain", str(domain_a), "--simulator", card(cards, "a"),
                   "--pin-env", "T_PIN")  # fmt: skip
    migrated = run_json(capsys, "migrate", "--key", str(key["key_reference"]),
                        "--simulator", card(cards, "a"), "--pin-env", "T_PIN",
                        "--to-simulator", card(cards, "b"), "--to-pin-env", "T_PIN")  # fmt: skip
    assert migrated["kcv"]


def test_refusals_with_their_error_documents(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a second group: its file does not name device A
    run_json(capsys, "group", "create", "--signer-simulator", card(cards, "c"),
             "--out", cards / "other.json", "--pin-env", "T_PIN")  # fmt: skip
    wrong_group = error_of(capsys, "group", "derive", cards / "other.json",
                           "--simulator", card(cards, "a"), "--pin-env", "T_PIN")  # fmt: skip
    assert wrong_group["kind"] == "NotAMember"
    assert serial_of(card(cards, "a")) in wrong_group["message"]
    assert wrong_group["nothing_changed"] is True

    # admit with the signer card of another group than the file's
    wrong_signer = error_of(capsys, "group", "admit", cards / "group.json",
                            "--signer-simulator", card(cards, "c"), "--signer-pin-env", "T_PIN",
                            "--simulator", card(cards, "a"), "--pin-env", "T_PIN")  # fmt: skip
    assert wrong_signer["kind"] == "NotTheGroupSigner"
    assert wrong_signer["nothing_changed"] is True
    assert len(json.loads((cards / "group.json").read_text())["members"]) == 2

    # device C is no member of group.json
    not_member = error_of(capsys, "group", "derive", cards / "group.json",
                          "--simulator", card(cards, "c"), "--pin-env", "T_PIN")  # fmt: skip
    assert not_member["kind"] == "NotAMember"
    assert serial_of(card(cards, "c")) in not_member["message"]

    # a key in no XKEK domain
    plain = run_json(capsys, "generate", "ec:prime256v1", "--label", "plain",
                     "--simulator", card(cards, "a"), "--pin-env", "T_PIN")  # fmt: skip
    no_xkek = error_of(capsys, "migrate", "--key", str(plain["key_reference"]),
                       "--simulator", card(cards, "a"), "--pin-env", "T_PIN",
                       "--to-simulator", card(cards, "b"), "--to-pin-env", "T_PIN",
                       "--group", cards / "group.json")  # fmt: skip
    assert no_xkek["kind"] == "KeyNotInXkekDomain" and "XKEK" in no_xkek["message"]
    assert no_xkek["nothing_changed"] is True
    # device C is in no group: a key of A's XKEK domain cannot go there
    group = json.loads((cards / "group.json").read_text())
    domain_a = next(
        m["domain"] for m in group["members"] if m["serial"] == serial_of(card(cards, "a"))
    )
    in_group = run_json(capsys, "generate", "ec:prime256v1", "--label", "group only",
                        "--domain", str(domain_a), "--simulator", card(cards, "a"),
                        "--pin-env", "T_PIN")  # fmt: skip
    outsider = error_of(capsys, "migrate", "--key", str(in_group["key_reference"]),
                        "--simulator", card(cards, "a"), "--pin-env", "T_PIN",
                        "--to-simulator", card(cards, "c"), "--to-pin-env", "T_PIN")  # fmt: skip
    assert outsider["kind"] == "TargetNotInGroup" and outsider["nothing_changed"] is True

    # the same card twice, a target file that is not there
    same = error_of(capsys, "migrate", "--key", str(plain["key_reference"]),
                    "--simulator", card(cards, "a"),
                    "--to-simulator", card(cards, "a"))  # fmt: skip
    assert "two cards" in same["message"] and same["nothing_changed"] is True
    missing = error_of(capsys, "migrate", "--key", "1", "--simulator", card(cards, "a"),
                       "--to-simulator", cards / "none.json")  # fmt: skip
    assert "no simulated card" in missing["message"]
    assert not (cards / "none.json").exists()

    # usage: a second card is needed
    status, out, _err = run(capsys, "group", "admit", str(cards / "group.json"),
                            "--simulator", str(card(cards, "a")), "--json")  # fmt: skip
    assert status == 2 and json.loads(out)["error"]["kind"] == "usage"


def test_domain_delete_of_an_xkek_domain(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    group = json.loads((cards / "group.json").read_text())
    serial = serial_of(card(cards, "a"))
    member = next(m for m in group["members"] if m["serial"] == serial)
    domain = str(member["domain"])
    derive(capsys, cards, "a", "b")
    key = run_json(capsys, "generate", "ec:prime256v1", "--label", "still here",
                   "--domain", domain, "--simulator", card(cards, "a"),
                   "--pin-env", "T_PIN")  # fmt: skip
    refused = error_of(capsys, "domain", "delete", "--domain", domain, "--group",
                       cards / "group.json", "--simulator", card(cards, "a"),
                       "--pin-env", "T_PIN", "--yes")  # fmt: skip
    assert "'still here'" in refused["message"] and refused["nothing_changed"] is True
    assert refused["kind"] == "DomainNotReady"

    run_json(capsys, "delete", "--key", str(key["key_reference"]),
             "--simulator", card(cards, "a"), "--pin-env", "T_PIN", "--yes")  # fmt: skip
    # only the exchange key is left: it is deleted with the domain
    deleted = run_json(capsys, "domain", "delete", "--domain", domain, "--group",
                       cards / "group.json", "--simulator", card(cards, "a"),
                       "--pin-env", "T_PIN", "--yes")  # fmt: skip
    assert deleted["state"] == "empty"
    status = run_json(capsys, "status", "--simulator", card(cards, "a"))
    assert status["key_domains"][member["domain"]]["type"] == "empty"
    keys = json.loads(run(capsys, "keys", "--simulator", str(card(cards, "a")), "--json")[1])
    assert member["exchange_key_ref"] not in [k["key_reference"] for k in keys]
    after = json.loads((cards / "group.json").read_text())
    assert serial not in [m["serial"] for m in after["members"]]

    # --group with a DKEK domain is refused
    run_json(capsys, "domain", "create", "--domain", domain, "--simulator", card(cards, "a"),
             "--pin-env", "T_PIN")  # fmt: skip
    dkek = error_of(capsys, "domain", "delete", "--domain", domain, "--group",
                    cards / "group.json", "--simulator", card(cards, "a"),
                    "--pin-env", "T_PIN", "--yes")  # fmt: skip
    assert "not an XKEK domain" in dkek["message"]


def test_the_signer_card_admits_itself(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both options naming one card: it is opened once, signer and member at the same time."""
    own = cards / "own.json"
    run_json(capsys, "group", "create", "--signer-simulator", card(cards, "c"),
             "--out", own, "--pin-env", "T_PIN")  # fmt: skip
    admitted = run_json(capsys, "group", "admit", own,
                        "--signer-simulator", card(cards, "c"),
                        "--simulator", card(cards, "c"), "--pin-env", "T_PIN")  # fmt: skip
    serial_c = serial_of(card(cards, "c"))
    assert admitted["member"]["serial"] == serial_c
    # the PIN from the signer's variable alone is enough too (device A signs itself in)
    run_json(capsys, "group", "create", "--signer-simulator", card(cards, "a"),
             "--out", cards / "own-a.json", "--pin-env", "T_PIN")  # fmt: skip
    run_json(capsys, "group", "admit", cards / "own-a.json",
             "--signer-simulator", card(cards, "a"), "--signer-pin-env", "T_PIN",
             "--simulator", card(cards, "a"))  # fmt: skip
    # a second member, then both derive the same KEK: the signer's membership is real
    run_json(capsys, "group", "admit", own, "--signer-simulator", card(cards, "c"),
             "--signer-pin-env", "T_PIN", "--simulator", card(cards, "b"),
             "--pin-env", "T_PIN")  # fmt: skip
    group = json.loads(own.read_text())
    assert [m["serial"] for m in group["members"]] == [serial_c, serial_of(card(cards, "b"))]
    on_c = run_json(capsys, "group", "derive", own, "--simulator", card(cards, "c"),
                    "--pin-env", "T_PIN")  # fmt: skip
    on_b = run_json(capsys, "group", "derive", own, "--simulator", card(cards, "b"),
                    "--peer", serial_c, "--pin-env", "T_PIN")  # fmt: skip
    assert on_c["kcv"] == on_b["kcv"] and on_c["peer"] == serial_of(card(cards, "b"))
    status = run_json(capsys, "status", "--simulator", card(cards, "c"), "--pin-env", "T_PIN")
    assert [d["uid"] for d in status["key_domains"] if d["type"] == "XKEK"] == [group["uid"]]


def test_derive_without_peer_takes_the_first_other_member(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three members: ``group derive`` without --peer uses the first other one in the file
    and says so (it never asks a terminal there is none of)."""
    run_json(capsys, "group", "admit", cards / "group.json",
             "--signer-simulator", card(cards, "signer"), "--signer-pin-env", "T_SPIN",
             "--simulator", card(cards, "c"), "--pin-env", "T_PIN")  # fmt: skip
    order = [m["serial"] for m in json.loads((cards / "group.json").read_text())["members"]]
    serial_a, serial_b, serial_c = (serial_of(card(cards, name)) for name in ("a", "b", "c"))
    assert order == [serial_a, serial_b, serial_c]

    status, out, err = run(capsys, "group", "derive", str(cards / "group.json"),
                           "--simulator", str(card(cards, "c")), "--pin-env", "T_PIN")  # fmt: skip
    assert status == 0, err
    assert "no terminal" not in err
    lines = out.splitlines()
    assert lines[0].startswith("Key domain ") and f"of device {serial_a}, KCV " in lines[0]
    assert lines[1] == (
        f"Peer: device {serial_a}, the first other member in {cards / 'group.json'} "
        "(--peer SERIAL names another)."
    )
    on_b = run_json(capsys, "group", "derive", cards / "group.json",
                    "--simulator", card(cards, "b"), "--pin-env", "T_PIN")  # fmt: skip
    assert on_b["peer"] == serial_a
    on_a = run_json(capsys, "group", "derive", cards / "group.json",
                    "--simulator", card(cards, "a"), "--pin-env", "T_PIN")  # fmt: skip
    assert on_a["peer"] == serial_b and on_a["kcv"] == on_b["kcv"]
    # --peer still names another
    named = run_json(capsys, "group", "derive", cards / "group.json",
                     "--simulator", card(cards, "a"), "--peer", serial_c,
                     "--pin-env", "T_PIN")  # fmt: skip
    assert named["peer"] == serial_c and named["kcv"] != on_b["kcv"]


def test_a_question_without_terminal_is_quoted_whole() -> None:
    """The no-terminal refusal of a question names the question, not 'the <question>'."""
    import io

    from keymanager.cli.interaction import CliInteraction
    from keymanager.cli.prompts import CliError
    from keymanager.workflows.interaction import Choice

    interaction = CliInteraction(stdin=io.StringIO(), stderr=io.StringIO())
    question = "Derive the group KEK with the exchange key of which member?"
    with pytest.raises(CliError) as refused:
        interaction.ask_choice(question, [Choice(1, "A"), Choice(2, "B")])
    assert str(refused.value) == (
        f'no terminal to answer the question "{question}": give the answer with the '
        "command's options"
    )
    with pytest.raises(CliError, match='question "How many shares": give the answer'):
        interaction.ask_number("How many shares:", minimum=1, maximum=9)


def test_a_damaged_or_foreign_group_file_changes_nothing(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.loads((cards / "group.json").read_text())
    damaged = cards / "damaged.json"
    damaged.write_text(json.dumps({**good, "uid": good["uid"][:-2] + "00"}))
    foreign = cards / "foreign.json"
    foreign.write_text(json.dumps({**good, "format": "sc-hsm-tool"}))
    for path, kind in ((damaged, "GroupFileDamaged"), (foreign, "GroupFileForeign"),
                       (cards / "absent.json", "XkekWorkflowError")):  # fmt: skip
        for argv in (
            ("group", "show", path),
            ("group", "derive", path, "--simulator", card(cards, "a"), "--pin-env", "T_PIN"),
            ("group", "admit", path, "--signer-simulator", card(cards, "signer"),
             "--signer-pin-env", "T_SPIN", "--simulator", card(cards, "c"),
             "--pin-env", "T_PIN"),
        ):  # fmt: skip
            error = error_of(capsys, *argv)
            assert error["kind"] == kind, (argv, error)
            assert error["message"].endswith("; nothing was changed"), error["message"]
            assert error["nothing_changed"] is True
    assert not (cards / "absent.json").exists()


def test_an_xkek_domain_counts_no_shares(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pico HSM answers FF for an XKEK domain's share total: status and audit say 0, 0."""
    import csv
    import io

    uid = json.loads((cards / "group.json").read_text())["uid"]
    status = run_json(capsys, "status", "--simulator", card(cards, "a"), "--pin-env", "T_PIN")
    [xkek] = [d for d in status["key_domains"] if d["type"] == "XKEK"]
    assert (xkek["shares_total"], xkek["shares_outstanding"]) == (0, 0)
    audit = run_json(capsys, "audit", "--simulator", card(cards, "a"), "--pin-env", "T_PIN")
    [audited] = [d for d in audit["key_domains"] if d["state"] == "XKEK"]
    assert (audited["shares_total"], audited["shares_outstanding"]) == (0, 0)
    assert audited["uid"] == uid
    code, out, err = run(capsys, "audit", "--simulator", str(card(cards, "a")), "--pin-env",
                         "T_PIN", "--csv")  # fmt: skip
    assert code == 0, err
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["domain_state"] == "XKEK"]
    assert rows and {(r["shares_total"], r["shares_outstanding"]) for r in rows} == {("0", "0")}
    code, out, err = run(capsys, "audit", "--simulator", str(card(cards, "a")), "--pin-env",
                         "T_PIN")  # fmt: skip
    assert code == 0, err
    assert "255" not in out


def test_domain_delete_says_the_exchange_key_and_the_group_file(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    members = {m["serial"]: m for m in group["members"]}
    serial_a, serial_b = serial_of(card(cards, "a")), serial_of(card(cards, "b"))
    on_a, on_b = members[serial_a], members[serial_b]
    status, out, err = run(capsys, "domain", "delete", "--domain", str(on_a["domain"]),
                           "--group", str(cards / "group.json"), "--simulator",
                           str(card(cards, "a")), "--pin-env", "T_PIN", "--yes")  # fmt: skip
    assert status == 0, err
    assert out.splitlines() == [
        f"Key domain {on_a['domain']} deleted: the slot is empty now.",
        f"Its exchange key (key reference {on_a['exchange_key_ref']}) was deleted: device "
        f"{serial_a} left group {group['uid'][:16]}….",
        f"Device {serial_a} was taken off {cards / 'group.json'}.",
    ]
    assert [m["serial"] for m in json.loads((cards / "group.json").read_text())["members"]] == [
        serial_b
    ]
    # without --group: the file still lists the device, and the output says so
    kept = cards / "kept.json"
    shutil.copy(cards / "group.json", kept)
    deleted = run_json(capsys, "domain", "delete", "--domain", str(on_b["domain"]),
                       "--simulator", card(cards, "b"), "--pin-env", "T_PIN",
                       "--yes")  # fmt: skip
    assert deleted["state"] == "empty"
    assert deleted["exchange_key_ref"] == on_b["exchange_key_ref"]
    assert deleted["group_uid"] == group["uid"]
    assert deleted["group_file"] is None and deleted["left_group_file"] is False
    assert kept.read_bytes() == (cards / "group.json").read_bytes()


def test_domain_delete_without_group_file_says_the_file_still_lists_it(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    serial_b = serial_of(card(cards, "b"))
    on_b = next(m for m in group["members"] if m["serial"] == serial_b)
    status, out, err = run(capsys, "domain", "delete", "--domain", str(on_b["domain"]),
                           "--simulator", str(card(cards, "b")), "--pin-env", "T_PIN",
                           "--yes")  # fmt: skip
    assert status == 0, err
    assert out.splitlines()[1:] == [
        f"Its exchange key (key reference {on_b['exchange_key_ref']}) was deleted: device "
        f"{serial_b} left group {group['uid'][:16]}….",
        f"No --group GROUP.json was given: the group file still lists device {serial_b}.",
    ]


def test_status_and_audit_list_the_members_of_a_group_file(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group = json.loads((cards / "group.json").read_text())
    serial_a = serial_of(card(cards, "a"))
    expected = [
        {"serial": m["serial"], "domain": m["domain"], "exchange_key_ref": m["exchange_key_ref"],
         "exchange_key": True, "this_device": m["serial"] == serial_a, "admitted": m["admitted"]}
        for m in group["members"]
    ]  # fmt: skip
    lines = [
        f"member device {m['serial']}: key domain {m['domain']}, exchange key "
        f"{m['exchange_key_ref']}" + (" (this device)" if m["this_device"] else "")
        for m in expected
    ]
    on_a = ("--simulator", card(cards, "a"), "--pin-env", "T_PIN")
    with_file = ("--group", cards / "group.json")

    status = run_json(capsys, "status", *on_a, *with_file)
    [xkek] = [d for d in status["key_domains"] if d["type"] == "XKEK"]
    assert xkek["members"] == expected
    assert all("members" not in d for d in status["key_domains"] if d["type"] != "XKEK")
    code, out, err = run(capsys, "status", *map(str, on_a + with_file))
    assert code == 0, err
    domain_line = next(i for i, line in enumerate(out.splitlines()) if "XKEK domain" in line)
    assert [line.strip() for line in out.splitlines()[domain_line + 1 :][:2]] == lines

    audit = run_json(capsys, "audit", *on_a, *with_file)
    [audited] = [d for d in audit["key_domains"] if d["state"] == "XKEK"]
    assert audited["members"] == expected
    code, out, err = run(capsys, "audit", *map(str, on_a + with_file))
    assert code == 0, err
    for line in lines:
        assert f"    {line}\n" in out

    # without --group nothing changes
    plain = run_json(capsys, "status", *on_a)
    assert all("members" not in d for d in plain["key_domains"])
    plain_audit = run_json(capsys, "audit", *on_a)
    assert all("members" not in d for d in plain_audit["key_domains"])
    code, out, _err = run(capsys, "audit", *map(str, on_a))
    assert "member device" not in out

    # the file of another group: no domain of A is of it, and the text says so
    run_json(capsys, "group", "create", "--signer-simulator", card(cards, "c"),
             "--out", cards / "other.json", "--pin-env", "T_PIN")  # fmt: skip
    other = run_json(capsys, "status", *on_a, "--group", cards / "other.json")
    assert all("members" not in d for d in other["key_domains"])
    for command in ("status", "audit"):
        code, out, err = run(capsys, command, *map(str, on_a), "--group",
                             str(cards / "other.json"))  # fmt: skip
        assert code == 0, err
        assert "member device" not in out
        assert f"Group file {cards / 'other.json'}: group " in out
        assert "to which no key domain of this device belongs." in out

    # a damaged file is refused, nothing read or changed; the CSV takes no --group
    damaged = cards / "damaged.json"
    damaged.write_text((cards / "group.json").read_text()[:-40])
    for command in ("status", "audit"):
        refused = error_of(capsys, command, *on_a, "--group", damaged)
        assert refused["kind"] == "GroupFileDamaged" and refused["nothing_changed"] is True
    code, _out, err = run(capsys, "audit", *map(str, on_a + with_file), "--csv")
    assert code == 1 and "CSV" in err
