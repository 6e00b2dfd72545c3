"""The interaction of the workflow commands: :class:`CliInteraction` with prepared input.

Two additions to the terminal interaction: secrets read before the workflow starts
(e.g. a new share-file password typed twice at the usual prompt), and share files
named on the command line whose passwords come from ``--password-env`` or the
terminal.  Kept apart from :mod:`keymanager.cli.workflow_support` so that registering
a command's options does not import the workflows.
"""

from __future__ import annotations

import getpass
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keymanager.cli.interaction import CliInteraction
from keymanager.cli.prompts import CliError
from keymanager.workflows.interaction import (
    FileShareInput,
    SecretKind,
    SecretRequest,
    ShareInput,
    ShareRequest,
)


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
        if SecretKind.USER_PIN in self._used and not self._interactive():
            if text.startswith("Wrong PIN:"):
                return  # the next request for the PIN ends the command with this in one line
            if text.startswith("This is the last try") and not self._assume_yes:
                return  # the PIN from the variable is refused in one line (CliInteraction)
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
