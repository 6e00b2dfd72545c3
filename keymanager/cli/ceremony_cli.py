"""``keymanager-cli ceremony start|close|verify|report`` and ``share rotate``: the key
ceremony record and custodian rotation.

While a ceremony runs, every card-changing command is given ``--ceremony RECORD --as
NAME`` (anywhere on the command line; or ``KEYMANAGER_CEREMONY`` and
``KEYMANAGER_ACTOR``): :func:`ceremony_options` takes them off the words before the
parser sees them, and ``main`` runs the command inside the ceremony
(:mod:`keymanager.workflows.ceremony_session`).  A rehearsal record
(``ceremony start --rehearse``) takes simulated cards only; a real ceremony's record
refuses them (:func:`keymanager.cli.device.check_card_for_ceremony`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    interaction_for,
    workflow_command,
)

CEREMONY_VARIABLE = "KEYMANAGER_CEREMONY"
ACTOR_VARIABLE = "KEYMANAGER_ACTOR"


# --- the ceremony options of every command ----------------------------------------------


def ceremony_options(words: Sequence[str]) -> tuple[Path | None, str | None, list[str]]:
    """``(record, actor, the other words)``: ``--ceremony``/``--as`` taken off ``words``
    (``--ceremony=R`` too), else the environment's ``KEYMANAGER_CEREMONY`` and
    ``KEYMANAGER_ACTOR``."""
    record: str | None = None
    actor: str | None = None
    rest: list[str] = []
    iterator = iter(words)
    for word in iterator:
        if word == "--":
            rest.append(word)
            rest.extend(iterator)
            break
        for option in ("--ceremony", "--as"):
            if word == option or word.startswith(option + "="):
                value = word.partition("=")[2] if "=" in word else next(iterator, None)
                if value is None or not value.strip():
                    raise CliError(f"{option} needs a value")
                if option == "--ceremony":
                    record = value
                else:
                    actor = value
                break
        else:
            rest.append(word)
    record = record or os.environ.get(CEREMONY_VARIABLE) or None
    actor = actor or os.environ.get(ACTOR_VARIABLE) or None
    return (Path(record) if record else None), actor, rest


def ceremony_session(record: Path | None, actor: str | None, command: str | None) -> Any:
    """The session to run a command in (``None``: no ceremony).

    :raises CliError: ``--as`` without a ceremony, an actor who is not a participant,
        a record that is closed or not a record; checked before the card is touched.
    """
    if record is None:
        if actor is not None and command not in ("ceremony",):
            raise CliError("--as names who acts in a ceremony: give --ceremony RECORD too")
        return None
    if command == "ceremony":
        return None  # ceremony start/close/verify/report take the record as their argument
    from keymanager.workflows.ceremony_record import (
        RecordError,
        is_closed,
        participants_of,
        rehearsal_of,
    )
    from keymanager.workflows.ceremony_session import CeremonySession

    try:
        people = participants_of(record)
        if is_closed(record):
            raise CliError(f"the ceremony in {record} was closed: start a new record")
        rehearsal = rehearsal_of(record)
    except RecordError as error:
        raise CliError(str(error)) from None
    names = [person.name for person in people]
    if actor is None:
        raise CliError(
            f"a ceremony runs ({record}): say who acts with --as NAME (one of: {', '.join(names)})"
        )
    if actor not in names:
        raise CliError(f"{actor!r} is not a participant of this ceremony ({', '.join(names)})")
    return CeremonySession(record, actor, rehearsal=rehearsal)


# --- the parsers ------------------------------------------------------------------------


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ceremony start|close|verify|report``."""
    ceremony = subcommands.add_parser(
        "ceremony",
        help="keep a signed, tamper-evident record of a key ceremony",
        description=(
            "Start a ceremony record, run card-changing commands with --ceremony RECORD "
            "--as NAME, close it with a signature by a key on a card, verify it without "
            "the card and print it for the binder."
        ),
    )
    actions = ceremony.add_subparsers(dest="ceremony_command", required=True, metavar="ACTION")

    start = actions.add_parser("start", help="open a new ceremony record")
    start.add_argument("record", metavar="RECORD.jsonl", type=Path)
    start.add_argument("--title", required=True, help="what the ceremony is for")
    start.add_argument(
        "--participant",
        action="append",
        required=True,
        metavar="NAME:ROLE",
        help="a participant and their role (security officer, custodian, witness, "
        "auditor, operator); repeat it for each",
    )
    start.add_argument(
        "--rehearse",
        action="store_true",
        help="a rehearsal: the commands of this ceremony take simulated cards only",
    )
    add_device_arguments(start)
    add_json_argument(start)
    start.set_defaults(handler=_start)

    close = actions.add_parser(
        "close", help="sign the record's head with a key on a card and close it"
    )
    close.add_argument("record", metavar="RECORD.jsonl", type=Path)
    close.add_argument("--key", required=True, type=int, metavar="K", help="the key reference")
    close.add_argument(
        "--as", dest="signer", metavar="NAME", help="who signs (default: the security officer)"
    )
    close.add_argument("--pin-env", metavar="VAR", help="read the user PIN from this variable")
    add_yes_argument(close, confirmations=False)
    add_device_arguments(close)
    add_json_argument(close)
    close.set_defaults(handler=_close)

    verify = actions.add_parser(
        "verify", help="check the record's chain and signature (no card needed)"
    )
    verify.add_argument("record", metavar="RECORD.jsonl", type=Path)
    add_json_argument(verify)
    verify.set_defaults(handler=_verify)

    report = actions.add_parser("report", help="print the record for the binder (PDF)")
    report.add_argument("record", metavar="RECORD.jsonl", type=Path)
    report.add_argument("--pdf", required=True, type=Path, metavar="OUT.pdf")
    report.add_argument("--force", action="store_true", help="replace an existing PDF")
    add_json_argument(report)
    report.set_defaults(handler=_report)


# --- the handlers -----------------------------------------------------------------------


@workflow_command
def _start(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.ceremony_record import Participant, start_record
    from keymanager.workflows.ceremony_session import device_facts

    try:
        people = [Participant.parse(text) for text in arguments.participant]
    except ValueError as error:
        raise CliError(str(error)) from None
    devices: list[dict[str, Any]] = []
    if arguments.reader or arguments.simulator:
        if arguments.rehearse and arguments.reader:
            raise CliError("a rehearsal takes simulated cards only (--simulator)")
        if not arguments.rehearse and arguments.simulator:
            raise CliError("a real ceremony takes no simulated card: add --rehearse")
        with open_card(arguments) as hsm:
            devices.append(device_facts(hsm))
    start_record(
        arguments.record,
        title=arguments.title,
        participants=people,
        devices=devices,
        rehearsal=arguments.rehearse,
    )
    kind = "Rehearsal" if arguments.rehearse else "Ceremony"
    lines = [
        f"{kind} record {arguments.record} started: {arguments.title}",
        *(f"  {person.name} ({person.role})" for person in people),
        f"Run each card-changing command with --ceremony {arguments.record} --as NAME.",
    ]
    data = {
        "record": str(arguments.record),
        "title": arguments.title,
        "rehearsal": arguments.rehearse,
        "participants": [{"name": p.name, "role": p.role} for p in people],
        "devices": devices,
    }
    return emit(arguments, data, lines)


@workflow_command
def _close(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.ceremony_record import participants_of
    from keymanager.workflows.ceremony_session import close_with_card_key
    from keymanager.workflows.interaction import SecretKind

    people = participants_of(arguments.record)
    signer = arguments.signer or os.environ.get(ACTOR_VARIABLE)
    if signer is None:
        officers = [p.name for p in people if p.role == "security officer"]
        if not officers:
            raise CliError("say who signs with --as NAME (the record names no security officer)")
        signer = officers[0]
    if signer not in [p.name for p in people]:
        raise CliError(f"{signer!r} is not a participant of this ceremony; nothing was signed")
    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        signature = close_with_card_key(arguments.record, hsm, interaction, arguments.key, signer)
    lines = [
        f"Ceremony record {arguments.record} closed: {signature.algorithm} signature by "
        f"key {arguments.key} on {signature.key.get('serial', 'the card')}, signed by {signer}.",
        f"Check it any time with: keymanager-cli ceremony verify {arguments.record}",
    ]
    data = {
        "record": str(arguments.record),
        "algorithm": signature.algorithm,
        "signer": signer,
        "key": dict(signature.key),
    }
    return emit(arguments, data, lines)


def _verify(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.ceremony_record import RecordError, verify_record

    try:
        result = verify_record(arguments.record)
    except RecordError as error:
        raise CliError(str(error)) from None
    data = {
        "record": str(arguments.record),
        "valid": result.valid,
        "lines": result.entries,
        "first_altered_line": result.first_altered,
        "closed": result.closed,
        "signature_valid": result.signature_valid,
        "text": result.text(),
    }
    emit(arguments, data, [f"{arguments.record}: {result.text()}"])
    return 0 if result.valid else 1


@workflow_command
def _report(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.ceremony_record import verify_record
    from keymanager.workflows.ceremony_report import write_report_pdf

    pages = write_report_pdf(arguments.record, arguments.pdf, overwrite=arguments.force)
    verdict = verify_record(arguments.record).text()
    lines = [f"Report of {arguments.record} printed to {arguments.pdf} ({pages} page(s)).", verdict]
    return emit(
        arguments, {"pdf": str(arguments.pdf), "pages": pages, "verification": verdict}, lines
    )
