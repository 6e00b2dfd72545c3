"""``keymanager-cli readers``, ``status``, ``keys``, ``init``, ``domain`` and ``audit``.

The card as people see it, its initialisation and its key domains.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.cli.device import add_device_arguments, open_card, pka_numbers
from keymanager.cli.group_cli import (
    add_group_file_argument,
    add_status_members,
    group_file_option,
    member_line,
    no_group_domain_line,
)
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    interaction_for,
    workflow_command,
)

if TYPE_CHECKING:
    from keymanager.card.domain_registry import DomainRecord
    from keymanager.card.hsm import KeyDomainSlot, PinStatus, SmartCardHsm
    from keymanager.card.keystore import KeyInfo
    from keymanager.cli.result_once import ResultOnceInteraction
    from keymanager.workflows.device import InitPlan, KeyDomainResult
    from keymanager.workflows.xkek_leave import XkekDomainDeleted


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the card commands."""
    readers = subcommands.add_parser("readers", help="list PC/SC readers and the cards in them")
    readers.add_argument("--json", action="store_true", help="print the result as JSON")
    readers.set_defaults(handler=_readers)

    status = subcommands.add_parser(
        "status", help="show the device, the PIN state and the key domains with their KCVs"
    )
    add_device_arguments(status)
    status.add_argument(
        "--pin-env",
        metavar="VAR",
        help="verify the user PIN from this variable first (some devices hide KCVs until then)",
    )
    add_yes_argument(status, confirmations=False)  # the last try of a PIN from --pin-env
    add_group_file_argument(status)
    status.add_argument("--json", action="store_true", help="print the result as JSON")
    status.set_defaults(handler=_status)

    keys = subcommands.add_parser("keys", help="list the keys on the card")
    add_device_arguments(keys)
    keys.add_argument("--pin-env", metavar="VAR", help="verify the user PIN from this variable")
    add_yes_argument(keys, confirmations=False)  # the last try of a PIN from --pin-env
    keys.add_argument("--json", action="store_true", help="print the result as JSON")
    keys.set_defaults(handler=_keys)

    _add_init_parser(subcommands)
    _add_domain_parser(subcommands)
    _add_audit_parser(subcommands)


# -- readers -------------------------------------------------------------------------


def _readers(arguments: argparse.Namespace) -> int:
    from keymanager.card import pcsc

    readers = pcsc.list_readers()
    if arguments.json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "card": r.has_card,
                        "atr": r.atr.hex().upper() if r.atr else None,
                    }
                    for r in readers
                ]
            )
        )
        return 0
    if not readers:
        print("No PC/SC readers.  Plug one in, or use the built-in simulator (--simulator).")
    for reader in readers:
        card = f"card present, ATR {reader.atr.hex().upper()}" if reader.has_card else "no card"
        print(f"{reader.name}: {card}")
    return 0


# -- status --------------------------------------------------------------------------


def _pin_text(status: PinStatus) -> str:
    return status.describe()


def _domain_record(
    slot: KeyDomainSlot, record: DomainRecord | None, *, pin_verified: bool
) -> dict[str, Any]:
    from keymanager.dkek.dkek import format_kcv
    from keymanager.workflows.outline import domain_without_dkek

    status = slot.status
    if status is None:
        return {"domain": slot.number, "type": "empty"}
    kcv: str | None
    if status.shares_outstanding > 0:
        kcv = None
    else:
        kcv = format_kcv(status.kcv) if status.kcv is not None else None
    no_dkek = domain_without_dkek(status, record, pin_verified=pin_verified)
    hidden = status.kcv is None and status.shares_outstanding == 0 and not no_dkek
    if status.uid and pin_verified:
        hidden = False  # an XKEK domain's zero KCV with the PIN verified: no KEK derived yet
    return {
        "domain": slot.number,
        "type": "XKEK" if status.uid else "DKEK",
        "shares_total": status.shares_total,
        "shares_outstanding": status.shares_outstanding,
        "kcv": kcv,
        "kcv_hidden": hidden,
        "no_dkek": no_dkek,
        "uid": status.uid.hex().upper() if status.uid else None,
    }


def collect_status(hsm: SmartCardHsm, transport_name: str) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    from keymanager.card.cvc import DeviceCertificate, unreadable_identity_text
    from keymanager.card.domain_registry import read_registry
    from keymanager.card.errors import CardError, NoKeyDomainSupport
    from keymanager.card.hsm_types import PinState

    record: dict[str, Any] = {
        "reader": transport_name,
        "version": f"{hsm.info.version[0]}.{hsm.info.version[1]}",
        "options": hsm.info.options,
        "secure_messaging": hsm.secure_messaging.status.value,
        "secure_messaging_text": hsm.secure_messaging.text,
    }
    try:
        device = DeviceCertificate.parse(hsm.device_certificates())
        record["serial"] = device.serial
        record["device_chr"] = device.chr
        identity = device.identity()
        record["genuine"] = identity.text
        record["device_verdict"] = identity.verdict.value
        record["device_issuer"] = identity.issuer
    except CardError as error:
        record["serial"] = None
        record["genuine"] = unreadable_identity_text(error)
        record["device_verdict"] = None
        record["device_issuer"] = None
    pin_status = hsm.pin_status()
    record["pin"] = _pin_text(pin_status)
    record["so_pin"] = hsm.so_pin_status().describe()
    from keymanager.cli.pka_cli import pka_record

    record["pka"], record["pka_problem"] = pka_record(hsm)
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    registry = None
    if any(slot.status is not None for slot in slots):
        try:
            registry = read_registry(hsm)
        except CardError:  # RegistryDamaged too
            registry = None  # the KCVs are shown without keymanager's records
    verified = pin_status.state is PinState.VERIFIED
    record["key_domains"] = [
        _domain_record(
            slot,
            registry.domain(slot.number, slot.status) if registry is not None else None,
            pin_verified=verified,
        )
        for slot in slots
    ]
    return record


def _verify_from_env(hsm: SmartCardHsm, arguments: argparse.Namespace) -> None:
    """Verify the user PIN from ``--pin-env`` as the workflows do (one line for a wrong
    PIN, the last try not used without ``--yes``)."""
    if arguments.pin_env is None:
        return
    from keymanager.workflows.common import verify_user_pin
    from keymanager.workflows.errors import WorkflowError
    from keymanager.workflows.interaction import SecretKind

    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    try:
        verify_user_pin(hsm, interaction, "reading the card")
    except WorkflowError as error:
        raise CliError(str(error)) from None


def _status(arguments: argparse.Namespace) -> int:
    group = group_file_option(arguments)  # a damaged file is refused before the card
    with open_card(arguments) as hsm:
        _verify_from_env(hsm, arguments)
        record = collect_status(hsm, hsm.connection.transport.name)
    group_found = add_status_members(record, group) if group is not None else True
    if arguments.json:
        print(json.dumps(record, indent=2))
        return 0
    print(f"Reader          : {record['reader']}")
    print(f"Version         : {record['version']}")
    print(f"Serial          : {record['serial'] or 'unknown'}")
    print(f"Device          : {record['genuine']}")
    print(f"Secure messaging: {record['secure_messaging_text']}")
    print(f"User PIN        : {record['pin']}")
    print(f"SO-PIN          : {record['so_pin']}")
    from keymanager.cli.pka_cli import pka_status_lines

    for line in pka_status_lines(record):
        print(line)
    if not record["key_domains"]:
        if "not initialised" in record["pin"].lower():
            print("Key domains     : none (device not initialised: keymanager-cli init)")
        else:
            print("Key domains     : none (no DKEK: keys cannot be backed up)")
    for domain in record["key_domains"]:
        number = domain["domain"]
        if domain["type"] == "empty":
            print(f"Key domain {number:<4} : empty")
            continue
        if domain["type"] == "XKEK":
            kek = f"KCV {domain['kcv']}" if domain["kcv"] else "KEK not derived yet"
            if domain["kcv_hidden"]:
                kek += " (or its KCV hidden until login: use --pin-env)"
            print(f"Key domain {number:<4} : XKEK domain, group {domain['uid'][:16]}…, {kek}")
            for member in domain.get("members", ()):
                print(f"                  {member_line(member)}")
            continue
        if domain["shares_outstanding"]:
            kcv = "KCV pending"
        elif domain["no_dkek"]:
            kcv = "no DKEK: keys cannot be backed up"
        elif domain["kcv_hidden"]:
            kcv = "KCV hidden until login (use --pin-env)"
        else:
            kcv = f"KCV {domain['kcv']}"
        print(
            f"Key domain {number:<4} : {domain['type']}, {domain['shares_total']} share(s), "
            f"{domain['shares_outstanding']} outstanding, {kcv}"
        )
    if group is not None and not group_found:
        print(no_group_domain_line(arguments.group, group) + ".")
    return 0


# -- keys ----------------------------------------------------------------------------


def key_record(key: KeyInfo) -> dict[str, Any]:
    """One listed key as plain data (``certificate``: the X.509 subject, only if
    ``CExx`` was read and holds one; ``cv_request``: it holds the card's CV request)."""
    from keymanager.card.keystore import CertificateKind

    kind = key.certificate_kind
    subject = key.certificate_subject if kind is CertificateKind.X509 else None
    return {
        "label": key.label,
        "key_reference": key.key_reference,
        "id": key.id.hex().upper() if key.id else None,
        "type": key.kind.name if key.kind is not None else "unknown",
        "size": key.size,
        "key_domain": key.key_domain,
        "domain_source": key.domain_source,
        "exportable": key.exportable,
        "described": key.described,
        "certificate": subject,
        "cv_request": kind is CertificateKind.CV_REQUEST,
        "certificate_kind": kind.value if kind is not None else None,
        "problems": list(key.problems),
    }


def _keys(arguments: argparse.Namespace) -> int:
    from keymanager.card.domain_registry import annotate_keys, read_registry
    from keymanager.card.keystore import KeyStore

    with open_card(arguments) as hsm:
        _verify_from_env(hsm, arguments)
        # CExx is read for every key: only its content tells a certificate from a CV request
        listed = KeyStore(hsm).list_keys(load_certificates=True)
        # keymanager's key-domain registry (one READ) tells each key's domain and seal
        keys = [key_record(key) for key in annotate_keys(listed, read_registry(hsm))]
    if arguments.json:
        print(json.dumps(keys, indent=2))
        return 0
    if not keys:
        print("No keys on the card.")
    for key in keys:
        print(
            f"[{key['key_reference']:3d}] {key['label']}  {key['type']} {key['size']}  "
            f"ID {key['id']}  domain {_domain_text(key)}{_export_text(key)}"
        )
        if key["certificate"]:
            print(f"      certificate: {key['certificate']}")
        elif key["cv_request"]:
            print("      no certificate: CV request from the key's generation on the card")
    return 0


def _domain_text(key: dict[str, Any]) -> str:
    """``2 (recorded by keymanager)``, ``none (probed)``, ``- (not recorded)``."""
    from keymanager.workflows.outline import DOMAIN_SOURCE_TEXT

    source = key["domain_source"]
    if source == "unknown":
        return "- (not recorded)" if key["key_domain"] is None else str(key["key_domain"])
    where = "none" if key["key_domain"] is None else str(key["key_domain"])
    return f"{where} ({DOMAIN_SOURCE_TEXT.get(source, source)})"


def _export_text(key: dict[str, Any]) -> str:
    if key["exportable"] is False:
        return "  sealed"
    if key["exportable"] is True:
        return "  exportable"
    return ""


# -- init ----------------------------------------------------------------------------


def _add_init_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = subcommands.add_parser(
        "init",
        help="initialise the device: ERASES every key and share on it",
        description=(
            "Initialise (or re-initialise) the SmartCard-HSM.  Every key, certificate and "
            "key domain on the device is erased.  The SO-PIN is 16 hex digits; a new "
            "device's is 3537363231383830.  Without a scheme option the device gets no "
            "DKEK (as sc-hsm-tool does): its keys can then never be backed up."
        ),
    )
    add_device_arguments(init)
    init.add_argument("--so-pin-env", metavar="VAR", help="current SO-PIN (16 hex digits)")
    init.add_argument("--new-so-pin-env", metavar="VAR", help="new SO-PIN; default: keep it")
    init.add_argument("--pin-env", metavar="VAR", help="the new user PIN (6 to 16 characters)")
    init.add_argument(
        "--random-pin",
        action="store_true",
        help="generate the user PIN and show it once on the terminal (instead of --pin-env)",
    )
    init.add_argument("--retry-counter", type=int, default=3, help="user PIN tries (default 3)")
    scheme = init.add_mutually_exclusive_group()
    scheme.add_argument(
        "--dkek-shares", type=int, metavar="N", help="DKEK made of N shares (key backup possible)"
    )
    scheme.add_argument("--key-domains", type=int, metavar="N", help="allocate N key-domain slots")
    scheme.add_argument(
        "--random-dkek", action="store_true", help="the card makes a random DKEK (no backup)"
    )
    scheme.add_argument("--no-dkek", action="store_true", help="no DKEK (the default)")
    init.add_argument("--label", help="token label (EF.TokenInfo, shown by PKCS#11)")
    init.add_argument(
        "--transport-pin",
        action="store_true",
        help="the user PIN is a transport PIN that must be changed before first use",
    )
    init.add_argument(
        "--no-reset-retry-counter",
        action="store_true",
        help="do not allow the SO-PIN to unblock or reset the user PIN",
    )
    init.add_argument(
        "--unblock-only",
        action="store_true",
        help="the SO-PIN may unblock the user PIN but not set a new one",
    )
    init.add_argument(
        "--pka",
        metavar="N/M",
        type=pka_numbers,
        help="public key authentication: N custodian keys may be registered, M of them "
        "unlock the device (pka register, then --pka-custodian)",
    )
    init.add_argument(
        "--pka-and-pin",
        action="store_true",
        help="with --pka: the user PIN is needed as well as the M custodians",
    )
    init.add_argument(
        "--pka-replaceable",
        action="store_true",
        help="with --pka: registered custodian keys may be replaced (pka register --slot)",
    )
    init.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (scripts); also send the SO-PIN from a variable "
        "on its last try (a wrong one blocks the device)",
    )
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    init.set_defaults(handler=_init)


def _init_plan(arguments: argparse.Namespace) -> InitPlan:
    from keymanager.workflows.device import DkekScheme, InitPlan

    if arguments.dkek_shares is not None:
        scheme, extra = DkekScheme.DKEK_SHARES, {"shares": arguments.dkek_shares}
    elif arguments.key_domains is not None:
        scheme, extra = DkekScheme.KEY_DOMAINS, {"key_domains": arguments.key_domains}
    elif arguments.random_dkek:
        scheme, extra = DkekScheme.RANDOM_DKEK, {}
    else:
        scheme, extra = DkekScheme.NO_DKEK, {}
    try:
        return InitPlan(
            scheme=scheme,
            retry_counter=arguments.retry_counter,
            random_pin=arguments.random_pin,
            transport_pin=arguments.transport_pin,
            reset_retry_counter=not arguments.no_reset_retry_counter,
            unblock_only=arguments.unblock_only,
            label=arguments.label,
            change_so_pin=arguments.new_so_pin_env is not None,
            public_key_auth=arguments.pka,
            pka_and_pin=arguments.pka_and_pin,
            pka_replaceable=arguments.pka_replaceable,
            **extra,
        )
    except ValueError as error:
        raise CliError(str(error)) from None


@workflow_command
def _init(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error, result_once_for
    from keymanager.workflows.device import initialize_device
    from keymanager.workflows.interaction import SecretKind

    plan = _init_plan(arguments)
    if arguments.random_pin and arguments.pin_env:
        raise CliError("use either --pin-env or --random-pin")
    if arguments.random_pin and not sys.stdin.isatty():
        raise CliError("--random-pin shows the PIN once and needs a terminal; use --pin-env")
    interaction = result_once_for(
        arguments,
        {
            SecretKind.SO_PIN: arguments.so_pin_env,
            SecretKind.NEW_SO_PIN: arguments.new_so_pin_env,
            SecretKind.NEW_USER_PIN: arguments.pin_env,
        },
    )
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = initialize_device(hsm, interaction, plan)
    interaction.take_results()  # the lines below say it (printed once)
    lines = [f"Device initialised: {result.card.describe()}.  User PIN: {result.pin_status}."]
    if result.dkek_shares:
        lines.append(
            f"Import {result.dkek_shares} DKEK share(s) next: "
            "keymanager-cli share import FILE --domain 0"
        )
    if result.key_domains:
        lines.append(
            f"{result.key_domains} key-domain slot(s); create one: keymanager-cli domain create"
        )
    if result.domain_kcv:
        lines.append(f"Random DKEK, KCV {result.domain_kcv}.")
    if result.label_written:
        lines.append(f"Label: {result.label}")
    if result.public_key_auth is not None:
        total, required = result.public_key_auth
        pin = " and the user PIN" if arguments.pka_and_pin else ""
        lines.append(
            f"Public key authentication: {required} of {total} custodian keys{pin} unlock "
            "it; register them next: keymanager-cli pka register FILE.pka"
        )
    return emit(arguments, result.to_dict(), lines)


# -- domain --------------------------------------------------------------------------


def _add_domain_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    domain = subcommands.add_parser("domain", help="create, clear or delete key domains")
    actions = domain.add_subparsers(dest="domain_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a DKEK key domain in an empty slot")
    create.add_argument("--domain", type=int, help="the slot (default: the first empty one)")
    create.add_argument(
        "--shares", type=int, default=1, help="DKEK shares it expects (0: random DKEK; default 1)"
    )
    clear = actions.add_parser(
        "clear-kek", help="delete a domain's KEK: all its shares are outstanding again"
    )
    clear.add_argument("--domain", type=int, required=True)
    delete = actions.add_parser(
        "delete", help="delete a key domain (refused while keys belong to it)"
    )
    delete.add_argument("--domain", type=int, required=True)
    delete.add_argument(
        "--group",
        type=Path,
        metavar="GROUP.json",
        help="an XKEK domain's group file: the device is taken off its members too",
    )
    rename = actions.add_parser(
        "rename", help="give a key domain a label (kept in keymanager's registry on the card)"
    )
    rename.add_argument("--domain", type=int, required=True)
    rename.add_argument("--label", required=True, help="the label; an empty one removes it")
    for parser, handler in (
        (create, _domain_create),
        (clear, _domain_clear),
        (delete, _domain_delete),
        (rename, _domain_rename),
    ):
        add_device_arguments(parser)
        parser.add_argument("--pin-env", metavar="VAR", help="the user PIN")
        add_yes_argument(parser)
        add_json_argument(parser)
        parser.set_defaults(handler=handler)


def _domain_interaction(arguments: argparse.Namespace) -> ResultOnceInteraction:
    from keymanager.cli.result_once import result_once_for
    from keymanager.workflows.interaction import SecretKind

    return result_once_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})


def _domain_result(
    arguments: argparse.Namespace, interaction: ResultOnceInteraction, result: KeyDomainResult
) -> int:
    """Print a domain action's result once: the workflow's own words are not repeated."""
    from keymanager.workflows.xkek_leave import XkekDomainDeleted

    interaction.take_results()
    if result.state == "empty":
        lines = [f"Key domain {result.domain} deleted: the slot is empty now."]
        if isinstance(result, XkekDomainDeleted):
            lines += _xkek_deleted_lines(result)
    else:
        kcv = f", KCV {result.kcv}" if result.kcv else ""
        lines = [
            f"Key domain {result.domain}: {result.shares_total} share(s), "
            f"{result.shares_outstanding} outstanding{kcv}."
        ]
    return emit(arguments, result.to_dict(), lines)


def _xkek_deleted_lines(result: XkekDomainDeleted) -> list[str]:
    """What went with a deleted XKEK domain: its exchange key, the group file entry."""
    left = f"device {result.serial} left group {result.short_uid}."
    if result.exchange_key_ref is not None:
        lines = [f"Its exchange key (key reference {result.exchange_key_ref}) was deleted: {left}"]
    else:
        lines = [f"It held no exchange key: {left}"]
    if result.left_group_file:
        lines.append(f"Device {result.serial} was taken off {result.group_file}.")
    elif result.group_file is None:
        lines.append(
            f"No --group GROUP.json was given: the group file still lists device {result.serial}."
        )
    else:
        lines.append(result.group_file_note[:1].upper() + result.group_file_note[1:] + ".")
    return lines


@workflow_command
def _domain_create(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.device import create_key_domain

    interaction = _domain_interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = create_key_domain(hsm, interaction, arguments.shares, arguments.domain)
    return _domain_result(arguments, interaction, result)


@workflow_command
def _domain_clear(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.device import clear_kek

    interaction = _domain_interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        result = clear_kek(hsm, interaction, arguments.domain)
    return _domain_result(arguments, interaction, result)


@workflow_command
def _domain_delete(arguments: argparse.Namespace) -> int:
    from keymanager.card.errors import IncorrectParameters, NoKeyDomainSupport
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.device import delete_key_domain

    interaction = _domain_interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        try:
            status = hsm.key_domain_status(arguments.domain)
        except (IncorrectParameters, NoKeyDomainSupport):
            status = None  # delete_key_domain says what is wrong with the slot
        if status is not None and status.uid:  # an XKEK domain: its exchange key goes first
            from keymanager.workflows.xkek import delete_xkek_domain

            result = delete_xkek_domain(
                hsm, interaction, arguments.domain, group_path=arguments.group
            )
        else:
            if arguments.group is not None:
                raise CliError(
                    f"key domain {arguments.domain} is not an XKEK domain: --group goes with "
                    "an XKEK domain only; nothing was changed"
                )
            result = delete_key_domain(hsm, interaction, arguments.domain)
    return _domain_result(arguments, interaction, result)


@workflow_command
def _domain_rename(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.key_domains import rename_domain

    interaction = _domain_interaction(arguments)
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        try:
            record = rename_domain(hsm, interaction, arguments.domain, arguments.label)
        except ValueError as error:
            raise CliError(str(error)) from None
    interaction.take_results()  # the line below says it (printed once)
    data = {
        "domain": record.domain,
        "label": record.label,
        "purpose": record.purpose.name.lower(),
        "created": record.created.isoformat(),
        "workflow": record.workflow,
    }
    line = (
        f"Key domain {record.domain} is labelled {record.label!r}: {record.describe()}."
        if record.label
        else f"Key domain {record.domain} has no label: {record.describe()}."
    )
    return emit(arguments, data, [line])


# -- audit ---------------------------------------------------------------------------


def _add_audit_parser(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit_parser = subcommands.add_parser(
        "audit", help="report the key domains (KCV, shares) and the keys in each"
    )
    add_device_arguments(audit_parser)
    audit_parser.add_argument(
        "--pin-env", metavar="VAR", help="verify the user PIN first (shows hidden KCVs)"
    )
    audit_parser.add_argument(
        "--probe-domains",
        action="store_true",
        help="find each key's domain by wrapping it (needs the user PIN)",
    )
    output = audit_parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the result as JSON")
    output.add_argument(
        "--csv",
        action="store_true",
        help="print the report as CSV, one row per key (the columns of docs/reference.md)",
    )
    add_yes_argument(audit_parser, confirmations=False)  # the last try of a PIN
    add_group_file_argument(audit_parser)
    audit_parser.set_defaults(handler=_audit)


@workflow_command
def _audit(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.audit import audit
    from keymanager.workflows.common import verify_user_pin
    from keymanager.workflows.interaction import SecretKind

    if arguments.csv and arguments.group is not None:
        raise CliError(
            "--group lists the group's members in the text and JSON reports; the audit "
            "CSV's columns are fixed (use it without --group); nothing was changed"
        )
    group = group_file_option(arguments)  # a damaged file is refused before the card
    interaction = interaction_for(arguments, {SecretKind.USER_PIN: arguments.pin_env})
    with open_card(arguments) as hsm:
        if arguments.pin_env and not arguments.probe_domains:
            verify_user_pin(hsm, interaction, "the audit")
        report = audit(hsm, interaction, probe_wrap=arguments.probe_domains)
    group_found = True
    if group is not None:
        from keymanager.workflows.xkek_members import with_group_members

        report = with_group_members(report, group)
        group_found = any(domain.members is not None for domain in report.domains)
    if arguments.csv:
        from keymanager.workflows.audit_export import audit_csv

        sys.stdout.write(audit_csv(report))
    elif arguments.json:
        print(report.to_json())
    else:
        print(report.to_text(), end="")
        if group is not None and not group_found:
            print(no_group_domain_line(arguments.group, group) + ".")
    return 0
