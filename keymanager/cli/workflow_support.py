"""What the workflow commands of ``keymanager-cli`` share: interaction, errors and output.

* :func:`interaction_for` builds the command's interaction, a
  :class:`~keymanager.cli.prepared_interaction.PreparedInteraction` (the terminal
  interaction with secrets read beforehand and share files named on the command line).
* :func:`workflow_command` turns the workflow's errors (and a user's cancel) into the
  one-line :class:`~keymanager.cli.prompts.CliError` that ``main`` prints.
* :func:`emit` prints a result as JSON (``--json``) or as lines of text.
* :func:`report_error` prints an error as one line, and with ``--json`` also as a JSON
  document (:func:`error_document`) on stdout.

Only the option helpers are needed while the parsers are registered: the workflow
modules are imported when a command runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from keymanager.cli.prompts import CliError

if TYPE_CHECKING:
    # re-exported for modules that import it from here (see __getattr__)
    from keymanager.cli.prepared_interaction import PreparedInteraction as PreparedInteraction
    from keymanager.workflows.interaction import SecretKind

Handler = Callable[[argparse.Namespace], int]


def __getattr__(name: str) -> Any:
    """``PreparedInteraction``, imported on first use (it needs the workflows)."""
    if name == "PreparedInteraction":
        from keymanager.cli.prepared_interaction import PreparedInteraction

        return PreparedInteraction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def interaction_for(
    arguments: argparse.Namespace,
    secrets: dict[SecretKind, str | None] | None = None,
    **kwargs: Any,
) -> PreparedInteraction:
    """The interaction for a command: ``--…-env`` variables and ``--yes`` from ``arguments``."""
    from keymanager.cli.prepared_interaction import PreparedInteraction

    variables = {kind: [name] for kind, name in (secrets or {}).items() if name}
    return PreparedInteraction(
        secret_variables=variables,
        assume_yes=bool(getattr(arguments, "yes", False)),
        **kwargs,
    )


def workflow_command(handler: Handler) -> Handler:
    """Report workflow errors, cancels and file errors as one line (exit status 1)."""

    @functools.wraps(handler)
    def run(arguments: argparse.Namespace) -> int:
        from keymanager.workflows.errors import WorkflowError
        from keymanager.workflows.interaction import Cancelled

        try:
            return handler(arguments)
        except (WorkflowError, Cancelled) as error:
            raise CliError(str(error)) from None
        except FileExistsError as error:
            raise CliError(f"{error}; nothing was written") from None
        except OSError as error:
            name = f" {error.filename}" if error.filename else ""
            raise CliError(f"cannot use{name}: {error.strerror or error}") from None
        except ValueError as error:
            raise CliError(str(error)) from None

    return run


def emit(arguments: argparse.Namespace, data: dict[str, Any], lines: Sequence[str]) -> int:
    """Print ``data`` as JSON with ``--json``, else ``lines``; return 0."""
    if getattr(arguments, "json", False):
        print(json.dumps(data, indent=2))
    else:
        for line in lines:
            print(line)
    return 0


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """``--json``."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


LAST_TRY_HELP = "send a PIN from a variable also on its last try (a wrong one blocks it)"


def add_yes_argument(parser: argparse.ArgumentParser, *, confirmations: bool = True) -> None:
    """``--yes``: answer confirmations with yes, and send a PIN or SO-PIN from a
    ``--…-env`` variable on its last try too (without it a script's wrong PIN would
    block it); ``confirmations=False`` for a command that asks none.  Nothing is added
    to a parser that has ``--yes`` already."""
    if "--yes" in parser._option_string_actions:
        return
    parser.add_argument(
        "--yes",
        action="store_true",
        help=(
            f"answer confirmations with yes (scripts); also {LAST_TRY_HELP}"
            if confirmations
            else LAST_TRY_HELP
        ),
    )


# -- errors --------------------------------------------------------------------------

INTERRUPTED = (
    "run `keymanager-cli status` (and `keymanager-cli keys`) to see what the card holds "
    "before repeating the command: the last step may not have been done.  An interrupted "
    "generate, restore or import-p12 is repaired the next time one of them runs on this card"
)


def secure_messaging_advice(error: BaseException) -> str | None:
    """The second line for a secure-messaging failure (a broken channel, a card that
    failed chip authentication): what it means for the command, what to check."""
    from keymanager.workflows.secure_messaging import channel_problem

    problem = channel_problem(error_origin(error))
    if problem is None:
        return None
    look = (
        "Run `keymanager-cli status` (and `keymanager-cli keys`) to see what the card "
        "holds before repeating the command"
        if problem.effect_unknown
        else "Run the command again"
    )
    headline = problem.headline[0].lower() + problem.headline[1:]
    effect = problem.effect[0].lower() + problem.effect[1:]
    return f"{headline}: {effect}.  {look}.  {problem.advice}"


def advice_for(error: BaseException) -> str | None:
    """A second line for errors that leave the user wondering what state the card is in."""
    from keymanager.card.errors import CardRemoved, CardReset

    secure_messaging = secure_messaging_advice(error)
    if secure_messaging is not None:
        return secure_messaging
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
    A secure-messaging failure is ``None`` whatever its words: a channel breaks on an
    answer, after the command went out.
    """
    from keymanager.card.secure_messaging import SecureMessagingError

    if isinstance(error_origin(error), SecureMessagingError):
        return None
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


def report_error(
    arguments: argparse.Namespace, error: BaseException, *, label: str, kind: str | None = None
) -> None:
    """Print ``error`` as ``keymanager-cli: LABEL: …`` (and its advice) on stderr; with
    ``--json`` also as the document of :func:`error_document` on stdout."""
    text = str(error) or type(error).__name__
    print(f"keymanager-cli: {label}: {text}", file=sys.stderr)
    advice = advice_for(error)
    if advice is not None:
        print(f"keymanager-cli: {advice}", file=sys.stderr)
    if getattr(arguments, "json", False):
        kind = kind or type(error_origin(error)).__name__
        print(error_document(kind, text, nothing_changed(error), advice))
