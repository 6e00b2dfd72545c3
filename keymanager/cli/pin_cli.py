"""``keymanager-cli pin verify|change|unblock|set|change-so``.

* ``pin verify --pin-env VAR``
* ``pin change --pin-env VAR --new-pin-env VAR`` (also replaces a transport PIN)
* ``pin unblock --so-pin-env VAR`` (RESET RETRY COUNTER, the PIN stays)
* ``pin set --so-pin-env VAR --new-pin-env VAR`` (unblock and set a new PIN)
* ``pin change-so --so-pin-env VAR --new-so-pin-env VAR``

Each prints its result once (``pin change`` of a transport PIN: whether the card left
transport-PIN mode), then the PINs' state (tries left); a wrong PIN exits 1 with the
tries left, in one line.  A PIN from a variable is not sent on its last try without
``--yes``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    workflow_command,
)

if TYPE_CHECKING:
    from keymanager.cli.result_once import ResultOnceInteraction
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.pins import PinResult


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pin`` with its actions."""
    pin = subcommands.add_parser("pin", help="verify, change, unblock or set PINs")
    actions = pin.add_subparsers(dest="pin_command", required=True, metavar="ACTION")
    specs = [
        ("verify", "verify the user PIN", ["--pin-env"], _verify),
        ("change", "change the user PIN", ["--pin-env", "--new-pin-env"], _change),
        (
            "unblock",
            "unblock the user PIN with the SO-PIN (the PIN stays)",
            ["--so-pin-env"],
            _unblock,
        ),
        (
            "set",
            "unblock the user PIN and set a new one with the SO-PIN",
            ["--so-pin-env", "--new-pin-env"],
            _set,
        ),
        (
            "change-so",
            "change the SO-PIN (16 hex digits)",
            ["--so-pin-env", "--new-so-pin-env"],
            _change_so,
        ),
    ]
    for name, help_text, options, handler in specs:
        parser = actions.add_parser(name, help=help_text)
        for option in options:
            parser.add_argument(option, metavar="VAR", help="read it from this variable")
        add_device_arguments(parser)
        add_yes_argument(parser, confirmations=False)  # a PIN's last try
        add_json_argument(parser)
        parser.set_defaults(handler=handler)


def _secrets(arguments: argparse.Namespace) -> dict[SecretKind, str | None]:
    from keymanager.workflows.interaction import SecretKind

    return {
        SecretKind.USER_PIN: getattr(arguments, "pin_env", None),
        SecretKind.NEW_USER_PIN: getattr(arguments, "new_pin_env", None),
        SecretKind.SO_PIN: getattr(arguments, "so_pin_env", None),
        SecretKind.NEW_SO_PIN: getattr(arguments, "new_so_pin_env", None),
    }


def _interaction(arguments: argparse.Namespace) -> ResultOnceInteraction:
    from keymanager.cli.result_once import result_once_for

    return result_once_for(arguments, _secrets(arguments))


def _report(
    arguments: argparse.Namespace, interaction: ResultOnceInteraction, result: PinResult
) -> int:
    """The workflow's result (``The user PIN was changed.``; after a transport PIN
    whether the card left transport-PIN mode), printed once, then the PINs' state."""
    said = interaction.take_result()
    lines = [f"User PIN        : {result.pin}", f"SO-PIN          : {result.so_pin}"]
    return emit(arguments, result.to_dict(), ([said] if said else []) + lines)


@workflow_command
def _verify(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.pins import verify_pin

    interaction = _interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = verify_pin(hsm, interaction)
    return _report(arguments, interaction, result)


@workflow_command
def _change(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.pins import change_pin

    interaction = _interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = change_pin(hsm, interaction)
    return _report(arguments, interaction, result)


@workflow_command
def _unblock(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.pins import unblock_pin

    interaction = _interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = unblock_pin(hsm, interaction, set_new=False)
    return _report(arguments, interaction, result)


@workflow_command
def _set(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.pins import unblock_pin

    interaction = _interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = unblock_pin(hsm, interaction, set_new=True)
    return _report(arguments, interaction, result)


@workflow_command
def _change_so(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.pins import change_so_pin

    interaction = _interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = change_so_pin(hsm, interaction)
    return _report(arguments, interaction, result)
