"""``--pka-custodian R`` and ``--custodian-pin-env``: custodian cards authenticate first.

On a device initialised for public key authentication, every card command can unlock
the device with its custodians in its own session, before it runs:
``--pka-custodian R`` once per custodian, in the order they are asked.  R is

* a PC/SC reader name (the first reader whose name contains R, as ``--reader``), or
* ``simulator:PATH``, a simulated custodian card kept in the file PATH (which must
  exist: a custodian card that is not there cannot be opened).

Each custodian card's user PIN comes from ``--custodian-pin-env``: one variable for
every custodian (``VAR``), or one per ``--pka-custodian`` in the same order
(``VAR1,VAR2``); without it each PIN is asked on the terminal.  Each PIN is tried once:
a wrong one stops the command with that card's tries left, and nothing on the device
changes (custodians done before stay authenticated only for this session).  On a PIN's
last try the variable is not sent without ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.cli.device import pcsc_transport
from keymanager.cli.prepared_interaction import PreparedInteraction
from keymanager.cli.prompts import CliError
from keymanager.workflows.interaction import SecretKind, SecretRequest
from keymanager.workflows.pka import custodian_pin_purpose

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.pka import PkaStatus
    from keymanager.card.secure_messaging import SecureMessagingMode
    from keymanager.card.transport import Transport
    from keymanager.workflows.pka import CustodianCard

SIMULATOR_PREFIX = "simulator:"


def pin_variables(arguments: argparse.Namespace) -> list[str] | None:
    """The variable of each custodian's PIN, in order; ``None``: asked on the terminal.

    :raises CliError: as many variables as custodians are needed (or one for all).
    """
    custodians = getattr(arguments, "pka_custodian", None) or []
    given = getattr(arguments, "custodian_pin_env", None)
    if not given:
        return None
    names = [name.strip() for name in given.split(",")]
    if any(not name for name in names):
        raise CliError(f"--custodian-pin-env {given!r}: an empty variable name")
    if len(names) == 1:
        return names * len(custodians)
    if len(names) != len(custodians):
        raise CliError(
            f"--custodian-pin-env names {len(names)} variables for {len(custodians)} "
            "custodian card(s): give one for all, or one per --pka-custodian in order"
        )
    return names


def check_pin_variables(arguments: argparse.Namespace) -> None:
    """Refuse a wrong ``--custodian-pin-env`` before any card is opened."""
    pin_variables(arguments)
    if getattr(arguments, "custodian_pin_env", None) and not getattr(
        arguments, "pka_custodian", None
    ):
        raise CliError("--custodian-pin-env goes with --pka-custodian")


class CustodianInteraction(PreparedInteraction):
    """The custodian PINs: each custodian's variable (found by the request's purpose,
    so a custodian whose PIN is not asked — authenticated already — shifts nothing), or
    the terminal."""

    def __init__(self, variables: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._by_purpose: dict[str, deque[str]] = {}
        for name, variable in variables:
            self._by_purpose.setdefault(custodian_pin_purpose(name), deque()).append(variable)

    def ask_secret(self, request: SecretRequest) -> bytearray:
        if request.kind is SecretKind.USER_PIN:
            queue = self._by_purpose.get(request.purpose)
            if queue:
                self._secret_variables[SecretKind.USER_PIN] = deque([queue.popleft()])
                return super().ask_secret(request)
            self._secret_variables.pop(SecretKind.USER_PIN, None)
            self._require_terminal(f"user PIN for {request.purpose}", "--custodian-pin-env VAR")
        return super().ask_secret(request)


def custodian_transport(name: str) -> Transport:
    """The transport ``--pka-custodian`` names (see the module text).

    :raises CustodianCardUnavailable: no such reader, or no simulated card in PATH.
    """
    from keymanager.workflows.errors import CustodianCardUnavailable

    if name.startswith(SIMULATOR_PREFIX):
        from keymanager.card.transport import LocalTransport
        from keymanager.simulator import SmartCardHsmSimulator

        path = Path(name[len(SIMULATOR_PREFIX) :])
        if not path.is_file():
            raise CustodianCardUnavailable(f"there is no simulated custodian card in {path}")
        return LocalTransport(
            SmartCardHsmSimulator(path), name=f"Simulated custodian card ({path.name})"
        )
    try:
        return pcsc_transport(name)
    except CliError as error:
        raise CustodianCardUnavailable(str(error)) from None


def custodian_cards(
    arguments: argparse.Namespace, mode: SecureMessagingMode
) -> list[CustodianCard]:
    """A :class:`~keymanager.workflows.pka.CustodianCard` per ``--pka-custodian``."""
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.workflows.pka import CustodianCard

    def opener(name: str) -> CustodianCard:
        def open_card() -> SmartCardHsm:
            transport = custodian_transport(name)
            try:
                return SmartCardHsm.open(transport, secure_messaging=mode)
            except BaseException:
                transport.close()
                raise

        return CustodianCard(name, open_card)

    return [opener(name) for name in arguments.pka_custodian]


def authenticate_from_arguments(
    hsm: SmartCardHsm, arguments: argparse.Namespace, mode: SecureMessagingMode
) -> PkaStatus:
    """Authenticate the ``--pka-custodian`` cards on ``hsm`` (messages on stderr)."""
    from keymanager.workflows.pka import authenticate_custodians

    variables = pin_variables(arguments) or []
    interaction = CustodianInteraction(
        list(zip(arguments.pka_custodian, variables, strict=False)),
        assume_yes=bool(getattr(arguments, "yes", False)),
    )
    status = authenticate_custodians(hsm, interaction, custodian_cards(arguments, mode))
    if not status.unlocked:
        print(
            f"keymanager-cli: public key authentication: {status.text}: the device is not "
            "unlocked by its custodians yet",
            file=sys.stderr,
        )
    return status
