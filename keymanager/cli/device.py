"""Choosing and opening the card a ``keymanager-cli`` command works on.

``--reader NAME`` picks a PC/SC reader (the first whose name contains NAME, case
insensitive); ``--simulator STATE`` picks the built-in simulated card kept in the
file STATE.  With neither, the built-in simulated card with its default state file is
used, and a note on stderr says so: a command never talks to a real card the user did
not name.  An empty ``--reader`` (``--reader "$READER"`` with the variable unset) is a
usage error, never a quiet fall-back to the simulated card.

The session runs on secure messaging where the card offers it; ``--no-secure-messaging``
(or ``KEYMANAGER_SECURE_MESSAGING=off`` in the environment) keeps it in the clear.

``--pka-custodian R`` (repeatable) authenticates custodian cards on a device initialised
for public key authentication, in the command's own session before it runs (see
:mod:`keymanager.cli.custodians`): R names a PC/SC reader as ``--reader`` does, or
``simulator:PATH`` a simulated custodian card kept in PATH.  ``--custodian-pin-env``
names the variable of their PINs.

Nothing of the card stack is imported until a card is opened: registering the
options costs nothing at start-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.cli.prompts import CliError

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.secure_messaging import SecureMessagingMode
    from keymanager.card.transport import Transport

EMPTY_READER = (
    "the reader name is empty (an unset variable?): name the reader, "
    "`keymanager-cli readers` lists them"
)


def reader_name(text: str) -> str:
    """``--reader``'s value: any non-empty text (argparse turns a refusal into a usage error)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(EMPTY_READER)
    return text


def default_simulator_state() -> Path:
    """Where the built-in simulated card keeps its state between runs."""
    from keymanager.paths import state_directory

    return state_directory() / "simulated-card.json"


SECURE_MESSAGING_VARIABLE = "KEYMANAGER_SECURE_MESSAGING"
"""``off`` turns secure messaging off for every command (the setting of the CLI): the
card layer's :data:`~keymanager.card.secure_messaging.MODE_VARIABLE`, spelt out here so
that building the parser imports nothing of the card stack."""
NO_SECURE_MESSAGING_HELP = (
    "send PINs and shares in the clear: do not open a secure-messaging channel even "
    f"where the card offers one (also {SECURE_MESSAGING_VARIABLE}=off)"
)


def pka_numbers(text: str) -> tuple[int, int]:
    """``init --pka N/M``: (N total custodian keys, M required)."""
    total, slash, required = text.partition("/")
    try:
        numbers = (int(total), int(required))
    except ValueError:
        numbers = (0, 0)
    if not slash or not 1 <= numbers[1] <= numbers[0] <= 90:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give N/M, N custodian keys (1 to 90) of which M (1 to N) unlock "
            "the device, e.g. 3/2"
        )
    return numbers


def custodian_name(text: str) -> str:
    """``--pka-custodian``'s value: a reader name or ``simulator:PATH``, not empty."""
    if not text.strip() or text.strip() == "simulator:":
        raise argparse.ArgumentTypeError(
            "the custodian card is empty (an unset variable?): name its reader, or "
            "simulator:PATH for a simulated custodian card"
        )
    return text


def add_custodian_arguments(parser: argparse.ArgumentParser) -> None:
    """``--pka-custodian R`` (repeatable) and ``--custodian-pin-env VAR[,VAR…]``."""
    parser.add_argument(
        "--pka-custodian",
        action="append",
        metavar="R",
        type=custodian_name,
        help="authenticate this custodian card first (public key authentication): R is "
        "a reader name, or simulator:PATH; repeat it for each custodian",
    )
    parser.add_argument(
        "--custodian-pin-env",
        metavar="VAR",
        help="the custodian cards' user PINs: one variable for all, or VAR1,VAR2,… one "
        "per --pka-custodian in order (default: asked on the terminal)",
    )


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--reader``, ``--simulator``, ``--no-secure-messaging`` and the custodian
    options (:func:`add_custodian_arguments`) to a card command."""
    parser.add_argument(
        "--no-secure-messaging",
        action="store_true",
        help=NO_SECURE_MESSAGING_HELP,
    )
    add_custodian_arguments(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--reader",
        metavar="NAME",
        type=reader_name,
        help="use the card in the PC/SC reader whose name contains NAME",
    )
    group.add_argument(
        "--simulator",
        metavar="STATE",
        type=Path,
        help="use the built-in simulated card kept in the file STATE (created if missing)",
    )


def check_card_for_ceremony(simulated: bool) -> None:
    """Refuse a real card in a rehearsal and a simulated card in a real ceremony."""
    module = sys.modules.get("keymanager.workflows.ceremony_session")
    session = None if module is None else module.current_session()
    if session is None:
        return
    if session.rehearsal and not simulated:
        raise CliError(
            f"{session.record} is a rehearsal: it takes simulated cards only (--simulator); "
            "nothing was changed"
        )
    if not session.rehearsal and simulated:
        raise CliError(
            f"{session.record} records a real ceremony: a simulated card cannot take part "
            "(start a rehearsal with `ceremony start --rehearse`); nothing was changed"
        )


def pcsc_transport(wanted: str) -> Transport:
    """The transport of the first PC/SC reader whose name contains ``wanted``."""
    check_card_for_ceremony(simulated=False)
    from keymanager.card import pcsc

    readers = pcsc.list_readers()
    matches = [reader for reader in readers if wanted.lower() in reader.name.lower()]
    if not matches:
        names = ", ".join(repr(reader.name) for reader in readers) or "none"
        raise CliError(f"no reader matches {wanted!r} (readers: {names})")
    return pcsc.PcscTransport(matches[0].name)


def _simulator_transport(state: Path | None) -> Transport:
    check_card_for_ceremony(simulated=True)
    from keymanager.card.transport import LocalTransport
    from keymanager.simulator import SmartCardHsmSimulator

    if state is None:
        state = default_simulator_state()
        print(
            f"keymanager-cli: using the built-in simulated card ({state}); "
            "--reader NAME picks a real card, `keymanager-cli readers` lists them",
            file=sys.stderr,
        )
    state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return LocalTransport(SmartCardHsmSimulator(state), name=f"Simulated card ({state.name})")


def open_transport(arguments: argparse.Namespace) -> Transport:
    """The transport the arguments name."""
    reader: str | None = getattr(arguments, "reader", None)
    if reader is not None:
        if not reader.strip():  # callers that build the namespace themselves
            raise CliError(EMPTY_READER)
        return pcsc_transport(reader)
    return _simulator_transport(getattr(arguments, "simulator", None))


def secure_messaging_mode(arguments: argparse.Namespace) -> SecureMessagingMode:
    """``OFF`` with ``--no-secure-messaging`` or the variable set to ``off``, else ``AUTO``."""
    from keymanager.card.secure_messaging import SecureMessagingMode, mode_from_environment

    try:
        mode = mode_from_environment()
    except ValueError as error:
        raise CliError(str(error)) from None
    if getattr(arguments, "no_secure_messaging", False):
        return SecureMessagingMode.OFF
    return mode


@contextmanager
def open_card(arguments: argparse.Namespace) -> Iterator[SmartCardHsm]:
    """Open the SmartCard-HSM the arguments name, exclusively, for one command.

    With ``--pka-custodian`` the custodian cards authenticate on the session first.
    """
    from keymanager.card.hsm import SmartCardHsm

    mode = secure_messaging_mode(arguments)
    custodians = getattr(arguments, "pka_custodian", None)
    if custodians:
        from keymanager.cli.custodians import check_pin_variables

        check_pin_variables(arguments)  # before the card is opened
    transport = open_transport(arguments)
    try:
        with transport.exclusive():
            hsm = SmartCardHsm.open(transport, secure_messaging=mode)
            if custodians:
                from keymanager.cli.custodians import authenticate_from_arguments

                authenticate_from_arguments(hsm, arguments, mode)
            yield hsm
    finally:
        transport.close()


def apdu_count(hsm: SmartCardHsm) -> int:
    """How many APDUs the session exchanged so far."""
    return hsm.connection.apdu_count
