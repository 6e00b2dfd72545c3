"""``keymanager-cli diagnose``: what support asks a user for, with advice for each problem.

Checks pcscd (socket and ``SCardEstablishContext``), lists the readers and cards, selects
the SmartCard-HSM applet on each card and shows its version, options, whether the
session runs on secure messaging (``--no-secure-messaging``: not tried), PIN tries left
and key domains, and whether the reader carries extended-length APDUs.  Nothing is written
to the card and no PIN is asked for.  ``--simulator STATE`` runs the card checks on the
built-in simulated card instead of PC/SC.  Exit status: 0 when no check failed, 1
otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keymanager.cli.device import NO_SECURE_MESSAGING_HELP, reader_name, secure_messaging_mode

if TYPE_CHECKING:
    from keymanager.card.secure_messaging import SecureMessagingMode
    from keymanager.diagnostics import CardReport, Diagnosis, Finding


def add_parsers(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``diagnose``."""
    parser = subcommands.add_parser(
        "diagnose",
        help="check pcscd, the readers and the card, and say what to do about problems",
        description=(
            "Check that pcscd runs, list the readers and cards, select the SmartCard-HSM "
            "applet and show its version, options, PIN tries left and key domains.  Each "
            "problem comes with advice.  Nothing on the card is changed; no PIN is asked."
        ),
    )
    device = parser.add_mutually_exclusive_group()
    device.add_argument(
        "--reader",
        metavar="NAME",
        type=reader_name,
        help="check only readers whose name contains NAME",
    )
    device.add_argument(
        "--simulator",
        metavar="STATE",
        type=Path,
        help="check the built-in simulated card kept in STATE instead of PC/SC",
    )
    parser.add_argument("--no-secure-messaging", action="store_true", help=NO_SECURE_MESSAGING_HELP)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_diagnose)


def _simulated(state: Path, mode: SecureMessagingMode) -> Diagnosis:
    from keymanager.card.transport import LocalTransport
    from keymanager.diagnostics import (
        Diagnosis,
        environment_summary,
        likely_card_holders,
        probe_card,
    )
    from keymanager.simulator import SmartCardHsmSimulator

    if not state.exists():
        raise FileNotFoundError(state)
    transport = LocalTransport(SmartCardHsmSimulator(state), name=f"Simulated card ({state.name})")
    diagnosis = Diagnosis(environment=environment_summary(readers=False))
    diagnosis.holders = likely_card_holders()
    try:
        diagnosis.cards.append(
            probe_card(transport, holders=diagnosis.holders, secure_messaging=mode)
        )
    finally:
        transport.close()
    return diagnosis


def _diagnose(arguments: argparse.Namespace) -> int:
    from keymanager.diagnostics import diagnose, log_file_path

    mode = secure_messaging_mode(arguments)
    if arguments.simulator is not None:
        try:
            diagnosis = _simulated(arguments.simulator, mode)
        except FileNotFoundError:
            print(
                f"keymanager-cli: error: no simulated card at {arguments.simulator}",
                file=sys.stderr,
            )
            return 1
    else:
        diagnosis = diagnose(arguments.reader, secure_messaging=mode)
    if arguments.json:
        record = diagnosis.as_dict()
        record["log_file"] = str(log_file_path())
        print(json.dumps(record, indent=2))
    else:
        print(render(diagnosis))
    return 0 if diagnosis.ok else 1


# --- text ----------------------------------------------------------------------------


def _pin(record: dict[str, Any] | None) -> str:
    return "unknown" if record is None else str(record["text"])


def _domain(domain: dict[str, Any]) -> str:
    if domain["type"] == "empty":
        return f"{domain['domain']}: empty"
    imported = domain["shares_total"] - domain["shares_outstanding"]
    kcv = domain["kcv"] or ("pending" if domain["shares_outstanding"] else "hidden until login")
    return (
        f"{domain['domain']}: {domain['type']}, {imported} of {domain['shares_total']} "
        f"share(s) imported, KCV {kcv}"
    )


def _card_lines(card: CardReport) -> list[str]:
    lines = [f"Card in {card.reader}:"]
    if card.atr:
        lines.append(f"  ATR             : {card.atr}")
    if card.applet is None:
        lines.append("  Applet          : not reached")
        return lines
    if not card.applet:
        lines.append("  Applet          : no SmartCard-HSM applet")
        return lines
    options = ", ".join(card.options) if card.options else "none"
    lines += [
        f"  Applet          : {card.applet_description} {card.version}",
        f"  Options         : {options}",
        f"  Serial          : {card.serial or 'unknown'}",
        f"  Device          : {card.device_certificate or 'unknown'}",
        f"  Secure messaging: {card.secure_messaging_text or 'unknown'}",
        f"  User PIN        : {_pin(card.user_pin)}",
        f"  SO-PIN          : {_pin(card.so_pin)}",
    ]
    if card.key_domains is not None:
        if not card.key_domains:
            lines.append("  Key domains     : none")
        for domain in card.key_domains:
            lines.append(f"  Key domain      : {_domain(domain)}")
    if card.objects is not None:
        lines.append(f"  Objects on card : {card.objects}")
    if card.extended_length is not None:
        lines.append(f"  Extended length : {'yes' if card.extended_length else 'no'}")
    return lines


_MARKS = {"ok": "ok", "info": "info", "warning": "WARNING", "error": "ERROR"}
"""What each :class:`~keymanager.diagnostics.Severity` (by value) is shown as."""


def _finding_lines(finding: Finding) -> list[str]:
    lines = [f"  [{_MARKS[finding.severity.value]}] {finding.check}: {finding.message}"]
    if finding.advice:
        lines.append(f"      -> {finding.advice}")
    return lines


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as the text ``keymanager-cli diagnose`` prints."""
    from keymanager.diagnostics import Severity, log_file_path

    env = diagnosis.environment
    lines = [
        f"keymanager {env['keymanager']} on {env['os']}",
        f"Python {env['python']}, Qt {env['qt']}, pyscard {env['pyscard']}, "
        f"pcsc-lite {env['pcsc-lite']}",
    ]
    if diagnosis.pcscd:
        state = diagnosis.pcscd
        running = "answers" if state["answers"] else "does not answer"
        lines.append(f"pcscd: {running} (socket {state['socket']})")
    if diagnosis.readers:
        lines.append("Readers:")
        for reader in diagnosis.readers:
            present = f"card, ATR {reader['atr']}" if reader["card"] else "no card"
            lines.append(f"  {reader['name']}: {present}")
    for card in diagnosis.cards:
        lines += _card_lines(card)
    findings = diagnosis.all_findings
    problems = [f for f in findings if f.severity is not Severity.OK]
    lines.append("Findings:" if problems else "Findings: no problems found")
    for finding in findings:
        lines += _finding_lines(finding)
    if diagnosis.holders:
        names = ", ".join(f"{h.program} (pid {h.pid})" for h in diagnosis.holders)
        lines.append(f"Programs that may hold a card: {names}")
    lines.append(f"Log file: {log_file_path()}")
    return "\n".join(lines)
