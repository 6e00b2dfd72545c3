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
