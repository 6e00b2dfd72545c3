"""``keymanager-cli share``: create and inspect password-protected DKEK share files."""

from __future__ import annotations

import argparse
import json
import os
import sys

from keymanager.cli.progress import TerminalProgress
from keymanager.cli.prompts import CliError, read_new_password, read_password
from keymanager.dkek.dkek import format_kcv, share_fingerprint
from keymanager.dkek.secret import wipe
from keymanager.dkek.sharefile import (
    decrypt_share,
    encrypt_share,
    read_share_file,
    write_share_file,
)


def add_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``share create`` and ``share inspect``."""
    share = subcommands.add_parser("share", help="create and inspect DKEK share files")
    actions = share.add_subparsers(dest="share_command", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="create a new random DKEK share and save it as a password-protected .pbe file",
        description=(
            "Create a new random 32-byte DKEK share and save it as a password-protected "
            "share file, byte-compatible with sc-hsm-tool and Smart Card Shell.  The file "
            "is read back and decrypted before the command reports success."
        ),
    )
    create.add_argument("output", metavar="OUT.pbe", help="the share file to write (mode 0600)")
    create.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    create.add_argument("--force", action="store_true", help="replace an existing file")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    create.set_defaults(handler=_create)

    inspect = actions.add_parser(
        "inspect",
        help="decrypt a share file and show its fingerprint (the KCV of a DKEK made of it alone)",
    )
    inspect.add_argument("file", metavar="FILE.pbe")
    inspect.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    inspect.add_argument("--json", action="store_true", help="print the result as JSON")
    inspect.add_argument("--reveal", action="store_true", help="also print the share itself (hex)")
    inspect.set_defaults(handler=_inspect)

    import_ = actions.add_parser(
        "import",
        help="decrypt a share file and import the share into a key domain on the card",
        description=(
            "Import a DKEK share from a password-protected share file into a key domain. "
            "The domain must still be waiting for shares; the card's status after the "
            "import (outstanding shares, KCV) is shown."
        ),
    )
    import_.add_argument("file", metavar="FILE.pbe")
    import_.add_argument("--domain", type=int, default=0, help="key domain (default 0)")
    import_.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable"
    )
    import_.add_argument(
        "--pin-env",
        metavar="VAR",
        help="verify the user PIN from this variable first (needed by some devices)",
    )
    import_.add_argument("--json", action="store_true", help="print the result as JSON")
    from keymanager.cli.device import add_device_arguments

    add_device_arguments(import_)
    import_.set_defaults(handler=_import)


def _create(arguments: argparse.Namespace) -> int:
    if os.path.exists(arguments.output) and not arguments.force:
        raise CliError(f"{arguments.output} already exists; use --force to replace it")
    password = bytearray(read_new_password(arguments.password_env))
    share = bytearray(os.urandom(32))
    try:
        progress = TerminalProgress("Encrypting the share (key derivation)")
        encrypted = encrypt_share(share, password, progress=progress)
        progress.finish()
        write_share_file(arguments.output, encrypted, overwrite=arguments.force)
        progress = TerminalProgress("Reading the share back")
        read_back = decrypt_share(read_share_file(arguments.output), password, progress=progress)
        progress.finish()
        try:
            if read_back != share:
                raise CliError(f"{arguments.output} did not read back correctly; do not use it")
        finally:
            wipe(read_back)
        fingerprint = format_kcv(share_fingerprint(share))
    finally:
        wipe(share, password)
    if arguments.json:
        print(json.dumps({"file": arguments.output, "fingerprint": fingerprint}))
    else:
        print(f"New DKEK share written to {arguments.output}")
        print(f"Share fingerprint (KCV of this share alone): {fingerprint}")
    return 0


def _inspect(arguments: argparse.Namespace) -> int:
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


def _import(arguments: argparse.Namespace) -> int:
    from keymanager.cli.device import open_card
    from keymanager.cli.prompts import read_pin

    try:
        data = read_share_file(arguments.file)
    except OSError as error:
        raise CliError(f"cannot read {arguments.file}: {error.strerror}") from None
    with open_card(arguments) as hsm:
        if arguments.pin_env:
            hsm.verify_pin(read_pin(arguments.pin_env))
        before = hsm.key_domain_status(arguments.domain)
        if before is None:
            raise CliError(f"key domain {arguments.domain} is empty: create it first")
        if before.shares_outstanding == 0:
            raise CliError(
                f"key domain {arguments.domain} expects no more shares "
                f"({before.shares_total} of {before.shares_total} imported)"
            )
        password = bytearray(read_password(arguments.password_env))
        progress = TerminalProgress("Decrypting the share (key derivation)")
        try:
            share = decrypt_share(data, password, progress=progress)
        finally:
            progress.finish()
            wipe(password)
        try:
            fingerprint = format_kcv(share_fingerprint(share))
            after = hsm.import_dkek_share(bytes(share), arguments.domain)
        finally:
            wipe(share)
    kcv = format_kcv(after.kcv) if after.kcv is not None else None
    result = {
        "file": arguments.file,
        "domain": arguments.domain,
        "share_fingerprint": fingerprint,
        "shares_total": after.shares_total,
        "shares_outstanding": after.shares_outstanding,
        "kcv": kcv if after.shares_outstanding == 0 else None,
    }
    if arguments.json:
        print(json.dumps(result))
        return 0
    print(f"Share imported into key domain {arguments.domain} (share fingerprint {fingerprint}).")
    if after.shares_outstanding:
        print(f"{after.shares_outstanding} of {after.shares_total} share(s) still outstanding.")
    elif kcv is None:
        print("All shares imported.  The KCV is hidden until login: run status --pin-env VAR.")
    else:
        print(f"All shares imported.  DKEK KCV: {kcv}")
    return 0
