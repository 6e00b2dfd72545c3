"""``keymanager-cli readers``, ``status``, ``keys`` and ``init``: the card as people see it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from keymanager.card.cvc import DeviceCertificate, Genuineness
from keymanager.card.errors import CardError, NoKeyDomainSupport
from keymanager.card.hsm import InitParams, KeyDomainSlot, PinStatus, SmartCardHsm, parse_so_pin
from keymanager.card.keystore import KeyInfo, KeyStore
from keymanager.cli.device import add_device_arguments, open_card
from keymanager.cli.prompts import CliError, read_pin, read_so_pin
from keymanager.dkek.dkek import format_kcv

GENUINENESS_TEXT = {
    Genuineness.GENUINE: "genuine",
    Genuineness.NOT_GENUINE: "NOT GENUINE: the device certificate does not verify",
    Genuineness.UNVERIFIED_SIMULATOR: "unverified (simulator)",
}


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
    status.add_argument("--json", action="store_true", help="print the result as JSON")
    status.set_defaults(handler=_status)

    keys = subcommands.add_parser("keys", help="list the keys on the card")
    add_device_arguments(keys)
    keys.add_argument("--pin-env", metavar="VAR", help="verify the user PIN from this variable")
    keys.add_argument("--json", action="store_true", help="print the result as JSON")
    keys.set_defaults(handler=_keys)

    init = subcommands.add_parser(
        "init",
        help="initialise the device: ERASES every key and share on it",
        description=(
            "Initialise (or re-initialise) the SmartCard-HSM.  Every key, certificate and "
            "key domain on the device is erased.  The SO-PIN is 16 hex digits; a new "
            "device's is 3537363231383830."
        ),
    )
    add_device_arguments(init)
    init.add_argument("--so-pin-env", metavar="VAR", help="current SO-PIN (16 hex digits)")
    init.add_argument("--new-so-pin-env", metavar="VAR", help="new SO-PIN; default: keep it")
    init.add_argument("--pin-env", metavar="VAR", help="the new user PIN (6 to 16 characters)")
    init.add_argument("--retry-counter", type=int, default=3, help="user PIN tries (default 3)")
    scheme = init.add_mutually_exclusive_group()
    scheme.add_argument(
        "--dkek-shares", type=int, metavar="N", help="DKEK made of N shares (key backup possible)"
    )
    scheme.add_argument(
        "--random-dkek", action="store_true", help="the card makes a random DKEK (no backup)"
    )
    init.add_argument("--key-domains", type=int, metavar="K", help="allocate K key-domain slots")
    init.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
    init.set_defaults(handler=_init)


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


def _domain_record(slot: KeyDomainSlot) -> dict[str, Any]:
    status = slot.status
    if status is None:
        return {"domain": slot.number, "type": "empty"}
    kcv: str | None
    if status.shares_outstanding > 0:
        kcv = None
    else:
        kcv = format_kcv(status.kcv) if status.kcv is not None else None
    return {
        "domain": slot.number,
        "type": "XKEK" if status.uid else "DKEK",
        "shares_total": status.shares_total,
        "shares_outstanding": status.shares_outstanding,
        "kcv": kcv,
        "kcv_hidden": status.kcv is None and status.shares_outstanding == 0,
        "uid": status.uid.hex().upper() if status.uid else None,
    }


def collect_status(hsm: SmartCardHsm, transport_name: str) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    record: dict[str, Any] = {
        "reader": transport_name,
        "version": f"{hsm.info.version[0]}.{hsm.info.version[1]}",
        "options": hsm.info.options,
    }
    try:
        device = DeviceCertificate.parse(hsm.device_certificates())
        record["serial"] = device.serial
        record["device_chr"] = device.chr
        record["genuine"] = GENUINENESS_TEXT[device.verify_chain()]
    except CardError as error:
        record["serial"] = None
        record["genuine"] = f"unknown: {error}"
    record["pin"] = _pin_text(hsm.pin_status())
    record["so_pin"] = hsm.so_pin_status().describe()
    try:
        record["key_domains"] = [_domain_record(slot) for slot in hsm.key_domains()]
    except NoKeyDomainSupport:
        record["key_domains"] = []
    return record


def _verify_from_env(hsm: SmartCardHsm, variable: str | None) -> None:
    if variable is None:
        return
    pin = read_pin(variable)
    hsm.verify_pin(pin)


def _status(arguments: argparse.Namespace) -> int:
    with open_card(arguments) as hsm:
        _verify_from_env(hsm, arguments.pin_env)
        record = collect_status(hsm, hsm.connection.transport.name)
    if arguments.json:
        print(json.dumps(record, indent=2))
        return 0
    print(f"Reader          : {record['reader']}")
    print(f"Version         : {record['version']}")
    print(f"Serial          : {record['serial'] or 'unknown'}")
    print(f"Device          : {record['genuine']}")
    print(f"User PIN        : {record['pin']}")
    print(f"SO-PIN          : {record['so_pin']}")
    if not record["key_domains"]:
        if "not initialised" in record["pin"].lower():
            print("Key domains     : none (device not initialised: keymanager-cli init)")
        else:
            print("Key domains     : none (no DKEK configured)")
    for domain in record["key_domains"]:
        number = domain["domain"]
        if domain["type"] == "empty":
            print(f"Key domain {number:<4} : empty")
            continue
        if domain["shares_outstanding"]:
            kcv = "pending"
        elif domain["kcv_hidden"]:
            kcv = "hidden until login (use --pin-env)"
        else:
            kcv = domain["kcv"]
        print(
            f"Key domain {number:<4} : {domain['type']}, {domain['shares_total']} share(s), "
            f"{domain['shares_outstanding']} outstanding, KCV {kcv}"
        )
    return 0


# -- keys ----------------------------------------------------------------------------


def key_record(key: KeyInfo) -> dict[str, Any]:
    """One listed key as plain data."""
    subject = key.certificate_subject
    return {
        "label": key.label,
        "key_reference": key.key_reference,
        "id": key.id.hex().upper() if key.id else None,
        "type": key.kind.name if key.kind is not None else "unknown",
        "size": key.size,
        "key_domain": key.key_domain,
        "described": key.described,
        "certificate": subject,
        "cv_request": key.cv_request is not None,
        "problems": list(key.problems),
    }


def _keys(arguments: argparse.Namespace) -> int:
    with open_card(arguments) as hsm:
        _verify_from_env(hsm, arguments.pin_env)
        keys = [key_record(key) for key in KeyStore(hsm).list_keys()]
    if arguments.json:
        print(json.dumps(keys, indent=2))
        return 0
    if not keys:
        print("No keys on the card.")
    for key in keys:
        print(
            f"[{key['key_reference']:3d}] {key['label']}  {key['type']} {key['size']}  "
            f"ID {key['id']}  domain {key['key_domain'] if key['key_domain'] is not None else '-'}"
        )
        if key["certificate"]:
            print(f"      certificate: {key['certificate']}")
    return 0


# -- init ----------------------------------------------------------------------------


def _confirm_erase(arguments: argparse.Namespace) -> None:
    if arguments.yes:
        return
    if not sys.stdin.isatty():
        raise CliError("init erases the device: confirm with --yes when not on a terminal")
    answer = input("This ERASES every key and share on the device. Type 'erase' to go on: ")
    if answer.strip().lower() != "erase":
        raise CliError("not confirmed; nothing was changed")


def _init(arguments: argparse.Namespace) -> int:
    try:
        so_pin = parse_so_pin(read_so_pin(arguments.so_pin_env, what="current SO-PIN"))
        new_so_pin = (
            parse_so_pin(read_so_pin(arguments.new_so_pin_env, what="new SO-PIN"))
            if arguments.new_so_pin_env
            else so_pin
        )
        user_pin = read_pin(arguments.pin_env, what="new user PIN", confirm=True)
        dkek_shares: int | None = None
        if arguments.dkek_shares is not None:
            dkek_shares = arguments.dkek_shares
        elif arguments.random_dkek:
            dkek_shares = 0
        params = InitParams(
            so_pin=new_so_pin,
            current_so_pin=so_pin if new_so_pin != so_pin else None,
            user_pin=user_pin,
            retry_counter=arguments.retry_counter,
            dkek_shares=dkek_shares,
            key_domains=arguments.key_domains,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    _confirm_erase(arguments)
    with open_card(arguments) as hsm:
        hsm.initialize(params)
        pin_state = hsm.pin_status().describe()
    print(f"Device initialised.  User PIN: {pin_state}.")
    if dkek_shares:
        print(
            f"Import {dkek_shares} DKEK share(s) next: keymanager-cli share import FILE --domain 0"
        )
    return 0
