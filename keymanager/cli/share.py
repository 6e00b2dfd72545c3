"""``keymanager-cli share``: create, inspect and import DKEK shares.

``share create OUT.pbe [--password-env VAR] [--n-of-m T/N] [--paperkey OUT.pdf]`` runs
the share-creation ceremony (:mod:`keymanager.workflows.ceremony`): a password file, or
a file whose random password is split n-of-m (fragments shown one at a time on the
terminal, or printed with ``--fragments-dir DIR``), and optionally a PaperKey printed
to a PDF.  Random bytes come from the card when ``--reader`` or ``--simulator`` names
one, else from the host.

``share import FILE.pbe --domain D --password-env VAR --pin-env VAR`` imports one
custodian's share into a key domain (checked to be waiting first), verifies the PIN
after the last share and shows the KCV.  ``share import FILE.pbe --n-of-m`` rebuilds
the file's password from fragments typed on the terminal, ``share import --paperkey``
reads a PaperKey typed there (the share dialog's checks as each line is typed).
``share inspect`` decrypts a file and shows its fingerprint.  ``share rotate FILE.pbe``
protects an existing share file anew (custodian rotation,
:mod:`keymanager.workflows.share_rotation`).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.progress import TerminalProgress
from keymanager.cli.prompts import CliError, read_new_password, read_password
from keymanager.cli.workflow_support import (
    add_json_argument,
    emit,
    interaction_for,
    workflow_command,
)

if TYPE_CHECKING:
    from keymanager.cli.interaction import TypedShare


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``share create``, ``share import``, ``share inspect`` and ``share rotate``."""
    share = subcommands.add_parser("share", help="create, inspect and import DKEK shares")
    actions = share.add_subparsers(dest="share_command", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="create a new random DKEK share and save it as a password-protected .pbe file",
        description=(
            "Create a new random 32-byte DKEK share and save it as a password-protected "
            "share file, byte-compatible with sc-hsm-tool and Smart Card Shell.  Each saved "
            "form is read back before the command reports success."
        ),
    )
    create.add_argument("output", metavar="OUT.pbe", help="the share file to write (mode 0600)")
    create.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    create.add_argument(
        "--n-of-m",
        metavar="T/N",
        help="protect the file with a random password split into N fragments, any T of "
        "which rebuild it (instead of --password-env)",
    )
    create.add_argument(
        "--fragments-dir",
        metavar="DIR",
        type=Path,
        help="with --n-of-m: print each fragment to DIR/fragment-I-of-N.pdf instead of "
        "showing them on the terminal",
    )
    create.add_argument(
        "--paperkey",
        metavar="OUT.pdf",
        type=Path,
        help="also print the share as a PaperKey sheet to this PDF (mode 0600)",
    )
    create.add_argument("--force", action="store_true", help="replace existing files")
    add_device_arguments(create)
    add_json_argument(create)
    create.set_defaults(handler=_create)

    inspect = actions.add_parser(
        "inspect",
        help="decrypt a share file and show its fingerprint (the KCV of a DKEK made of it alone)",
    )
    inspect.add_argument("file", metavar="FILE.pbe")
    inspect.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    add_json_argument(inspect)
    inspect.add_argument("--reveal", action="store_true", help="also print the share itself (hex)")
    inspect.set_defaults(handler=_inspect)

    import_ = actions.add_parser(
        "import",
        help="import one custodian's DKEK share (share file, n-of-m fragments or PaperKey) "
        "into a key domain on the card",
        description=(
            "Import a DKEK share into a key domain: from a password-protected share file, "
            "from a share file whose password is rebuilt from n-of-m fragments typed on "
            "the terminal (--n-of-m), or from a PaperKey typed on the terminal "
            "(--paperkey).  The domain must still be waiting for shares (checked before "
            "decrypting); the user PIN is verified before and after the import, and the "
            "card's status (outstanding shares, KCV) is shown."
        ),
    )
    import_.add_argument(
        "file",
        metavar="FILE.pbe",
        type=Path,
        nargs="?",
        help="the share file (not with --paperkey)",
    )
    typed = import_.add_mutually_exclusive_group()
    typed.add_argument(
        "--n-of-m",
        action="store_true",
        help="the file's password is rebuilt from n-of-m fragments typed on the terminal "
        "(the prime once, then each fragment, checked as it is typed)",
    )
    typed.add_argument(
        "--paperkey",
        action="store_true",
        help="type the share as a PaperKey on the terminal (each line checked as it is typed)",
    )
    import_.add_argument("--domain", type=int, default=0, help="key domain (default 0)")
    import_.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    import_.add_argument("--pin-env", metavar="VAR", help="the user PIN")
    import_.add_argument(
        "--yes",
        action="store_true",
        help=(
            "complete a key domain that has no KEK but holds keys without asking (they "
            "become exportable under the new DKEK); a recorded transient-import domain "
            "with keys is refused whatever this says"
        ),
    )
    add_json_argument(import_)
    add_device_arguments(import_)
    import_.set_defaults(handler=_import)

    rotate = actions.add_parser(
        "rotate",
        help="protect an existing share file anew (custodian rotation): a new password or "
        "a new n-of-m split; the share and its fingerprint stay",
        description=(
            "Custodian rotation: open FILE.pbe as it is protected now (its password, or "
            "the threshold of its n-of-m fragments typed on a terminal) and protect the same "
            "share anew in place, under a new password or a new random password split into "
            "a new n-of-m set.  The old password or fragments no longer open the file.  If "
            "anything fails the original file is put back."
        ),
    )
    rotate.add_argument("file", metavar="FILE.pbe", type=Path)
    old = rotate.add_mutually_exclusive_group(required=True)
    old.add_argument(
        "--password-env", metavar="VAR", help="the current password, from this variable"
    )
    old.add_argument(
        "--old-n-of-m",
        action="store_true",
        help="the current password is rebuilt from n-of-m fragments typed on the terminal",
    )
    new = rotate.add_mutually_exclusive_group(required=True)
    new.add_argument(
        "--new-password-env", metavar="VAR", help="protect the file with this new password"
    )
    new.add_argument(
        "--n-of-m",
        metavar="T/N",
        help="protect it with a new random password split into N fragments, any T of "
        "which rebuild it",
    )
    rotate.add_argument(
        "--fragments-dir",
        metavar="DIR",
        type=Path,
        help="with --n-of-m: print each new fragment to DIR/fragment-I-of-N.pdf instead of "
        "showing them on the terminal",
    )
    add_json_argument(rotate)
    rotate.set_defaults(handler=_rotate)


add_parser = add_parsers
"""The name ``main`` registers (kept for compatibility)."""


def _parse_n_of_m(text: str) -> tuple[int, int]:
    threshold, slash, total = text.partition("/")
    try:
        if not slash:
            raise ValueError
        return int(threshold), int(total)
    except ValueError:
        raise CliError(f"--n-of-m takes T/N, e.g. 2/3, not {text!r}") from None


def _new_protection(arguments: argparse.Namespace) -> tuple[bool, int, int, bool]:
    """``(n_of_m, threshold, total, show_fragments)`` of ``--n-of-m`` / ``--fragments-dir``."""
    n_of_m = arguments.n_of_m is not None
    if arguments.fragments_dir is not None and not n_of_m:
        raise CliError("--fragments-dir goes with --n-of-m")
    threshold, total = _parse_n_of_m(arguments.n_of_m) if n_of_m else (2, 3)
    return n_of_m, threshold, total, n_of_m and arguments.fragments_dir is None


@workflow_command
def _create(arguments: argparse.Namespace) -> int:
    from keymanager.dkek.secret import wipe
    from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan, create_share
    from keymanager.workflows.interaction import SecretKind

    output = Path(arguments.output)
    if arguments.n_of_m is not None and arguments.password_env:
        raise CliError("use either --password-env or --n-of-m")
    n_of_m, threshold, total, show_fragments = _new_protection(arguments)
    if show_fragments and not sys.stdin.isatty():
        raise CliError(
            "n-of-m fragments are shown one at a time on a terminal; "
            "use --fragments-dir DIR to print them instead"
        )
    try:
        plan = ShareCreationPlan(
            share_file=output,
            protection=FileProtection.N_OF_M if n_of_m else FileProtection.PASSWORD,
            threshold=threshold,
            total=total,
            paperkey=arguments.paperkey is not None,
            paperkey_pdf=arguments.paperkey,
            show_paperkey=False,
            show_fragments=show_fragments,
            fragment_pdf_dir=arguments.fragments_dir,
            overwrite=arguments.force,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    for path in plan.output_files():
        if path.exists() and not arguments.force:
            raise CliError(f"{path} already exists; use --force to replace it")
    if arguments.fragments_dir is not None:
        arguments.fragments_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    prepared = {}
    if not n_of_m:
        prepared[SecretKind.NEW_SHARE_PASSWORD] = [
            bytearray(read_new_password(arguments.password_env))
        ]
    interaction = interaction_for(arguments, prepared_secrets=prepared)
    try:
        with ExitStack() as stack:
            hsm = None
            if arguments.reader or arguments.simulator:
                hsm = stack.enter_context(open_card(arguments))
            result = create_share(interaction, plan, hsm=hsm)
    finally:
        for values in prepared.values():
            wipe(*values)
    lines = [f"New DKEK share written to {output}"]
    if result.total:
        lines.append(f"Password split {result.threshold} of {result.total} (prime {result.prime})")
        lines.extend(f"Fragment printed to {path}" for path in result.fragment_pdfs)
    if result.paperkey_pdf:
        lines.append(f"PaperKey printed to {result.paperkey_pdf}")
    lines.append(f"Share fingerprint (KCV of this share alone): {result.fingerprint}")
    data = result.to_dict()
    return emit(arguments, data, lines)


def _inspect(arguments: argparse.Namespace) -> int:
    from keymanager.dkek.dkek import format_kcv, share_fingerprint
    from keymanager.dkek.secret import wipe
    from keymanager.dkek.sharefile import decrypt_share, read_share_file

    try:
        data = read_share_file(arguments.file)
    except OSError as error:
        raise CliError(f"cannot read {arguments.file}: {error.strerror}") from None
    password = bytearray(read_password(arguments.password_env))
    progress = TerminalProgress("Decrypting the share (key derivation)")
    try:
        share = decrypt_share(data, password, progress=progress)
    finally:
        progress.finish()
        wipe(password)
    try:
        result = {
            "file": arguments.file,
            "kcv": format_kcv(share_fingerprint(share)),
        }
        if arguments.reveal:
            result["share"] = share.hex().upper()
    finally:
        wipe(share)
    if arguments.json:
        print(json.dumps(result))
    else:
        print(f"Share file             : {result['file']}")
        print(f"KCV (this share alone) : {result['kcv']}")
        if "share" in result:
            print(f"Share                  : {result['share']}")
    sys.stdout.flush()
    return 0


def _share_to_import(arguments: argparse.Namespace) -> TypedShare:
    """The share ``share import`` was told to import, by its route."""
    from keymanager.cli.interaction import TypedShare
    from keymanager.workflows.interaction import ShareRoute

    if arguments.paperkey:
        if arguments.file is not None or arguments.password_env:
            raise CliError("--paperkey takes no share file and no --password-env")
        return TypedShare(ShareRoute.PAPERKEY, option="a share file (FILE.pbe --password-env VAR)")
    if arguments.file is None:
        raise CliError("give the share file FILE.pbe, or --paperkey to type a PaperKey")
    if arguments.n_of_m:
        if arguments.password_env:
            raise CliError("use either --password-env or --n-of-m")
        return TypedShare(ShareRoute.N_OF_M, arguments.file, option="--password-env VAR")
    return TypedShare(
        ShareRoute.FILE, arguments.file, arguments.password_env, option="--password-env VAR"
    )


@workflow_command
def _import(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error, result_once_for
    from keymanager.dkek.sharefile import read_share_file
    from keymanager.workflows.ceremony import import_shares
    from keymanager.workflows.interaction import SecretKind

    share = _share_to_import(arguments)
    if share.path is not None:
        try:
            read_share_file(share.path)
        except OSError as error:
            raise CliError(f"cannot read {share.path}: {error.strerror}") from None
    interaction = result_once_for(
        arguments, {SecretKind.USER_PIN: arguments.pin_env}, shares=[share]
    )
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        # a refused share from the command line stops (named); a typed one is asked again
        result = import_shares(hsm, interaction, arguments.domain, count=1)
    interaction.take_results()  # the lines below say it (printed once)
    data = result.to_dict()
    data["file"] = None if share.path is None else str(share.path)
    [imported] = result.imported
    lines = [
        f"Share {imported.number} of {imported.shares_total} imported into key domain "
        f"{result.domain} (share fingerprint {imported.fingerprint})."
    ]
    if result.shares_outstanding:
        lines.append(
            f"{result.shares_outstanding} of {result.shares_total} share(s) still outstanding."
        )
    elif result.kcv is None:
        lines.append("All shares imported.  The KCV is hidden by the card.")
    else:
        lines.append(f"All shares imported.  DKEK KCV: {result.kcv}")
    return emit(arguments, data, lines)


@workflow_command
def _rotate(arguments: argparse.Namespace) -> int:
    from keymanager.dkek.secret import wipe
    from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan
    from keymanager.workflows.interaction import (
        FileShareInput,
        NofMShareInput,
        SecretKind,
        ShareRoute,
    )
    from keymanager.workflows.share_rotation import rotate_share_file

    path: Path = arguments.file
    n_of_m, threshold, total, show_fragments = _new_protection(arguments)
    if (show_fragments or arguments.old_n_of_m) and not sys.stdin.isatty():
        raise CliError(
            "n-of-m fragments are typed and shown on a terminal; use --password-env and "
            "--fragments-dir DIR to run without one"
        )
    try:
        plan = ShareCreationPlan(
            share_file=path,
            protection=FileProtection.N_OF_M if n_of_m else FileProtection.PASSWORD,
            threshold=threshold,
            total=total,
            show_fragments=show_fragments,
            fragment_pdf_dir=arguments.fragments_dir,
            overwrite=True,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    if arguments.fragments_dir is not None:
        arguments.fragments_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    prepared = {}
    if not n_of_m:
        prepared[SecretKind.NEW_SHARE_PASSWORD] = [
            bytearray(read_new_password(arguments.new_password_env, what="new share-file password"))
        ]
    interaction = interaction_for(arguments, prepared_secrets=prepared)
    old: FileShareInput | NofMShareInput
    try:
        if arguments.old_n_of_m:
            typed = interaction._read_share(ShareRoute.N_OF_M, path)
            assert isinstance(typed, NofMShareInput)
            old = typed
        else:
            old = FileShareInput(path, bytearray(read_password(arguments.password_env)))
        result = rotate_share_file(interaction, old, plan)
    finally:
        for values in prepared.values():
            wipe(*values)
    lines = [
        f"{path} protected anew ({plan.protection.value}; the old {result.old_protection} "
        "no longer opens it)"
    ]
    if result.saved.total:
        lines.append(
            f"Password split {result.saved.threshold} of {result.saved.total} "
            f"(prime {result.saved.prime})"
        )
        lines.extend(f"Fragment printed to {pdf}" for pdf in result.saved.fragment_pdfs)
    lines.append(f"Share fingerprint (unchanged): {result.fingerprint}")
    return emit(arguments, result.to_dict(), lines)
