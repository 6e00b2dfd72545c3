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
import atexit
import contextlib
import gc
import importlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from keymanager.cli.ceremony_cli import ceremony_options, ceremony_session
from keymanager.cli.device import reader_name
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import error_document, report_error

PROG = "keymanager-cli"

GLOBAL_OPTIONS = (
    ("--reader", "global_reader", "reader"),
    ("--simulator", "global_simulator", "simulator"),
    ("--json", "global_json", "json"),
    ("--no-secure-messaging", "global_no_secure_messaging", "no_secure_messaging"),
)
"""(option, its destination before the command, the command's own destination)."""

COMMAND_MODULES = {
    "card_commands": ("readers", "status", "keys", "init", "domain", "audit"),
    "share": ("share",),
    "keys_cli": ("backup", "restore", "generate", "delete", "export"),
    "key_objects_cli": (
        "csr",
        "import-cert",
        "rename-key",
        "export-cert",
        "export-pubkey",
        "data",
    ),
    "pin_cli": ("pin",),
    "p12": ("import-p12",),
    "diagnose": ("diagnose",),
    "pka_cli": ("pka",),
    "group_cli": ("group", "migrate"),
    "ceremony_cli": ("ceremony",),
}
"""The modules of :mod:`keymanager.cli` that register commands, in ``--help`` order,
with the commands each registers.  A command line naming one command needs only its
module's parsers (building all 38 takes several milliseconds, argparse being slow to
make parsers); a test checks the table against what the modules register."""

_OPTIONS_WITH_VALUE = ("--reader", "--simulator")


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


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered (only those of ``modules``,
    names of :data:`COMMAND_MODULES`, when given)."""
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
    options.add_argument(
        "--no-secure-messaging",
        dest="global_no_secure_messaging",
        action="store_true",
        help="send PINs and shares in the clear (no secure-messaging channel)",
    )
    ceremony = parser.add_argument_group(
        "key ceremony options",
        "accepted anywhere on the command line (or as KEYMANAGER_CEREMONY and "
        "KEYMANAGER_ACTOR): record this card-changing command in the ceremony record",
    )
    ceremony.add_argument(
        "--ceremony", dest="_ceremony", metavar="RECORD", help="the ceremony record (JSON Lines)"
    )
    ceremony.add_argument(
        "--as", dest="_actor", metavar="NAME", help="the participant who acts (as recorded)"
    )
    # subcommand parsers are CliParsers too (the class is inherited); the command
    # modules register them as plain ArgumentParsers
    subcommands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    for name in COMMAND_MODULES:
        if modules is None or name in modules:
            module = importlib.import_module(f"keymanager.cli.{name}")
            module.add_parsers(subcommands)
    return parser


def command_module(words: Sequence[str]) -> str | None:
    """The module registering the command ``words`` name; ``None``: build every one.

    ``None`` also when help or the version is asked before the command (the help lists
    every command) or the command is not known.
    """
    value_follows = False
    for word in words:
        if value_follows:
            value_follows = False
            continue
        if word in ("-h", "--help", "--version", "--"):
            return None
        if word in _OPTIONS_WITH_VALUE:
            value_follows = True
            continue
        if word.startswith("-"):
            continue
        return next((name for name, names in COMMAND_MODULES.items() if word in names), None)
    return None


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
    before and after with different values, ``--reader`` with ``--simulator``, or one
    the command takes only without another given (``--json`` with ``audit --csv``).
    """
    command = command_parser(parser, arguments)
    merged: list[tuple[str, str]] = []
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
            merged.append((option, dest))
        elif given_after != value:
            raise UsageError(command, f"{option} given before and after the command")
    for option, dest in merged:
        _check_exclusive(command, arguments, option, dest)
    if getattr(arguments, "reader", None) is not None and (
        getattr(arguments, "simulator", None) is not None
    ):
        raise UsageError(command, "argument --reader: not allowed with argument --simulator")


def _check_exclusive(
    command: argparse.ArgumentParser, arguments: argparse.Namespace, option: str, dest: str
) -> None:
    """A usage error when ``option`` (given before the command) is in one of the
    command's mutually exclusive groups with an option given after it."""
    for group in command._mutually_exclusive_groups:
        actions = group._group_actions
        if not any(action.dest == dest for action in actions):
            continue
        for other in actions:
            if other.dest != dest and getattr(arguments, other.dest, None) not in (None, False):
                raise UsageError(
                    command,
                    f"argument {option}: not allowed with argument {other.option_strings[0]}",
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


def _log_start(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    """One line in the log file: which command started, with which keymanager."""
    import logging

    from keymanager import __version__

    command = command_parser(parser, arguments).prog
    logging.getLogger("keymanager.cli").info("%s (keymanager %s) started", command, __version__)


GC_START_THRESHOLD = 50_000
"""Allocations between young-generation collections while a command runs as a process
(Python's default: 700).  Start-up creates tens of thousands of long-lived objects
(modules, classes, functions); collecting them again and again took about 5 % of
``keys`` on the simulated card.  Garbage cycles are still collected, only less often."""


def _start_process() -> None:
    """Tune the garbage collector for a short-lived process (see GC_START_THRESHOLD)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_START_THRESHOLD, older, oldest)
    # Everything alive at exit is frozen, so the interpreter's last collection does not
    # walk it all once more (about 8 % of `keys`); memory goes back with the process.
    atexit.register(gc.freeze)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``keymanager-cli`` and return its exit status.

    A usage error (and ``--help``, ``--version``) exits with :class:`SystemExit`, as
    argparse does.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # run as the program (the console script), not called by a test
        _start_process()
    module = command_module(words)
    record: Path | None = None
    actor: str | None = None
    if module != "ceremony_cli":  # `ceremony close --as` names the signer
        try:
            record, actor, words = ceremony_options(words)
        except CliError as error:
            report_error(argparse.Namespace(json=_json_requested(words)), error, label="error")
            return 1
    parser = build_parser(None if module is None else [module])
    try:
        try:
            arguments = parser.parse_args(words)
        except UsageError:
            if module is None:
                raise
            # e.g. an abbreviated option whose value looked like the command: the
            # parser with every command decides
            parser = build_parser()
            arguments = parser.parse_args(words)
        merge_global_options(parser, arguments)
    except UsageError as error:
        _report_usage_error(error, _json_requested(words))
    if getattr(arguments, "handler", None) is None:
        parser.print_help()
        return 0
    from keymanager.log_file import ensure_logging

    with contextlib.suppress(OSError):  # an unwritable state directory must not stop the CLI
        # No environment summary: it runs `pcscd --version` and reads package metadata,
        # a third of a short command's time.  `keymanager-cli diagnose` shows it.
        ensure_logging(readers=False, summary=False)
    _log_start(parser, arguments)
    try:
        session = ceremony_session(record, actor, getattr(arguments, "command", None))
        if session is None:
            status: int = arguments.handler(arguments)
        else:
            from keymanager.workflows.ceremony_session import recording

            with recording(session):
                status = arguments.handler(arguments)
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
            report_error(arguments, error, label="cancelled", kind="cancelled")
            return 130
        if isinstance(error, CliError | DkekError | CardError | WorkflowError):
            report_error(arguments, error, label="error")
            return 1
        raise
    return status


if __name__ == "__main__":
    sys.exit(main())
