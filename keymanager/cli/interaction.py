"""The command line's :class:`~keymanager.workflows.interaction.Interaction`.

Answers come first from what the command line prepared (secrets named by
``--…-env VAR`` options, share files given with ``--share``, ``--yes``), then from the
terminal.  A share can also be typed on the terminal by the route the command line
names (:class:`TypedShare`: a PaperKey, n-of-m fragments of a share file's password, a
share file's password), with the share dialog's checks as each line is entered: a
mistyped PaperKey group is named as soon as its line is typed, the n-of-m prime is
entered once and checked to be prime, each fragment is checked at once.  A share given
on the command line that is not accepted stops the command and names the file; a share
typed on the terminal is asked again.

Without a terminal, a question nothing answers is an error that names the option to
use, so scripts fail fast instead of hanging.  Messages and progress go to stderr, so
``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from keymanager.cli.progress import TerminalProgress
from keymanager.cli.prompts import CliError
from keymanager.workflows.interaction import (
    Cancelled,
    Choice,
    FileShareInput,
    Interaction,
    MessageLevel,
    NofMShareInput,
    PaperKeyShareInput,
    SecretKind,
    SecretRequest,
    ShareInput,
    ShareOutcome,
    ShareRequest,
    ShareRoute,
)

T = TypeVar("T")

SECRET_OPTIONS = {
    SecretKind.USER_PIN: "--pin-env",
    SecretKind.NEW_USER_PIN: "--new-pin-env",
    SecretKind.SO_PIN: "--so-pin-env",
    SecretKind.NEW_SO_PIN: "--new-so-pin-env",
    SecretKind.SHARE_PASSWORD: "--share-password-env",
    SecretKind.NEW_SHARE_PASSWORD: "--password-env",
    SecretKind.PKCS12_PASSWORD: "--p12-password-env",
}
"""The option that supplies each kind of secret, for error messages."""


@dataclass(frozen=True)
class TypedShare:
    """A share the command line names by its route, read when the workflow asks for it.

    :param route: how the custodian hands it over.
    :param path: the share file (file and n-of-m routes; ``None``: asked).
    :param password_variable: file route: the environment variable holding the
        password (``None``: typed on the terminal).
    """

    route: ShareRoute
    path: Path | None = None
    password_variable: str | None = None
    option: str = "a share file with its password variable"
    """What to use instead when there is no terminal (for the error message)."""

    @property
    def typed(self) -> bool:
        """Whether anything of it is typed on the terminal (then a refusal asks again)."""
        return self.route is not ShareRoute.FILE or self.password_variable is None

    def describe(self) -> str:
        """How the share is named in messages."""
        if self.route is ShareRoute.PAPERKEY:
            return "the PaperKey typed"
        assert self.path is not None
        return str(self.path)


class CliInteraction(Interaction):
    """Environment variables and prepared answers first, then the terminal."""

    def __init__(
        self,
        *,
        secret_variables: dict[SecretKind, Sequence[str]] | None = None,
        shares: Sequence[ShareInput | TypedShare] = (),
        assume_yes: bool = False,
        numbers: Sequence[int] = (),
        choices: Sequence[str] = (),
        stdin: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self._secret_variables = {
            kind: deque(names) for kind, names in (secret_variables or {}).items()
        }
        self._shares: deque[ShareInput | TypedShare] = deque(shares)
        self._handed: ShareInput | TypedShare | None = None
        """The command line's share handed over last (refused: named, or asked again)."""
        self._assume_yes = assume_yes
        self._numbers = deque(numbers)
        self._choices = deque(choices)
        self._stdin = stdin if stdin is not None else sys.stdin
        self._stderr = stderr if stderr is not None else sys.stderr
        self._progress: dict[str, TerminalProgress] = {}

    # -- helpers -------------------------------------------------------------------------

    def _interactive(self) -> bool:
        return self._stdin.isatty()

    def _require_terminal(self, what: str, option: str) -> None:
        if not self._interactive():
            raise CliError(f"no terminal to ask for the {what}: use {option}")

    def _require_terminal_for(self, question: str) -> None:
        """A question (a whole prompt, not a noun) asked without a terminal."""
        if not self._interactive():
            raise CliError(
                f'no terminal to answer the question "{question.rstrip(": ")}": give the '
                "answer with the command's options"
            )

    def _input(self, prompt: str) -> str:
        self._stderr.write(prompt)
        self._stderr.flush()
        line = self._stdin.readline()
        if not line:
            raise Cancelled("input ended")
        return line.strip()

    # -- Interaction ---------------------------------------------------------------------

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        if self._numbers:
            value = self._numbers.popleft()
        else:
            if default is not None and not self._interactive():
                return default
            self._require_terminal_for(prompt)
            shown = f" [{default}]" if default is not None else ""
            text = self._input(f"{prompt} ({minimum}-{maximum}){shown}: ")
            if not text and default is not None:
                return default
            try:
                value = int(text)
            except ValueError:
                raise CliError(f"{text!r} is not a number") from None
        if not minimum <= value <= maximum:
            raise CliError(f"{prompt}: {value} is not between {minimum} and {maximum}")
        return value

    def _pick(self, answer: str, choices: Sequence[Choice[T]]) -> T:
        for choice in choices:
            if answer.lower() in (choice.label.lower(), str(choice.value).lower()):
                if choice.disabled:
                    raise CliError(f"{choice.label} cannot be chosen: {choice.disabled}")
                return choice.value
        names = ", ".join(choice.label for choice in choices)
        raise CliError(f"{answer!r} is not one of: {names}")

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        if self._choices:
            return self._pick(self._choices.popleft(), choices)
        enabled = [choice for choice in choices if not choice.disabled]
        if len(enabled) == 1 and not self._interactive():
            return enabled[0].value
        self._require_terminal_for(prompt)
        self._stderr.write(f"{prompt}\n")
        for index, choice in enumerate(choices, start=1):
            note = f"  ({choice.disabled})" if choice.disabled else ""
            detail = f" - {choice.detail}" if choice.detail else ""
            self._stderr.write(f"  {index}. {choice.label}{detail}{note}\n")
        text = self._input("Choose a number: ")
        try:
            picked = choices[int(text) - 1]
        except (ValueError, IndexError):
            raise CliError(f"{text!r} is not one of the numbers shown") from None
        if picked.disabled:
            raise CliError(f"{picked.label} cannot be chosen: {picked.disabled}")
        return picked.value

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        enabled = [choice.value for choice in choices if not choice.disabled]
        if self._assume_yes or not self._interactive():
            return enabled
        self._stderr.write(f"{prompt}\n")
        for index, choice in enumerate(choices, start=1):
            note = f"  ({choice.disabled})" if choice.disabled else ""
            self._stderr.write(f"  {index}. {choice.label}{note}\n")
        text = self._input("Numbers separated by spaces, or Enter for all: ")
        if not text:
            return enabled
        picked: list[T] = []
        for word in text.replace(",", " ").split():
            try:
                choice = choices[int(word) - 1]
            except (ValueError, IndexError):
                raise CliError(f"{word!r} is not one of the numbers shown") from None
            if choice.disabled:
                raise CliError(f"{choice.label} cannot be chosen: {choice.disabled}")
            picked.append(choice.value)
        return picked

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        if not self._interactive():
            return default
        text = self._input(f"{prompt}{f' [{default}]' if default else ''}: ")
        return text or default

    def ask_secret(self, request: SecretRequest) -> bytearray:
        if request.retry_reason:
            self.warn(request.retry_reason)
        names = self._secret_variables.get(request.kind)
        if names:
            name = names.popleft()
            value = os.environ.get(name)
            if value is None:
                raise CliError(
                    f"the environment variable {name} (for the {request.kind.value}) is not set"
                )
            if request.tries_left == 1 and not self._assume_yes:
                # a wrong PIN from a script would block it: only with --yes
                raise CliError(
                    f"the {request.kind.value} has 1 try left: a wrong one blocks it, so the "
                    f"{request.kind.value} from {name} is not sent without --yes; nothing was "
                    "changed"
                )
            return bytearray(value.encode())
        option = SECRET_OPTIONS.get(request.kind, "an option")
        self._require_terminal(request.kind.value, f"{option} VAR")
        what = request.kind.value + (f" for {request.purpose}" if request.purpose else "")
        if request.tries_left is not None:
            what += f" ({request.tries_left} {'try' if request.tries_left == 1 else 'tries'} left)"
            if request.tries_left == 1:
                self.warn("This is the last try: a wrong entry blocks it.")
        first = getpass.getpass(f"Enter the {what}: ")
        if request.confirm and getpass.getpass(f"Repeat the {request.kind.value}: ") != first:
            raise CliError(f"the two entries of the {request.kind.value} differ")
        return bytearray(first.encode())

    def ask_share(self, request: ShareRequest) -> ShareInput:
        if self._shares:
            given = self._handed = self._shares.popleft()
            if not isinstance(given, TypedShare):
                return given
            if given.route is ShareRoute.FILE and given.password_variable is not None:
                assert given.path is not None
                value = os.environ.get(given.password_variable)
                if value is None:
                    raise CliError(
                        f"the environment variable {given.password_variable} (for the "
                        f"share-file password of {given.path.name}) is not set"
                    )
                return FileShareInput(given.path, bytearray(value.encode()))
            self._require_terminal(
                f"share {request.number} of {request.total} ({given.route.value})",
                given.option,
            )
            self._stderr.write(
                f"DKEK share {request.number} of {request.total} ({given.route.value})\n"
            )
            return self._read_share(given.route, given.path)
        self._handed = None
        self._require_terminal(
            f"share {request.number} of {request.total}", "--share FILE --share-password-env VAR"
        )
        self._stderr.write(f"DKEK share {request.number} of {request.total}\n")
        route = self.ask_choice(
            "How does this custodian hand over the share?",
            [Choice(route, route.value) for route in request.routes],
        )
        return self._read_share(route, None)

    def share_checked(self, outcome: ShareOutcome) -> None:
        """A refused share from the command line stops with its name; a typed one is
        asked again (the workflow asks for the same share once more)."""
        handed, self._handed = self._handed, None
        if outcome.accepted or handed is None:
            return
        request = outcome.request
        if isinstance(handed, TypedShare) and handed.typed:
            self._shares.appendleft(handed)
            return
        name = handed.describe() if isinstance(handed, TypedShare) else _describe(handed)
        raise CliError(
            f"share {request.number} of {request.total} ({name}) was not accepted: "
            f"{outcome.problem}; nothing was imported"
        )

    # -- shares typed on the terminal ----------------------------------------------------

    def _secret_input(self, prompt: str) -> str:
        """A line typed without echo (``Cancelled`` at the end of the input)."""
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise Cancelled("input ended") from None

    def _read_share(self, route: ShareRoute, path: Path | None) -> ShareInput:
        if route is ShareRoute.PAPERKEY:
            return self._read_paperkey()
        if path is None:
            path = Path(self._input("Share file: "))
        if route is ShareRoute.FILE:
            password = self._secret_input(f"Share-file password of {path.name}: ")
            return FileShareInput(path, bytearray(password.encode()))
        return self._read_n_of_m(path)

    def _read_paperkey(self) -> PaperKeyShareInput:
        """The PaperKey's lines, each checked as soon as it is typed (typed again if not)."""
        from keymanager.dkek.paperkey import GROUP_LENGTH, GROUPS_PER_LINE, LINES
        from keymanager.dkek.paperkey_check import check_line_as_typed, read_as_typed

        self._stderr.write(
            f"Type the {LINES} lines of the PaperKey (not shown; spaces, hyphens and the "
            "line numbers may be left out).\n"
        )
        lines: list[str] = []
        for number in range(1, LINES + 1):
            while True:
                text = self._secret_input(f"PaperKey line {number} of {LINES}: ")
                check = check_line_as_typed(number, text)
                if check.ok:
                    lines.append(read_as_typed(text))
                    break
                problem = check.problem or (
                    f"incomplete: a line has {GROUPS_PER_LINE} groups of {GROUP_LENGTH} characters"
                )
                self.warn(f"PaperKey line {number}: {problem}; type line {number} again")
        return PaperKeyShareInput(lines)

    def _read_number(self, prompt: str, minimum: int, maximum: int) -> int:
        while True:
            text = self._input(f"{prompt} ({minimum}-{maximum}): ")
            if text.isdigit() and minimum <= int(text) <= maximum:
                return int(text)
            self.warn(f"type a number from {minimum} to {maximum}")

    def _read_n_of_m(self, path: Path) -> NofMShareInput:
        """The prime once, then one fragment per custodian, each checked as it is typed."""
        from keymanager.dkek.errors import DkekError
        from keymanager.dkek.nofm import MAX_TOTAL, MIN_THRESHOLD
        from keymanager.dkek.nofm_entry import check_fragment_entry, check_prime_entry

        self._stderr.write(f"The password of {path.name} is rebuilt from n-of-m fragments.\n")
        while True:
            prime_text = self._input("Prime (as printed on the custodians' sheets): ")
            try:
                prime = check_prime_entry(prime_text)
                break
            except DkekError as error:
                self.warn(f"prime: {error}; type it again")
        needed = self._read_number(
            "How many fragments are needed ('Any N of M' on the sheets)",
            MIN_THRESHOLD,
            MAX_TOTAL,
        )
        fragments: list[tuple[str, str]] = []
        seen: set[int] = set()
        while len(fragments) < needed:
            index = len(fragments) + 1
            share_id = self._input(f"Fragment {index} of {needed}: share ID: ")
            value = self._secret_input(f"Fragment {index} of {needed}: share value (hex): ")
            try:
                fragment = check_fragment_entry(share_id, value, prime, seen)
            except DkekError as error:
                self.warn(f"fragment {index}: {error}; type it again")
                continue
            seen.add(fragment.share_id)
            fragments.append((share_id.strip(), value.strip()))
            left = needed - len(fragments)
            self._stderr.write(
                f"Fragment {index} accepted; "
                + (f"{left} more needed.\n" if left else "enough to rebuild the password.\n")
            )
        return NofMShareInput(path, prime_text.strip(), fragments)

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        if self._assume_yes:
            return True
        if not self._interactive():
            raise CliError(f"{message} - confirm with --yes when not on a terminal")
        if destructive:
            return self._input(f"{message}\nType 'yes' to go on: ").lower() == "yes"
        return self._input(f"{message} [y/N]: ").lower() in ("y", "yes")

    def show_secret(self, title: str, text: str) -> None:
        # Secrets shown once go to the terminal only, never into a pipe or a log.
        if not self._interactive():
            raise CliError(f"{title}: this secret is shown once and needs a terminal")
        self._stderr.write(f"\n=== {title} ===\n{text}\n")
        self._input("Press Enter when it has been taken down (the screen is then cleared) ")
        self._stderr.write("\033[2J\033[H")
        self._stderr.flush()

    def message(self, level: MessageLevel, text: str) -> None:
        prefix = "warning: " if level is MessageLevel.WARNING else ""
        self._stderr.write(f"{prefix}{text}\n")
        self._stderr.flush()

    def progress(self, step: str, done: int, total: int) -> None:
        reporter = self._progress.get(step)
        if reporter is None:
            reporter = self._progress[step] = TerminalProgress(step, self._stderr)
        reporter(done, total)
        if total and done >= total:
            reporter.finish()
            del self._progress[step]


def _describe(share: ShareInput) -> str:
    """How a share given ready-made is named in messages."""
    if isinstance(share, FileShareInput | NofMShareInput):
        return str(share.path)
    return "the PaperKey given"
