"""``keymanager-cli csr``, ``import-cert``, ``rename-key``, ``export-cert``, ``export-pubkey``.

* ``csr --key REF --subject "CN=…,O=…" [--san dns:NAME --san email:ADDR …]
  [--key-usage digitalSignature,keyEncipherment] [--eku serverAuth,…] --out REQ.pem
  [--der] --pin-env VAR``: a PKCS#10 request signed by the card with the key.
* ``import-cert --key REF CERT.pem --pin-env VAR``: store the certificate a CA issued
  for the key (PEM, a PEM chain, or DER), replacing its CV request; a certificate for
  another public key is refused and nothing changes.
* ``rename-key --key REF --label L --pin-env VAR``.
* ``export-cert (--key REF | --ca N) [--out FILE] [--der]`` and
  ``export-pubkey --key REF [--out FILE]``: the file-writing forms of ``export``
  (which they share their output with), plus CA certificates.
* ``data list``, ``data show FID``, ``data export FID --out FILE``, ``data delete FID
  --yes``: the card's data objects (``FID``: the object's file in hex, e.g. ``CF01``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.keys_cli import write_output
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    interaction_for,
    workflow_command,
)


def _card(parser: argparse.ArgumentParser, *, pin: bool = True) -> None:
    add_device_arguments(parser)
    if pin:
        parser.add_argument("--pin-env", metavar="VAR", help="the user PIN")
        add_yes_argument(parser, confirmations=False)  # the PIN's last try
        add_json_argument(parser)


def _split(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(",") if part.strip()]


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``csr``, ``import-cert``, ``rename-key``, ``export-cert``, ``export-pubkey``."""
    csr = subcommands.add_parser(
        "csr", help="create a PKCS#10 certificate request the card signs with a key"
    )
    csr.add_argument("--key", type=int, required=True, metavar="REF", help="key reference")
    csr.add_argument(
        "--subject", default="", help='RFC 4514 subject, e.g. "CN=Signer,O=Example,C=DE"'
    )
    csr.add_argument(
        "--san",
        action="append",
        metavar="TYPE:VALUE",
        help="subject alternative name dns:NAME, email:ADDRESS, ip:ADDRESS or uri:URI (repeat)",
    )
    csr.add_argument(
        "--key-usage",
        action="append",
        metavar="NAMES",
        help="comma-separated: digitalSignature, nonRepudiation, keyEncipherment, "
        "dataEncipherment, keyAgreement, keyCertSign, cRLSign",
    )
    csr.add_argument(
        "--eku",
        "--extended-key-usage",
        dest="eku",
        action="append",
        metavar="NAMES",
        help="comma-separated: serverAuth, clientAuth, codeSigning, emailProtection, "
        "timeStamping, OCSPSigning, or dotted OIDs",
    )
    csr.add_argument("--out", type=Path, required=True, metavar="REQ.pem")
    csr.add_argument("--der", action="store_true", help="write DER instead of PEM")
    csr.add_argument("--force", action="store_true", help="replace an existing file")
    _card(csr)
    csr.set_defaults(handler=_csr)

    imported = subcommands.add_parser(
        "import-cert", help="store the certificate issued for a key (replaces its CV request)"
    )
    imported.add_argument("--key", type=int, required=True, metavar="REF")
    imported.add_argument("certificate", type=Path, metavar="CERT.pem", help="PEM or DER")
    _card(imported)
    imported.set_defaults(handler=_import_cert)

    rename = subcommands.add_parser("rename-key", help="change a key's label")
    rename.add_argument("--key", type=int, required=True, metavar="REF")
    rename.add_argument("--label", required=True)
    _card(rename)
    rename.set_defaults(handler=_rename)

    export_cert = subcommands.add_parser(
        "export-cert", help="export a key's certificate or a CA certificate"
    )
    which = export_cert.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", type=int, metavar="REF", help="the key's certificate")
    which.add_argument("--ca", type=int, metavar="N", help="CA certificate N (CAxx)")
    export_cert.add_argument("--der", action="store_true", help="DER (default PEM)")
    export_cert.add_argument("--out", type=Path, metavar="FILE", help="default: stdout")
    _card(export_cert, pin=False)
    export_cert.set_defaults(handler=_export_cert)

    export_pubkey = subcommands.add_parser(
        "export-pubkey", help="export a key's public key (PEM SubjectPublicKeyInfo)"
    )
    export_pubkey.add_argument("--key", type=int, required=True, metavar="REF")
    export_pubkey.add_argument("--out", type=Path, metavar="FILE", help="default: stdout")
    _card(export_pubkey, pin=False)
    export_pubkey.set_defaults(handler=_export_pubkey)
    _add_data_parsers(subcommands)


def _file_id(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 < value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file identifier (hex, e.g. CF01)")
    return value


def _add_data_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = subcommands.add_parser("data", help="list, show, export or delete data objects")
    actions = data.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the data objects and their descriptions")
    _card(listing)
    listing.set_defaults(handler=_data_list)
    show = actions.add_parser("show", help="a data object's content as hex and text")
    show.add_argument("file", type=_file_id, metavar="FID", help="e.g. CF01")
    _card(show)
    show.set_defaults(handler=_data_show)
    export = actions.add_parser("export", help="write a data object's content to a file")
    export.add_argument("file", type=_file_id, metavar="FID")
    export.add_argument("--out", type=Path, required=True, metavar="FILE")
    _card(export)
    export.set_defaults(handler=_data_export)
    delete = actions.add_parser("delete", help="delete a data object and its description")
    delete.add_argument("file", type=_file_id, metavar="FID")
    add_yes_argument(delete)
    _card(delete)
    delete.set_defaults(handler=_data_delete)


@workflow_command
def _csr(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.csr import (
        RequestContent,
        create_certificate_request,
        parse_alternative_name,
        parse_extended_key_usage,
        parse_key_usage,
        parse_subject,
    )
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.key_objects import write_export

    try:
        content = RequestContent(
            subject=parse_subject(arguments.subject),
            key_usage=parse_key_usage(_split(arguments.key_usage)),
            extended_key_usage=parse_extended_key_usage(_split(arguments.eku)),
            alternative_names=tuple(parse_alternative_name(v) for v in arguments.san or []),
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    if arguments.out.exists() and not arguments.force:
        raise CliError(f"{arguments.out} already exists (--force replaces it); nothing was done")
    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        request = create_certificate_request(hsm, interaction, arguments.key, content)
    write_export(arguments.out, request.encoded(pem=not arguments.der))
    return emit(
        arguments,
        {**request.to_dict(), "file": str(arguments.out)},
        [
            f"Certificate request for key {request.key_reference} ({request.label}): "
            f"{request.subject}, written to {arguments.out}"
        ],
    )


@workflow_command
def _import_cert(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.certificates import import_certificate
    from keymanager.workflows.interaction import SecretKind

    data = arguments.certificate.read_bytes()
    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        result = import_certificate(hsm, interaction, arguments.key, data)
    lines = [
        f"Certificate {result.subject} (issued by {result.issuer}) stored for key "
        f"{result.key_reference} ({result.label})"
    ]
    if result.replaced == "cv-request":
        lines.append("It replaces the CV request the card made when it generated the key.")
    for subject in result.ignored:
        lines.append(f"Not stored (not for this key): {subject}")
    return emit(arguments, result.to_dict(), lines)


@workflow_command
def _rename(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.key_objects import rename_key

    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        result = rename_key(hsm, interaction, arguments.key, arguments.label)
    return emit(
        arguments,
        result.to_dict(),
        [f"Key {result.key_reference} is now called {result.label!r} (was {result.old_label!r})"],
    )


@workflow_command
def _export_cert(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.key_objects import export_ca_certificate
    from keymanager.workflows.keys import export_certificate

    with open_card(arguments) as hsm:
        if arguments.ca is not None:
            data = export_ca_certificate(hsm, arguments.ca, pem=not arguments.der)
        else:
            data = export_certificate(hsm, arguments.key, pem=not arguments.der)
    return write_output(arguments.out, data, binary=arguments.der)


@workflow_command
def _export_pubkey(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.keys import export_public_key

    with open_card(arguments) as hsm:
        data = export_public_key(hsm, arguments.key)
    return write_output(arguments.out, data, binary=False)


@workflow_command
def _data_list(arguments: argparse.Namespace) -> int:
    from keymanager.card.keystore import DCOD_PREFIX, KeyStore, fid

    with open_card(arguments) as hsm:
        objects = KeyStore(hsm).list_data_objects()
    records = [
        {
            "file": f"{info.fid:04X}" if info.fid is not None else None,
            "description": f"{fid(DCOD_PREFIX, info.number):04X}" if info.description else None,
            "label": info.label,
            "application": info.application,
            "private": info.private,
            "problems": list(info.problems),
        }
        for info in objects
    ]
    lines = [
        f"{r['file'] or '----'}  {r['label']}"
        + (f"  ({r['application']})" if r["application"] else "")
        + ("  PIN-protected" if r["private"] else "")
        for r in records
    ] or ["No data objects on the card."]
    return emit(arguments, {"data_objects": records}, lines)


@workflow_command
def _data_show(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.key_objects import describe_bytes, read_data_object

    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        content = read_data_object(hsm, interaction, arguments.file)
    dump, text = describe_bytes(content)
    return emit(
        arguments,
        {"file": f"{arguments.file:04X}", "hex": content.hex().upper(), "text": text},
        [dump] if text is None else [dump, "", text],
    )


@workflow_command
def _data_export(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.key_objects import export_data_object

    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        result = export_data_object(hsm, interaction, arguments.file, arguments.out)
    return emit(
        arguments,
        result.to_dict(),
        [f"Data object {result.label!r} ({result.size} bytes) written to {result.path}"],
    )


@workflow_command
def _data_delete(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.interaction import SecretKind
    from keymanager.workflows.key_objects import delete_data_object

    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        result = delete_data_object(hsm, interaction, arguments.file)
    return emit(
        arguments,
        result.to_dict(),
        [f"Data object {result.label!r} deleted (removed {', '.join(result.removed)})"],
    )
