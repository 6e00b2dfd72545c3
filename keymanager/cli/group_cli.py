"""``keymanager-cli group`` and ``migrate``: XKEK key domains shared by a group of devices.

* ``group create --signer-reader R --out GROUP.json`` — on the group signer's card: a
  group-signer key (never exportable) and the group file that names the group;
* ``group admit GROUP.json --signer-reader R [card] [--domain N]`` — the signer issues
  the device in ``[card]`` its key-domain membership; the device creates the XKEK
  domain from it and generates its exchange key; the group file records the member.
  The signer's card may itself be the member (both options name the same card: it is
  opened once);
* ``group derive GROUP.json [card] [--peer SERIAL]`` — the device derives the domain's
  KEK with a peer member's exchange key (default: the first other member in the file)
  and prints its KCV (the peer derives with this
  device's exchange key to hold the same KEK);
* ``group show GROUP.json`` — the group file: UID, signer, members;
* ``migrate --key K [card] --to-reader B`` — copy key K from its XKEK domain on the
  device in ``[card]`` to another member of the group: both derive the pairwise KEK, the
  KCVs are compared, the key is wrapped on the source and unwrapped on the target, and a
  test signature of the copy is checked on the host.

Each command with two cards (``admit``, ``migrate``) opens both at once (``admit`` one,
when the signer admits itself); the second is
named by its own options (``--signer-…``, ``--to-…``) and its PIN by its own variable
(``--signer-pin-env``, ``--to-pin-env``): each card's PIN is asked through its own
interaction, so neither is ever offered to the other card.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.cli.device import add_device_arguments, open_card, reader_name
from keymanager.cli.prompts import CliError
from keymanager.cli.workflow_support import (
    add_json_argument,
    add_yes_argument,
    emit,
    workflow_command,
)

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.cli.result_once import ResultOnceInteraction
    from keymanager.workflows.xkek_group import GroupFile


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``group`` with its actions, and ``migrate``."""
    group = subcommands.add_parser(
        "group", help="XKEK key domains: a group of devices that share wrapped keys"
    )
    actions = group.add_subparsers(dest="group_command", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="on the group signer's card: a group-signer key and the group file",
    )
    _add_second_card_arguments(create, "signer", "the group signer's card")
    create.add_argument(
        "--out", required=True, type=Path, metavar="GROUP.json", help="the group file (new)"
    )
    create.add_argument("--pin-env", metavar="VAR", help="the signer card's user PIN")
    add_yes_argument(create, confirmations=False)
    add_json_argument(create)
    create.set_defaults(handler=_create)

    admit = actions.add_parser(
        "admit",
        help="admit a device: its membership, its XKEK domain and its exchange key",
    )
    admit.add_argument("group_file", type=Path, metavar="GROUP.json", help="the group file")
    _add_second_card_arguments(admit, "signer", "the group signer's card")
    add_device_arguments(admit)
    admit.add_argument(
        "--domain", type=int, metavar="N", help="the key-domain slot (default: the first free)"
    )
    admit.add_argument("--pin-env", metavar="VAR", help="the device's user PIN")
    admit.add_argument("--signer-pin-env", metavar="VAR", help="the signer card's user PIN")
    add_yes_argument(admit, confirmations=False)
    add_json_argument(admit)
    admit.set_defaults(handler=_admit)

    derive = actions.add_parser(
        "derive", help="derive the domain's KEK with a peer member's exchange key"
    )
    derive.add_argument("group_file", type=Path, metavar="GROUP.json", help="the group file")
    add_device_arguments(derive)
    derive.add_argument(
        "--peer",
        metavar="SERIAL",
        help=(
            "the member whose exchange key is used (default: the first other member"
            " in GROUP.json; the output names it)"
        ),
    )
    derive.add_argument("--pin-env", metavar="VAR", help="the device's user PIN")
    add_yes_argument(derive, confirmations=False)
    add_json_argument(derive)
    derive.set_defaults(handler=_derive)

    show = actions.add_parser("show", help="the group file: UID, signer and members")
    show.add_argument("group_file", type=Path, metavar="GROUP.json", help="the group file")
    add_json_argument(show)
    show.set_defaults(handler=_show)

    migrate = subcommands.add_parser(
        "migrate", help="copy a key of an XKEK domain to another device of the group"
    )
    migrate.add_argument("--key", type=int, required=True, metavar="REF", help="key reference")
    add_device_arguments(migrate)
    _add_second_card_arguments(migrate, "to", "the target device")
    migrate.add_argument(
        "--group",
        type=Path,
        metavar="GROUP.json",
        help="the group file (default: the group is read from both devices)",
    )
    migrate.add_argument("--pin-env", metavar="VAR", help="the source device's user PIN")
    migrate.add_argument("--to-pin-env", metavar="VAR", help="the target device's user PIN")
    add_yes_argument(migrate, confirmations=False)
    add_json_argument(migrate)
    migrate.set_defaults(handler=_migrate)


def _add_second_card_arguments(parser: argparse.ArgumentParser, prefix: str, what: str) -> None:
    """``--PREFIX-reader NAME`` or ``--PREFIX-simulator STATE`` (one is required)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        f"--{prefix}-reader",
        metavar="NAME",
        type=reader_name,
        help=f"{what}: the card in the PC/SC reader whose name contains NAME",
    )
    group.add_argument(
        f"--{prefix}-simulator",
        metavar="STATE",
        type=Path,
        help=f"{what}: the simulated card kept in the file STATE (which must exist)",
    )


def _second_card_namespace(arguments: argparse.Namespace, prefix: str) -> argparse.Namespace:
    """The arguments :func:`open_card` takes for the card ``--PREFIX-…`` names."""
    simulator: Path | None = getattr(arguments, f"{prefix}_simulator")
    if simulator is not None and not simulator.is_file():
        raise CliError(f"there is no simulated card in {simulator}; nothing was changed")
    return argparse.Namespace(
        reader=getattr(arguments, f"{prefix}_reader"),
        simulator=simulator,
        no_secure_messaging=getattr(arguments, "no_secure_messaging", False),
    )


def _same_card(first: argparse.Namespace, second: argparse.Namespace) -> bool:
    """Whether both name the same reader or the same simulated card file."""
    if first.reader is not None and second.reader is not None:
        return bool(first.reader == second.reader)
    if getattr(first, "simulator", None) is not None and second.simulator is not None:
        return bool(Path(first.simulator).resolve() == Path(second.simulator).resolve())
    return False


@contextmanager
def _two_cards(
    arguments: argparse.Namespace, prefix: str, *, same_allowed: bool = False
) -> Iterator[tuple[SmartCardHsm, SmartCardHsm]]:
    """The card of ``[card]`` and the one ``--PREFIX-…`` names, both open.

    :param same_allowed: both options may name the same card (the group signer admitting
        itself): it is opened once and yielded twice; otherwise that is refused.
    """
    second = _second_card_namespace(arguments, prefix)
    if _same_card(arguments, second):
        if not same_allowed:
            raise CliError(
                f"--{prefix}-reader/--{prefix}-simulator names the same card as --reader/"
                "--simulator: two cards are needed; nothing was changed"
            )
        with open_card(arguments) as card:
            yield card, card
        return
    with ExitStack() as stack:
        device = stack.enter_context(open_card(arguments))
        other = stack.enter_context(open_card(second))
        yield device, other


def _interaction(arguments: argparse.Namespace, variable: str | None) -> ResultOnceInteraction:
    """An interaction whose user PIN comes from ``variable`` (else the terminal): one for
    each card, so neither card's PIN is ever offered to the other."""
    from keymanager.cli.result_once import result_once_for
    from keymanager.workflows.interaction import SecretKind

    return result_once_for(arguments, {SecretKind.USER_PIN: variable})


# -- group create / admit / derive / show ------------------------------------------


@workflow_command
def _create(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.xkek import create_group

    interaction = _interaction(arguments, arguments.pin_env)
    signer_card = _second_card_namespace(arguments, "signer")
    with flushed_on_error(interaction), open_card(signer_card) as hsm:
        group = create_group(hsm, interaction, arguments.out)
    interaction.take_results()  # the lines below say it (printed once)
    signer = group.signer
    return emit(
        arguments,
        {"file": str(arguments.out), "uid": group.uid_hex, "signer": signer.to_dict()},
        [
            f"Group {group.short_uid}: signer key in key reference {signer.key_ref} of "
            f"device {signer.serial} (it never leaves the card).",
            f"Wrote {arguments.out}: admit devices next (keymanager-cli group admit "
            f"{arguments.out} --signer-reader … --reader …).",
        ],
    )


@workflow_command
def _admit(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.xkek import admit_member

    interaction = _interaction(arguments, arguments.pin_env)
    signer_interaction = _interaction(arguments, arguments.signer_pin_env)
    with (
        flushed_on_error(interaction),
        flushed_on_error(signer_interaction),
        _two_cards(arguments, "signer", same_allowed=True) as (member, signer),
    ):
        # the signer admitting itself: one card, one PIN (from either variable)
        one_card = member is signer and arguments.signer_pin_env is None
        admitted = admit_member(
            signer,
            member,
            interaction,
            arguments.group_file,
            domain=arguments.domain,
            signer_interaction=None if one_card else signer_interaction,
        )
    interaction.take_results()
    signer_interaction.take_results()
    return emit(
        arguments,
        {"file": str(arguments.group_file), "member": admitted.to_dict()},
        [
            f"Device {admitted.serial} admitted: XKEK key domain {admitted.domain}, "
            f"exchange key in key reference {admitted.exchange_key_ref}.",
            f"Derive its KEK next: keymanager-cli group derive {arguments.group_file} --reader ….",
        ],
    )


@workflow_command
def _derive(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.xkek import derive_kek
    from keymanager.workflows.xkek_group import GroupFile, default_peer

    interaction = _interaction(arguments, arguments.pin_env)
    peer: str | None = arguments.peer
    with flushed_on_error(interaction), open_card(arguments) as hsm:
        if peer is None:  # the first other member of the file (the workflow would ask)
            chosen = default_peer(GroupFile.load(arguments.group_file), hsm.serial())
            peer = chosen.serial if chosen is not None else None
        derived = derive_kek(hsm, interaction, arguments.group_file, peer_serial=peer)
    interaction.take_results()
    lines = [
        f"Key domain {derived.domain}: KEK derived with the exchange key of device "
        f"{derived.peer_serial}, KCV {derived.kcv}.",
    ]
    if arguments.peer is None:
        lines.append(
            f"Peer: device {derived.peer_serial}, the first other member in "
            f"{arguments.group_file} (--peer SERIAL names another)."
        )
    lines.append(
        f"Device {derived.peer_serial} shows the same KCV once it derives with the "
        f"exchange key of device {derived.serial}."
    )
    return emit(arguments, derived.to_dict(), lines)


@workflow_command
def _show(arguments: argparse.Namespace) -> int:
    from keymanager.workflows.xkek_group import GroupFile

    group = GroupFile.load(arguments.group_file)
    signer = group.signer
    lines = [
        f"Group file      : {arguments.group_file}",
        f"Group UID       : {group.uid_hex}",
        f"Created         : {group.created}",
        f"Signer          : device {signer.serial}, key reference {signer.key_ref}",
    ]
    if not group.members:
        lines.append("Members         : none (keymanager-cli group admit)")
    for member in group.members:
        lines.append(
            f"Member          : device {member.serial}, key domain {member.domain}, "
            f"exchange key {member.exchange_key_ref}, admitted {member.admitted}"
        )
    return emit(arguments, group.to_dict(), lines)


# -- migrate -------------------------------------------------------------------------


@workflow_command
def _migrate(arguments: argparse.Namespace) -> int:
    from keymanager.cli.result_once import flushed_on_error
    from keymanager.workflows.xkek_migrate import migrate_key

    interaction = _interaction(arguments, arguments.pin_env)
    target_interaction = _interaction(arguments, arguments.to_pin_env)
    with (
        flushed_on_error(interaction),
        flushed_on_error(target_interaction),
        _two_cards(arguments, "to") as (source, target),
    ):
        result = migrate_key(
            source,
            target,
            interaction,
            arguments.key,
            group_path=arguments.group,
            target_interaction=target_interaction,
        )
    interaction.take_results()
    target_interaction.take_results()
    return emit(
        arguments,
        result.to_dict(),
        [
            f"Key {result.source_reference} {result.label!r} of device {result.source_serial} "
            f"copied to device {result.target_serial}: key {result.target_reference} in its "
            f"XKEK key domain {result.target_domain} (group KEK KCV {result.kcv}).",
            f"Proof: {result.proof}.",
        ],
    )


# -- status / audit --group ----------------------------------------------------------


def add_group_file_argument(parser: argparse.ArgumentParser) -> None:
    """``--group GROUP.json`` of ``status`` and ``audit``: the members it records."""
    parser.add_argument(
        "--group",
        type=Path,
        metavar="GROUP.json",
        help="a key-domain group file: list its members under this device's XKEK domain "
        "of that group",
    )


def group_file_option(arguments: argparse.Namespace) -> GroupFile | None:
    """The group file ``--group`` names, read and checked (``None`` without it)."""
    from keymanager.workflows.xkek_group import GroupFile, XkekWorkflowError

    path: Path | None = getattr(arguments, "group", None)
    if path is None:
        return None
    try:
        return GroupFile.load(path)
    except XkekWorkflowError as error:  # its kind and "nothing changed" stay the error's
        raise CliError(str(error)) from error


def add_status_members(record: dict[str, Any], group: GroupFile) -> bool:
    """Put ``group``'s members into ``status``'s record of its XKEK domain of that group
    (``"members"``); whether this device has such a domain."""
    from keymanager.workflows.xkek_members import group_members_for

    found = False
    for domain in record["key_domains"]:
        uid = bytes.fromhex(domain["uid"]) if domain.get("uid") else b""
        members = group_members_for(uid, group, record.get("serial") or "")
        if uid == group.uid:
            domain["members"] = [member.to_dict() for member in members]
            found = True
    return found


def member_line(member: dict[str, Any]) -> str:
    """A member of ``status --json``'s ``"members"``, as the text report says it."""
    from keymanager.workflows.xkek_members import KnownMember

    return KnownMember(
        serial=member["serial"],
        domain=member["domain"],
        exchange_key_ref=member["exchange_key_ref"],
        this_device=member["this_device"],
        admitted=member["admitted"],
    ).text


def no_group_domain_line(path: Path, group: GroupFile) -> str:
    """What ``--group`` says when no key domain of the device is of that group."""
    return (
        f"Group file {path}: group {group.short_uid}, to which no key domain of this device belongs"
    )
