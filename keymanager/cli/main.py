"""Entry point of ``keymanager-cli``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from keymanager import __version__
from keymanager.card.errors import CardError, CardRemoved, CardReset
from keymanager.cli import (
    card_commands,
    diagnose,
    key_objects_cli,
    keys_cli,
    p12,
    pin_cli,
    share,
)
from keymanager.cli.prompts import CliError
from keymanager.dkek.errors import DkekError
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Cancelled


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="keymanager-cli",
        description="Key manager for SmartCard-HSM, Nitrokey HSM 2 and compatible devices.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    card_commands.add_parsers(subcommands)
    share.add_parser(subcommands)
    keys_cli.add_parsers(subcommands)
    key_objects_cli.add_parsers(subcommands)
    pin_cli.add_parsers(subcommands)
    p12.add_parsers(subcommands)
    diagnose.add_parsers(subcommands)
    return parser


INTERRUPTED = (
    "run `keymanager-cli status` (and `keymanager-cli keys`) to see what the card holds "
    "before repeating the command: the last step may not have been done.  An interrupted "
    "generate, restore or import-p12 is repaired the next time one of them runs on this card"
)


def advice_for(error: BaseException) -> str | None:
    """A second line for errors that leave the user wondering what state the card is in."""
    if isinstance(error, CardRemoved):
        return f"the card was removed during the command: insert it again, then {INTERRUPTED}"
    if isinstance(error, CardReset):
        return (
            "the card was reset during the command (by another program or the reader) and "
            f"its PIN verification is gone: {INTERRUPTED}"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``keymanager-cli`` and return its exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    from keymanager.diagnostics import ensure_logging

    with contextlib.suppress(OSError):  # an unwritable state directory must not stop the CLI
        ensure_logging(readers=False)
    if getattr(arguments, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        status: int = arguments.handler(arguments)
    except (CliError, DkekError, CardError, WorkflowError) as error:
        print(f"keymanager-cli: error: {error}", file=sys.stderr)
        advice = advice_for(error)
        if advice is not None:
            print(f"keymanager-cli: {advice}", file=sys.stderr)
        return 1
    except Cancelled as error:
        print(f"keymanager-cli: cancelled: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nkeymanager-cli: interrupted; nothing was changed", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
