"""Entry point of ``keymanager-cli``.

Start-up is kept near the interpreter's own: the command modules register their
parsers without importing the card, DKEK or workflow modules (each handler imports
what it uses), so ``--version``, ``--help`` and a usage error load none of them.

The card and output options (``--reader``, ``--simulator``, ``--json``) are accepted
before the command as well as after it (``keymanager-cli --reader X status``).  Given
before, they are merged into the command's own options; a command that does not take
one is a usage error naming it.

Exit status: 0 done, 1 error, 2 usage error, 130 cancelled or interrupted.  With
``--json`` an error is also a JSON document on stdout, see :func:`error_document`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from keymanager.cli import (
    card_commands,
    diagnose,
    key_objects_cli,
    keys_cli,
    p12,
    pin_cli,
    share,
)
from keymanager.cli.device import reader_name
from keymanager.cli.prompts import CliError

PROG = "keymanager-cli"

GLOBAL_OPTIONS = (
    ("--reader", "global_reader", "reader"),
    ("--simulator", "global_simulator", "simulator"),
    ("--json", "global_json", "json"),
)
"""(option, its destination before the command, the command's own destination)."""


class UsageError(Exception):
    """The command line is wrong: reported with the usage and exit status 2."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, asking the terminal for its width once per process.

    argparse makes a formatter for every option it registers, and each asks the
    terminal: a third of building the parser's 250 options.
    """

    _terminal_width: int | None = None

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            if _HelpFormatter._terminal_width is None:
                _HelpFormatter._terminal_width = shutil.get_terminal_size().columns - 2
            width = _HelpFormatter._terminal_width
        super().__init__(prog, indent_increment, max_help_position, width)


class CliParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are raised, not printed.

    ``main`` prints them (also as JSON with ``--json``); subcommand parsers inherit
    the class (and its help formatter, unless they name another).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = CliParser(
        prog=PROG,
        description="Key manager for SmartCard-HSM, Nitrokey HSM 2 and compatible devices.",
    )
    parser.add_argument("--version", action=_VersionAction)
    options = parser.add_argument_group(
        "card and output options",
        "accepted before the command too (keymanager-cli --reader NAME status)",
    )
    device = options.add_mutually_exclusive_group()
    device.add_argument(
        "--reader",
        dest="global_reader",
        metavar="NAME",
        type=reader_name,
        help="use the card in the PC/SC reader whose name contains NAME",
    )
    device.add_argument(
        "--simulator",
        dest="global_simulator",
        metavar="STATE",
        type=Path,
        help="use the built-in simulated card kept in the file STATE",
    )
    options.add_argument(
        "--json", dest="global_json", action="store_true", help="print the result as JSON"
    )
    # subcommand parsers are CliParsers too (the class is inherited); the command
    # modules register them as plain ArgumentParsers
    subcommands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    card_commands.add_parsers(subcommands)
    share.add_parsers(subcommands)
    keys_cli.add_parsers(subcommands)
    key_objects_cli.add_parsers(subcommands)
    pin_cli.add_parsers(subcommands)
    p12.add_parsers(subcommands)
    diagnose.add_parsers(subcommands)
    return parser


class _VersionAction(argparse.Action):
    """``--version``: prints ``keymanager-cli X.Y.Z`` and exits."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from keymanager import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def command_parser(
    parser: argparse.ArgumentParser, arguments: argparse.Namespace
) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``arguments`` were parsed for, e.g. ``domain delete``."""
    current = parser
    while True:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions:
            return current
        name = getattr(arguments, actions[0].dest, None) if actions[0].dest else None
        if name is None or name not in actions[0].choices:
            return current
        current = actions[0].choices[name]


def merge_global_options(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    """Put the options given before the command into the command's namespace.

    Raises :class:`UsageError` for an option the command does not take, one given
    before and after with different values, or ``--reader`` with ``--simulator``.
    """
    command = command_parser(parser, arguments)
    for option, global_dest, dest in GLOBAL_OPTIONS:
        value = getattr(arguments, global_dest)
        delattr(arguments, global_dest)
        if value is None or value is False:
            continue
        if getattr(arguments, "handler", None) is None:
            raise UsageError(parser, f"{option} goes with a command: {PROG} {option} … COMMAND")
        if not hasattr(arguments, dest):
            raise UsageError(command, f"{command.prog} does not take {option}")
        given_after = getattr(arguments, dest)
        if given_after is None or given_after is False:
            setattr(arguments, dest, value)
        elif given_after != value:
            raise UsageError(command, f"{option} given before and after the command")
    if getattr(arguments, "reader", None) is not None and (
        getattr(arguments, "simulator", None) is not None
    ):
        raise UsageError(command, "argument --reader: not allowed with argument --simulator")


INTERRUPTED = (
    "run `keymanager-cli status` (and `keymanager-cli keys`) to see what the card holds "
    "before repeating the command: the last step may not have been done.  An interrupted "
    "generate, restore or import-p12 is repaired the next time one of them runs on this card"
)


def advice_for(error: BaseException) -> str | None:
    """A second line for errors that leave the user wondering what state the card is in."""
    from keymanager.card.errors import CardRemoved, CardReset

    if isinstance(error, CardRemoved):
        return f"the card was removed during the command: insert it again, then {INTERRUPTED}"
    if isinstance(error, CardReset):
        return (
            "the card was reset during the command (by another program or the reader) and "
            f"its PIN verification is gone: {INTERRUPTED}"
        )
    return None


_NOTHING_CHANGED = re.compile(
    r"\bnothing (?:else )?(?:(?:was|is|has been|were) )?"
    r"(?:changed|written|imported|erased|deleted|created|stored|done)\b",
    re.IGNORECASE,
)


def error_origin(error: BaseException) -> BaseException:
    """The error of the layers below that a :class:`CliError` was made from, else ``error``.

    The commands turn workflow, card, DKEK and file errors into a one-line
    :class:`CliError` (``raise CliError(str(error)) from None``), which keeps the
    original as ``__context__``.
    """
    from keymanager.card.errors import CardError
    from keymanager.dkek.errors import DkekError
    from keymanager.workflows.errors import WorkflowError
    from keymanager.workflows.interaction import Cancelled

    if isinstance(error, CliError):
        origin = error.__cause__ or error.__context__
        if isinstance(origin, WorkflowError | CardError | DkekError | Cancelled | OSError):
            return origin
    return error


def nothing_changed(error: BaseException) -> bool | None:
    """Whether the card and files are as before the command; ``None``: not known.

    An error's own ``nothing_changed`` attribute (``True``/``False``) decides; else its
    message does: one that says "nothing was changed" (written, imported, …) means
    ``True``.  Every other error is ``None``: the command may have stopped half-way.
    """
    for candidate in (error, error_origin(error)):
        value = getattr(candidate, "nothing_changed", None)
        if isinstance(value, bool):
            return value
    return True if _NOTHING_CHANGED.search(str(error)) else None


def error_document(kind: str, message: str, changed: bool | None, advice: str | None) -> str:
    """The JSON an error is with ``--json``: ``{"error": {"kind", "message", …}}``."""
    return json.dumps(
        {
            "error": {
                "kind": kind,
                "message": message,
                "nothing_changed": changed,
                "advice": advice,
            }
        },
        indent=2,
    )


def _json_requested(argv: Sequence[str]) -> bool:
    """``--json`` among the options (a usage error may come before it is parsed)."""
    options = list(argv)
    if "--" in options:
        options = options[: options.index("--")]
    return "--json" in options


def _report_usage_error(error: UsageError, as_json: bool) -> NoReturn:
    """Usage and message on stderr (JSON on stdout too), then exit 2 as argparse does."""
    error.parser.print_usage(sys.stderr)
    print(f"{error.parser.prog}: error: {error.message}", file=sys.stderr)
    if as_json:
        print(error_document("usage", error.message, True, None))
    raise SystemExit(2)


def _report(
    arguments: argparse.Namespace, error: BaseException, *, label: str, kind: str | None = None
) -> None:
    text = str(error) or type(error).__name__
    print(f"{PROG}: {label}: {text}", file=sys.stderr)
    advice = advice_for(error)
    if advice is not None:
        print(f"{PROG}: {advice}", file=sys.stderr)
    if getattr(arguments, "json", False):
        kind = kind or type(error_origin(error)).__name__
        print(error_document(kind, text, nothing_changed(error), advice))


def _log_start(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    """One line in the log file: which command started, with which keymanager."""
    import logging

    from keymanager import __version__

    command = command_parser(parser, arguments).prog
    logging.getLogger("keymanager.cli").info("%s (keymanager %s) started", command, __version__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``keymanager-cli`` and return its exit status.

    A usage error (and ``--help``, ``--version``) exits with :class:`SystemExit`, as
    argparse does.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        arguments = parser.parse_args(words)
        merge_global_options(parser, arguments)
    except UsageError as error:
        _report_usage_error(error, _json_requested(words))
    if getattr(arguments, "handler", None) is None:
        parser.print_help()
        return 0
    from keymanager.diagnostics import ensure_logging

    with contextlib.suppress(OSError):  # an unwritable state directory must not stop the CLI
        # No environment summary: it runs `pcscd --version` and reads package metadata,
        # a third of a short command's time.  `keymanager-cli diagnose` shows it.
        ensure_logging(readers=False, summary=False)
    _log_start(parser, arguments)
    try:
        status: int = arguments.handler(arguments)
    except KeyboardInterrupt:
        text = "interrupted; nothing was changed"
        print(f"\n{PROG}: {text}", file=sys.stderr)
        if getattr(arguments, "json", False):
            print(error_document("interrupted", text, True, None))
        return 130
    except Exception as error:
        # The error classes are imported here, not before the command: a command that
        # does not use the workflows does not load them.
        from keymanager.card.errors import CardError
        from keymanager.dkek.errors import DkekError
        from keymanager.workflows.errors import WorkflowError
        from keymanager.workflows.interaction import Cancelled

        if isinstance(error, Cancelled):
            _report(arguments, error, label="cancelled", kind="cancelled")
            return 130
        if isinstance(error, CliError | DkekError | CardError | WorkflowError):
            _report(arguments, error, label="error")
            return 1
        raise
    return status


if __name__ == "__main__":
    sys.exit(main())
