"""``keymanager-cli backup``, ``restore``, ``generate``, ``delete`` and ``export``.

* ``backup --key REF --out FILE.wky --pin-env VAR``: the key, its PRKD and certificate
  in sc-hsm-tool's ``--wrap-key`` format (mode 0600).
* ``restore FILE.wky [--key REF] [--no-export] --pin-env VAR``: KCV checked against the
  card's key domains first; a free key reference unless ``--key`` names one.
* ``generate (rsa:BITS | ec:CURVE | aes:BITS) --label L [--domain D] [--algorithms HEX]
  [--no-export] --pin-env VAR``.
* ``delete --key REF --pin-env VAR --yes``.
* ``export --key REF (--certificate [--der] | --public-key) [--out FILE]``.

``--no-export`` seals the key: its allowed-algorithm list lacks WRAP, so the card
refuses every later export (backup) of it (a sealed restore asks for the DKEK shares:
the blob is re-encoded on the host).

``restore`` and ``generate`` first finish any key operation an earlier run could not
(card pulled out): see :func:`keymanager.workflows.keys.recover_interrupted`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    workflow_command,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from keymanager.cli.result_once import ResultOnceInteraction
    from keymanager.workflows.keys import KeyJournal

ALGORITHMS_HELP = (
    "allowed algorithm ids in hex, e.g. 707392 (70 ECDSA, 73 ECDSA-SHA256, 92 wrap); "
    "ids: 20 RSA raw, 21-23 RSA decrypt (raw, PKCS#1, OAEP), 30-35 RSA PKCS#1 (31-35 "
    "with SHA-1/224/256/384/512), 40-45 RSA-PSS (41-45 with a hash), 70 ECDSA, 71-75 "
    "ECDSA-SHA1/224/256/384/512, 80 ECDH, 92 wrap (needed for backup), 10/11 AES-CBC "
    "encrypt/decrypt, 18 AES-CMAC, 99 AES derive; PKCS#11 applications use 20-23, 40 "
    "and 70, 80, not the hash-specific ids; default: any"
)


def _common(parser: argparse.ArgumentParser, *, pin: bool = True) -> None:
    add_device_arguments(parser)
    if pin:
        parser.add_argument("--pin-env", metavar="VAR", help="the user PIN")
        add_yes_argument(parser, confirmations=False)  # the PIN's last try
    add_json_argument(parser)


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``backup``, ``restore``, ``generate``, ``delete`` and ``export``."""
    backup = subcommands.add_parser(
        "backup", help="back a key up to a .wky file (as sc-hsm-tool --wrap-key)"
    )
    backup.add_argument("--key", type=int, required=True, metavar="REF", help="key reference")
    backup.add_argument("--out", type=Path, required=True, metavar="FILE.wky")
    backup.add_argument("--force", action="store_true", help="replace an existing file")
    _common(backup)
    backup.set_defaults(handler=_backup)

    restore = subcommands.add_parser(
        "restore", help="restore a key from a .wky file (ours or sc-hsm-tool's)"
    )
    restore.add_argument("file", type=Path, metavar="FILE.wky")
    restore.add_argument("--key", type=int, metavar="REF", help="key reference (default: free)")
    restore.add_argument("--label", help="label, when the backup carries no description")
    _add_no_export(restore)
    add_yes_argument(restore)
    _common(restore)
    restore.set_defaults(handler=_restore)

    generate = subcommands.add_parser("generate", help="generate an RSA, EC or AES key")
    generate.add_argument(
        "algorithm", metavar="ALGORITHM", help="rsa:BITS, ec:CURVE (e.g. ec:prime256v1) or aes:BITS"
    )
    generate.add_argument("--label", required=True)
    generate.add_argument("--domain", type=int, help="key domain (default: the card's choice)")
    generate.add_argument(
        "--algorithms",
        metavar="HEX",
        help=ALGORITHMS_HELP,
    )
    generate.add_argument("--key", type=int, metavar="REF", help="key reference (default: free)")
    _add_no_export(generate)
    _common(generate)
    generate.set_defaults(handler=_generate)

    delete = subcommands.add_parser("delete", help="delete a key with its certificate")
    delete.add_argument("--key", type=int, required=True, metavar="REF")
    add_yes_argument(delete)
    _common(delete)
    delete.set_defaults(handler=_delete)

    export = subcommands.add_parser("export", help="export a key's certificate or public key")
    export.add_argument("--key", type=int, required=True, metavar="REF")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--certificate", action="store_true", help="the X.509 certificate")
    what.add_argument("--public-key", action="store_true", help="the public key (PEM)")
    export.add_argument("--der", action="store_true", help="certificate in DER (default PEM)")
    export.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    add_device_arguments(export)
    export.set_defaults(handler=_export)


def _add_no_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="seal the key: the card must never export it (no WRAP in its algorithm list)",
    )


def _result_interaction(arguments: argparse.Namespace) -> ResultOnceInteraction:
    """The interaction of a key command whose result is printed once (by :func:`_emit`)."""
    from keymanager.cli.result_once import ResultOnceInteraction
    from keymanager.workflows.interaction import SecretKind

    pin = arguments.pin_env
    return ResultOnceInteraction(
        secret_variables={SecretKind.USER_PIN: [pin]} if pin else {},
        assume_yes=bool(getattr(arguments, "yes", False)),
    )


@contextlib.contextmanager
def _flushed_on_error(interaction: ResultOnceInteraction) -> Iterator[None]:
    """A message held back when the workflow fails is written after all."""
    try:
        yield
    except BaseException:
        interaction.flush()
        raise


def _emit(
    arguments: argparse.Namespace,
    interaction: ResultOnceInteraction,
    data: dict[str, object],
    fallback: str,
) -> int:
    """Print the result once: JSON, or the workflow's own result line on stdout."""
    said = interaction.take_result()
    return emit(arguments, data, [said or fallback])


def _journal() -> KeyJournal:
    from keymanager.workflows.keys import KeyJournal, default_journal_dir

    return KeyJournal(default_journal_dir())


@workflow_command
def _backup(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.keys import backup_key

    interaction = _result_interaction(arguments)
    with _flushed_on_error(interaction), open_card(arguments) as hsm:
        result = backup_key(
            hsm, interaction, arguments.key, arguments.out, overwrite=arguments.force
        )
    return _emit(
        arguments,
        interaction,
        result.to_dict(),
        f"Key {result.key_reference} ({result.label}) backed up to {result.file}; "
        f"DKEK KCV {result.blob_kcv}",
    )


@workflow_command
def _restore(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.keys import recover_interrupted, restore_key

    interaction = _result_interaction(arguments)
    journal = _journal()
    with _flushed_on_error(interaction), open_card(arguments) as hsm:
        recover_interrupted(hsm, interaction, journal)
        result = restore_key(
            hsm,
            interaction,
            arguments.file,
            key_reference=arguments.key,
            label=arguments.label,
            journal=journal,
            seal=arguments.no_export,
        )
    return _emit(
        arguments,
        interaction,
        result.to_dict(),
        f"Key restored into reference {result.key_reference}: {result.label} ({result.kind})",
    )


@workflow_command
def _generate(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.keys import KeyAlgorithm, generate_key, recover_interrupted

    try:
        algorithm = KeyAlgorithm.parse(arguments.algorithm)
        allowed = bytes.fromhex(arguments.algorithms) if arguments.algorithms else None
    except ValueError as error:
        raise CliError(str(error)) from None
    interaction = _result_interaction(arguments)
    journal = _journal()
    with _flushed_on_error(interaction), open_card(arguments) as hsm:
        recover_interrupted(hsm, interaction, journal)
        result = generate_key(
            hsm,
            interaction,
            algorithm,
            arguments.label,
            domain=arguments.domain,
            allowed_algorithms=allowed,
            key_reference=arguments.key,
            journal=journal,
            seal=arguments.no_export,
        )
    return _emit(
        arguments,
        interaction,
        result.to_dict(),
        f"Generated {result.algorithm} key {result.label!r} in reference "
        f"{result.key_reference} (ID {result.key_id})",
    )


@workflow_command
def _delete(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.keys import delete_key

    interaction = _result_interaction(arguments)
    with _flushed_on_error(interaction), open_card(arguments) as hsm:
        result = delete_key(hsm, interaction, arguments.key)
    return _emit(
        arguments,
        interaction,
        result.to_dict(),
        f"Deleted key {result.key_reference} ({result.label})",
    )


@workflow_command
def _export(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.keys import export_certificate, export_public_key

    with open_card(arguments) as hsm:
        if arguments.certificate:
            data = export_certificate(hsm, arguments.key, pem=not arguments.der)
        else:
            data = export_public_key(hsm, arguments.key)
    return write_output(arguments.out, data, binary=arguments.der and arguments.certificate)


def write_output(out: Path | None, data: bytes, *, binary: bool) -> int:
    """Write an export to ``out`` (atomically) or to stdout (``binary``: DER); return 0."""
    from keymanager.dkek.fileio import write_private_file

    if out is not None:
        write_private_file(out, data)
        print(f"Written to {out}", file=sys.stderr)
    elif binary:
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(data.decode("ascii"))
    return 0
