"""Reading secrets for the command line: from an environment variable or a terminal prompt.

Secrets are never taken from the command line itself (it shows up in ``ps`` and in
shell history).  A command that needs one accepts ``--password-env VAR`` (or
``--pin-env VAR``) or asks on the terminal without echo.
"""

from __future__ import annotations

import getpass
import os
import sys


class CliError(Exception):
    """An error the CLI reports as one line and exit status 1."""


def _from_environment(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if value is None:
        raise CliError(f"the environment variable {variable} (for the {what}) is not set")
    return value


def _require_terminal(option: str, what: str) -> None:
    if not sys.stdin.isatty():
        raise CliError(f"no terminal to ask for the {what}: use {option} VAR")


def read_password(variable: str | None, *, what: str = "share-file password") -> bytes:
    """The password of an existing file, from ``variable`` or a prompt."""
    from keymanager.dkek.sharefile import encode_password

    if variable is not None:
        return encode_password(_from_environment(variable, what))
    _require_terminal("--password-env", what)
    return encode_password(getpass.getpass(f"Enter the {what}: "))


def read_new_password(variable: str | None, *, what: str = "share-file password") -> bytes:
    """A new password, from ``variable`` or asked twice on the terminal, checked for length."""
    from keymanager.dkek.sharefile import check_new_password, encode_password

    if variable is not None:
        password = encode_password(_from_environment(variable, what))
    else:
        _require_terminal("--password-env", what)
        first = getpass.getpass(f"Choose the {what}: ")
        second = getpass.getpass(f"Repeat the {what}: ")
        if first != second:
            raise CliError("the two passwords differ; nothing was written")
        password = encode_password(first)
    check_new_password(password)
    return password


def read_pin(variable: str | None, *, what: str = "user PIN", confirm: bool = False) -> str:
    """A PIN from ``variable`` or the terminal (asked twice when ``confirm``)."""
    if variable is not None:
        return _from_environment(variable, what)
    _require_terminal("--pin-env", what)
    first = getpass.getpass(f"Enter the {what}: ")
    if confirm and getpass.getpass(f"Repeat the {what}: ") != first:
        raise CliError(f"the two {what}s differ; nothing was changed")
    return first


def read_so_pin(variable: str | None, *, what: str = "SO-PIN") -> str:
    """An SO-PIN (16 hex digits) from ``variable`` or the terminal."""
    if variable is not None:
        return _from_environment(variable, what)
    _require_terminal("--so-pin-env", what)
    return getpass.getpass(f"Enter the {what} (16 hex digits): ")
