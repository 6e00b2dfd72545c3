"""``keymanager-cli import-p12``: import keys and certificates from a PKCS#12 file.

::

    keymanager-cli import-p12 FILE --p12-password-env VAR --pin-env VAR
        (--transient | [--domain D] [--no-export] SHARE [SHARE ...])
        [--yes] [--json] [--reader NAME | --simulator STATE]

    SHARE: --share FILE.pbe [--share-password-env VAR] | --share-n-of-m FILE.pbe
           | --share-paperkey

With shares the classic import runs: the shares (in the order given, each by its
route: a share file with its password from ``--share-password-env`` or typed; a share
file whose password is rebuilt from n-of-m fragments typed on the terminal; a PaperKey
typed on the terminal) make up the DKEK of key domain D (default 0), and their KCV is
compared with the card's before any key is touched.  The PKCS#12 file is opened and
checked (its password, keys the card can hold) before any share is decrypted.  A share
file that is refused (a wrong password) is named and the command stops; a share typed
on the terminal is asked again.  Every key of the file is imported, each proven by its
test signature.  With ``--transient`` a one-off
key domain is created and its KEK deleted afterwards; each key is sealed (its
algorithm list lacks WRAP, and the card refuses a WRAP attempt before the import
reports it): the card refuses to export it.  ``--no-export`` seals the keys of a classic
import the same way (a transient import always seals).

Before anything else the command cleans up what an interrupted import left on this
card (it asks, or ``--yes`` agrees).  Secrets come from the environment variables
named or the terminal, never from the command line.  Exit status 0 when every chosen
key was imported and its test signature verified; otherwise 1 with a one-line reason
on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.prompts import CliError

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.cli.interaction import TypedShare
    from keymanager.workflows.import_p12 import Pkcs12ImportResult, RecoveryResult
    from keymanager.workflows.interaction import Interaction, SecretKind
    from keymanager.workflows.pkcs12 import Pkcs12Contents


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``import-p12``."""
    parser = subcommands.add_parser(
        "import-p12",
        help="import keys and certificates from a PKCS#12 (.p12/.pfx) file",
        description=(
            "Import the keys and certificates of a PKCS#12 file.  Either with the DKEK "
            "shares of a key domain (--share, classic) or through a transient key domain "
            "whose KEK is deleted afterwards (--transient)."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the .p12 / .pfx file")
    parser.add_argument(
        "--p12-password-env", metavar="VAR", help="the PKCS#12 file's password is in VAR"
    )
    parser.add_argument("--pin-env", metavar="VAR", help="the user PIN is in VAR")
    parser.add_argument(
        "--transient",
        action="store_true",
        help="import through a one-off key domain (no shares; keys never exportable)",
    )
    parser.set_defaults(shares=[])
    parser.add_argument(
        "--share",
        action=_ShareAction,
        dest="shares",
        const=_FILE,
        type=Path,
        metavar="FILE.pbe",
        help="a DKEK share file of the key domain, with its password (repeat the --share "
        "options once per share, in order)",
    )
    parser.add_argument(
        "--share-n-of-m",
        action=_ShareAction,
        dest="shares",
        const=_N_OF_M,
        type=Path,
        metavar="FILE.pbe",
        help="a DKEK share file whose password is rebuilt from n-of-m fragments typed on "
        "the terminal",
    )
    parser.add_argument(
        "--share-paperkey",
        action=_ShareAction,
        dest="shares",
        const=_PAPERKEY,
        nargs=0,
        help="a DKEK share typed on the terminal as a PaperKey",
    )
    parser.add_argument(
        "--share-password-env",
        action="append",
        metavar="VAR",
        default=[],
        help="the password of the corresponding --share file is in VAR (one per --share; "
        "none: each password is asked on the terminal)",
    )
    parser.add_argument(
        "--domain", type=int, default=0, metavar="D", help="key domain of the shares (default 0)"
    )
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="classic import: seal each key, the card must never export it (--transient "
        "always seals)",
    )
    parser.add_argument("--yes", action="store_true", help="answer confirmations with yes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_device_arguments(parser)
    parser.set_defaults(handler=run_import_p12)


_FILE, _N_OF_M, _PAPERKEY = "file", "n-of-m", "paperkey"


class _ShareAction(argparse.Action):
    """Append (route, FILE) to ``shares``: the --share options keep their order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        shares = [*(getattr(namespace, self.dest, None) or []), (self.const, values or None)]
        setattr(namespace, self.dest, shares)


def _prepared_shares(arguments: argparse.Namespace) -> list[TypedShare]:
    """The shares the command line names, in order, each by its route.

    A share file's password comes from the next ``--share-password-env`` (one per
    ``--share``), or, when none is given, is typed on the terminal.  Every share file
    is checked to be readable, every variable to be set, before anything is decrypted.
    """
    from keymanager.cli.interaction import TypedShare
    from keymanager.dkek.sharefile import read_share_file
    from keymanager.workflows.interaction import ShareRoute

    sources: list[tuple[str, Path | None]] = arguments.shares
    files = [path for route, path in sources if route == _FILE]
    variables: list[str] = arguments.share_password_env
    if (variables or not sys.stdin.isatty()) and len(variables) != len(files):
        raise CliError(
            f"give one --share-password-env per --share ({len(files)} share file(s), "
            f"{len(variables)} password variable(s))"
        )
    for variable, path in zip(variables, files, strict=True):
        if os.environ.get(variable) is None:
            assert path is not None
            raise CliError(f"the environment variable {variable} (for {path.name}) is not set")
    routes = {_FILE: ShareRoute.FILE, _N_OF_M: ShareRoute.N_OF_M, _PAPERKEY: ShareRoute.PAPERKEY}
    remaining = list(variables)
    shares: list[TypedShare] = []
    for route, path in sources:
        if path is not None:
            try:
                read_share_file(path)
            except OSError as error:
                raise CliError(f"cannot read {path}: {error.strerror or error}") from None
        password_variable = remaining.pop(0) if route == _FILE and remaining else None
        shares.append(
            TypedShare(routes[route], path, password_variable, option="--share-password-env VAR")
        )
    return shares


def _open_checked(interaction: Interaction, path: Path) -> Pkcs12Contents:
    """Open the PKCS#12 file and check the card can hold something of it (before any
    share is decrypted: a share file's key derivation takes seconds)."""
    from keymanager.workflows.import_p12 import ask_and_open

    contents = ask_and_open(interaction, path)
    try:
        contents.check_importable()
    except BaseException:
        contents.forget()
        raise
    return contents


def _verify_pin_from_environment(hsm: SmartCardHsm, variable: str | None) -> None:
    """Verify the PIN once from VAR so a wrong PIN gives one clear line (no retry loop)."""
    from keymanager.card.errors import WrongPin

    if variable is None:
        return
    value = os.environ.get(variable)
    if value is None:
        raise CliError(f"the environment variable {variable} (for the user PIN) is not set")
    try:
        hsm.verify_pin(value)
    except WrongPin as error:
        raise CliError(
            f"wrong user PIN, {error.tries_left} "
            f"{'try' if error.tries_left == 1 else 'tries'} left; nothing was changed"
        ) from None
    except ValueError as error:
        raise CliError(f"{error}; nothing was changed") from None


def _recovery_lines(recovery: RecoveryResult) -> list[str]:
    if not recovery.found:
        return []
    if recovery.declined:
        return ["An interrupted earlier import left things on this card; they were kept."]
    lines = ["Cleaned up an interrupted earlier import:"]
    if recovery.keys_rolled_back:
        lines.append(f"  unfinished keys removed at references {recovery.keys_rolled_back}")
    if recovery.ca_rolled_back:
        lines.append(f"  unfinished CA certificates removed: {recovery.ca_rolled_back}")
    lines.extend(f"  {note}" for note in recovery.notes)
    return lines


def _failure_reason(result: Pkcs12ImportResult) -> str:
    if result.kek_deleted is False:
        return (
            f"the transient KEK of key domain {result.domain} could not be deleted; it is "
            "removed on the next connection to this card"
        )
    failed = [key for key in result.keys if not key.ok]
    if failed:
        return f"{len(failed)} of {len(result.keys)} key(s) not imported: {failed[0].error}"
    broken = [ca for ca in result.ca_certificates if not ca.ok]
    if broken:
        return f"CA certificate {broken[0].label} not stored: {broken[0].error}"
    errors = [file.error for file in result.files if file.error]
    if errors:
        return errors[0]
    return "nothing was imported"


def run_import_p12(arguments: argparse.Namespace) -> int:
    """The ``import-p12`` handler: 0 on success, 1 with a one-line reason on stderr."""
    from keymanager.card.errors import CardError
    from keymanager.cli.workflow_support import report_error
    from keymanager.dkek.errors import DkekError
    from keymanager.workflows.errors import WorkflowError
    from keymanager.workflows.interaction import Cancelled

    try:
        return _run(arguments)
    except (CliError, WorkflowError, CardError, DkekError) as error:
        report_error(arguments, error, label="error")  # with --json a JSON document too
        return 1
    except Cancelled as error:
        report_error(arguments, error, label="cancelled", kind="cancelled")
        return 130


def _run(arguments: argparse.Namespace) -> int:
    from keymanager.cli.interaction import CliInteraction
    from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.plugins.transient_import import recover_leftovers, transient_import

    if not arguments.transient and not arguments.shares:
        raise CliError("give --transient, or the key domain's shares with --share FILE.pbe")
    if arguments.transient and arguments.shares:
        raise CliError("--transient takes no shares (--share, --share-n-of-m, --share-paperkey)")
    if arguments.transient and arguments.share_password_env:
        raise CliError("--share-password-env belongs to --share, not to --transient")
    shares = [] if arguments.transient else _prepared_shares(arguments)
    secret_variables: dict[SecretKind, Sequence[str]] = {}
    if arguments.p12_password_env:
        secret_variables[SecretKind.PKCS12_PASSWORD] = [arguments.p12_password_env]
    if arguments.pin_env:
        secret_variables[SecretKind.USER_PIN] = [arguments.pin_env]
    interaction = CliInteraction(
        secret_variables=secret_variables,
        shares=shares,
        assume_yes=arguments.yes,
        numbers=[len(shares)] if shares else [],
    )
    journal = ImportJournal()
    output: dict[str, Any] = {}
    with open_card(arguments) as hsm:
        _verify_pin_from_environment(hsm, arguments.pin_env)
        recovery = recover_leftovers(hsm, interaction, journal)
        output["recovery"] = recovery.to_json()
        if arguments.transient:
            result = transient_import(
                hsm, interaction, path=arguments.file, journal=journal, offer_more=False
            )
        else:
            result = import_pkcs12(
                hsm,
                interaction,
                domain=arguments.domain,
                path=arguments.file,
                journal=journal,
                offer_more=False,
                seal=arguments.no_export,
                opened=_open_checked(interaction, arguments.file),
            )
    output["import"] = result.to_json()
    if arguments.json:
        print(json.dumps(output, indent=2))
    else:
        for line in [*_recovery_lines(recovery), *result.summary()]:
            print(line)
    if not result.ok:
        print(f"keymanager-cli: error: {_failure_reason(result)}", file=sys.stderr)
        return 1
    return 0
