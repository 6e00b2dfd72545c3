"""Choosing and opening the card a ``keymanager-cli`` command works on.

``--reader NAME`` picks a PC/SC reader (the first whose name contains NAME, case
insensitive); ``--simulator STATE`` picks the built-in simulated card kept in the
file STATE.  With neither, the built-in simulated card with its default state file is
used, and a note on stderr says so: a command never talks to a real card the user did
not name.  An empty ``--reader`` (``--reader "$READER"`` with the variable unset) is a
usage error, never a quiet fall-back to the simulated card.

The session runs on secure messaging where the card offers it; ``--no-secure-messaging``
(or ``KEYMANAGER_SECURE_MESSAGING=off`` in the environment) keeps it in the clear.

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
"""``off`` turns secure messaging off for every command (the setting of the CLI)."""
NO_SECURE_MESSAGING_HELP = (
    "send PINs and shares in the clear: do not open a secure-messaging channel even "
    f"where the card offers one (also {SECURE_MESSAGING_VARIABLE}=off)"
)


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--reader``, ``--simulator`` and ``--no-secure-messaging`` to a card command."""
    parser.add_argument(
        "--no-secure-messaging",
        action="store_true",
        help=NO_SECURE_MESSAGING_HELP,
    )
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


def _pcsc_transport(wanted: str) -> Transport:
    from keymanager.card import pcsc

    readers = pcsc.list_readers()
    matches = [reader for reader in readers if wanted.lower() in reader.name.lower()]
    if not matches:
        names = ", ".join(repr(reader.name) for reader in readers) or "none"
        raise CliError(f"no reader matches {wanted!r} (readers: {names})")
    return pcsc.PcscTransport(matches[0].name)


def _simulator_transport(state: Path | None) -> Transport:
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
        return _pcsc_transport(reader)
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
    """Open the SmartCard-HSM the arguments name, exclusively, for one command."""
    from keymanager.card.hsm import SmartCardHsm

    mode = secure_messaging_mode(arguments)
    transport = open_transport(arguments)
    try:
        with transport.exclusive():
            yield SmartCardHsm.open(transport, secure_messaging=mode)
    finally:
        transport.close()


def apdu_count(hsm: SmartCardHsm) -> int:
    """How many APDUs the session exchanged so far."""
    return hsm.connection.apdu_count
