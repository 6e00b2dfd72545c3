"""What the workflow commands of ``keymanager-cli`` share: interaction, errors and output.

* :class:`PreparedInteraction` is the CLI's interaction with two additions: secrets
  read before the workflow starts (e.g. a new share-file password typed twice at the
  usual prompt), and share files named on the command line whose passwords come from
  ``--password-env`` or the terminal.
* :func:`workflow_command` turns the workflow's errors (and a user's cancel) into the
  one-line :class:`~keymanager.cli.prompts.CliError` that ``main`` prints.
* :func:`emit` prints a result as JSON (``--json``) or as lines of text.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keymanager.cli.interaction import CliInteraction
from keymanager.cli.prompts import CliError
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import (
    Cancelled,
    FileShareInput,
    SecretKind,
    SecretRequest,
    ShareInput,
    ShareRequest,
)

Handler = Callable[[argparse.Namespace], int]


class PreparedInteraction(CliInteraction):
    """:class:`CliInteraction` plus secrets read beforehand and share files by name."""

    def __init__(
        self,
        *,
        prepared_secrets: dict[SecretKind, Sequence[bytearray]] | None = None,
        share_files: Sequence[tuple[Path, str | None]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._prepared = {kind: deque(values) for kind, values in (prepared_secrets or {}).items()}
        self._share_files = deque(share_files)
        self._used: dict[SecretKind, str] = {
            kind: names[0]
            for kind, names in (kwargs.get("secret_variables") or {}).items()
            if names
        }
        self._last_warning = ""

    def ask_secret(self, request: SecretRequest) -> bytearray:
        values = self._prepared.get(request.kind)
        if values:
            return bytearray(values.popleft())
        names = self._secret_variables.get(request.kind)
        if not names and request.kind in self._used and not self._interactive():
            # The variable's value was refused (a wrong PIN): say so in one line
            # instead of asking a terminal that is not there.
            reason = self._last_warning.rstrip(".") or f"the {request.kind.value} was refused"
            if request.retry_reason and request.tries_left is not None:
                tries = request.tries_left
                reason = (
                    f"wrong {request.kind.value}: {tries} {'try' if tries == 1 else 'tries'} left"
                )
            raise CliError(
                f"{reason} (the {request.kind.value} from {self._used[request.kind]}); "
                "nothing was changed"
            )
        return super().ask_secret(request)

    def warn(self, text: str) -> None:
        self._last_warning = text
        super().warn(text)

    def ask_share(self, request: ShareRequest) -> ShareInput:
        if not self._share_files:
            return super().ask_share(request)
        path, variable = self._share_files.popleft()
        if variable is not None:
            value = os.environ.get(variable)
            if value is None:
                raise CliError(
                    f"the environment variable {variable} (for the share-file password) is not set"
                )
        else:
            self._require_terminal("share-file password", "--password-env VAR")
            value = getpass.getpass(f"Enter the share-file password of {path.name}: ")
        return FileShareInput(path, bytearray(value.encode()))


def interaction_for(
    arguments: argparse.Namespace,
    secrets: dict[SecretKind, str | None] | None = None,
    **kwargs: Any,
) -> PreparedInteraction:
    """The interaction for a command: ``--…-env`` variables and ``--yes`` from ``arguments``."""
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
