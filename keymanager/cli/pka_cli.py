"""``keymanager-cli pka``: public key authentication with custodian cards.

* ``pka create-key --label L --out C.pka [card]`` — on a custodian's own card: a new
  custodian key and its ``.pka`` file for the officer of the device it is to unlock;
* ``pka register C.pka [card] [--slot N]`` — on the device: register a custodian's key
  (its chain checked first), in the next free slot or replacing slot N;
* ``pka status [card]`` — the device's PKA state and every slot;
* ``pka auth [card] --pka-custodian R …`` — only the custodians' authentication (which
  every card command can do first with ``--pka-custodian``), then the state.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    workflow_command,
)

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.workflows.pka import PkaOverview


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pka`` and its actions."""
    pka = subcommands.add_parser(
        "pka", help="public key authentication: custodian keys that unlock a device, M of N"
    )
    actions = pka.add_subparsers(dest="pka_command", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create-key",
        help="on a custodian's card: make a custodian key and write its .pka file",
    )
    create.add_argument("--label", required=True, help="the key's label on the custodian card")
    create.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="the .pka file to write (new)"
    )
    create.add_argument(
        "--curve",
        default="brainpoolP256r1",
        help="brainpoolP256r1 (the default) or prime256v1 (P-256)",
    )
    add_device_arguments(create)
    create.add_argument("--pin-env", metavar="VAR", help="the custodian card's user PIN")
    add_yes_argument(create, confirmations=False)
    add_json_argument(create)
    create.set_defaults(handler=_create_key)

    register = actions.add_parser(
        "register", help="on the device: register a custodian's key from its .pka file"
    )
    register.add_argument("file", type=Path, metavar="FILE.pka", help="the custodian's file")
    register.add_argument(
        "--slot",
        type=int,
        metavar="N",
        help="replace the key in slot N (the device must allow replacing)",
    )
    add_device_arguments(register)
    register.add_argument(
        "--pin-env",
        metavar="VAR",
        help="verify the device's user PIN first (for devices that register only after "
        "a login, as Pico HSM)",
    )
    add_yes_argument(register)
    add_json_argument(register)
    register.set_defaults(handler=_register)

    status = actions.add_parser("status", help="the device's PKA state and its slots")
    add_device_arguments(status)
    add_yes_argument(status, confirmations=False)  # the last try of a custodian PIN
    add_json_argument(status)
    status.set_defaults(handler=_status)

    auth = actions.add_parser(
        "auth", help="authenticate custodian cards (--pka-custodian) and show the state"
    )
    add_device_arguments(auth)
    add_yes_argument(auth, confirmations=False)
    add_json_argument(auth)
    auth.set_defaults(handler=_auth)


def overview_lines(overview: PkaOverview) -> list[str]:
    """``Public key authentication: …`` and a line per slot."""
    lines = [f"Public key authentication: {overview.text}"]
    if overview.pin_too:
        lines.append("  the user PIN is needed as well")
    for key in overview.keys:
        if key.chr is None:
            lines.append(f"  slot {key.slot}: empty")
        else:
            state = "authenticated" if key.authenticated else "not authenticated"
            lines.append(f"  slot {key.slot}: {key.chr}, {state}")
    return lines


def _overview_or_none(arguments: argparse.Namespace) -> tuple[PkaOverview | None, str]:
    from keymanager.workflows.pka import pka_overview

    with open_card(arguments) as hsm:
        return pka_overview(hsm), hsm.transport.name


NO_PKA_LINE = "Public key authentication: not set up (the device was not initialised with --pka)"


def _overview_result(arguments: argparse.Namespace) -> int:
    overview, reader = _overview_or_none(arguments)
    data: dict[str, Any] = {
        "reader": reader,
        "pka": overview.to_dict() if overview is not None else None,
    }
    lines = overview_lines(overview) if overview is not None else [NO_PKA_LINE]
    return emit(arguments, data, lines)


@workflow_command
def _status(arguments: argparse.Namespace) -> int:
    return _overview_result(arguments)


@workflow_command
def _auth(arguments: argparse.Namespace) -> int:
    if not arguments.pka_custodian:
        raise CliError("pka auth needs the custodian cards: --pka-custodian R (once each)")
    return _overview_result(arguments)


@workflow_command
def _create_key(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error, result_once_for
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.pka import create_custodian_key

    interaction = result_once_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        key = create_custodian_key(
            hsm, interaction, label=arguments.label, out=arguments.out, curve=arguments.curve
        )
    interaction.take_results()  # the lines below say it (printed once)
    return emit(
        arguments,
        key.to_dict(),
        [
            f"Custodian key {key.label!r}: {key.chr} in key reference {key.key_ref} of "
            f"device {key.device_serial}.",
            f"Wrote {key.path}: give it to the officer of the device it is to unlock "
            "(keymanager-cli pka register FILE).",
        ],
    )


@workflow_command
def _register(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error, result_once_for
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.pka import register_custodian

    interaction = result_once_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = register_custodian(
            hsm,
            interaction,
            arguments.file,
            slot=arguments.slot,
            verify_pin=arguments.pin_env is not None,
        )
    interaction.take_results()  # the lines below say it (printed once)
    where = f"slot {result.slot}" if result.slot is not None else "a slot the device did not list"
    replaced = f" (replacing {result.replaced})" if result.replaced else ""
    return emit(
        arguments,
        result.to_dict(),
        [
            f"Registered custodian {result.chr} of device {result.device_serial} in "
            f"{where}{replaced}.",
            f"Public key authentication: {result.status.text}",
        ],
    )


# -- status and audit -------------------------------------------------------------


def pka_record(hsm: SmartCardHsm) -> tuple[dict[str, Any] | None, str | None]:
    """The PKA state (``PkaOverview.to_dict()``; ``None``: no public key authentication)
    and why it could not be read (``None``: it could)."""
    from keymanager.card.errors import CardError, TransportError
    from keymanager.card.secure_messaging import SecureMessagingError
    from keymanager.workflows.pka import pka_overview

    try:
        overview = pka_overview(hsm)
    except (TransportError, SecureMessagingError):
        raise
    except CardError as error:
        return None, str(error)
    return (overview.to_dict() if overview is not None else None), None


def pka_text(record: dict[str, Any]) -> str | None:
    """``2 of 3 keys registered, 1 authenticated (2 needed)`` (and whether the PIN is
    needed too), or why it is unknown; ``None``: the device has no PKA."""
    if record.get("pka_problem"):
        return f"unknown ({record['pka_problem']})"
    pka = record.get("pka")
    if pka is None:
        return None
    return str(pka["text"]) + (", and the user PIN" if pka.get("pin_too") else "")


def pka_status_lines(record: dict[str, Any]) -> list[str]:
    """``status``'s lines for the PKA state (none for a device without PKA)."""
    text = pka_text(record)
    if text is None:
        return []
    lines = [f"Public key authentication: {text}"]
    for slot in (record["pka"] or {}).get("slots", []):
        if slot["chr"] is None:
            lines.append(f"  slot {slot['slot']}: empty")
        else:
            state = "authenticated" if slot["authenticated"] else "not authenticated"
            lines.append(f"  slot {slot['slot']}: {slot['chr']}, {state}")
    return lines
