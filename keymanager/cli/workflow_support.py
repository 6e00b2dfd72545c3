"""What the workflow commands of ``keymanager-cli`` share: interaction, errors and output.

* :func:`interaction_for` builds the command's interaction, a
  :class:`~keymanager.cli.prepared_interaction.PreparedInteraction` (the terminal
  interaction with secrets read beforehand and share files named on the command line).
* :func:`workflow_command` turns the workflow's errors (and a user's cancel) into the
  one-line :class:`~keymanager.cli.prompts.CliError` that ``main`` prints.
* :func:`emit` prints a result as JSON (``--json``) or as lines of text.

Only the option helpers are needed while the parsers are registered: the workflow
modules are imported when a command runs.
"""

from __future__ import annotations

import argparse
import functools
import json
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


def add_yes_argument(parser: argparse.ArgumentParser) -> None:
    """``--yes``."""
    parser.add_argument(
        "--yes", action="store_true", help="answer confirmations with yes (scripts)"
    )
