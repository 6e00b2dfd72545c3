"""Run the simulated SmartCard-HSM: ``python -m keymanager.simulator``.

``--state FILE`` keeps the card's state in a file (created if missing), ``--seed HEX``
makes it deterministic, ``--profile genuine|pico`` picks the card's personality (see
:mod:`keymanager.simulator.profiles`; stored in the state file).  With ``--vpcd`` the
card is served to pcscd through vsmartcard's virtual reader (see
:mod:`keymanager.simulator.vpcd`); without it the program reads command APDUs as
hexadecimal lines from standard input and prints each response, which is handy for
poking at the card by hand.

``--hostile SPEC`` makes the card answer chosen commands with malformed data (see
:mod:`keymanager.simulator.hostile` and the "Hostile card" section of ``docs/card.md``),
e.g. ``--hostile 'ins:58@garbage:7'`` to see what the app makes of a broken ENUMERATE.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from keymanager.card.errors import TransportError
from keymanager.simulator.card import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard, HostileSpecError, describe_rules, parse_spec
from keymanager.simulator.profiles import PROFILES
from keymanager.simulator.vpcd import BridgedCard, VpcdBridge

DEFAULT_VPCD_PORT = 35963


def _parse_seed(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("the seed must be hexadecimal") from None


def _parse_hostile(text: str) -> str:
    try:
        parse_spec(text)
    except HostileSpecError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m keymanager.simulator",
        description="A software SmartCard-HSM (for tests and demos; its keys are not secret).",
    )
    parser.add_argument("--state", type=Path, help="state file (created if missing)")
    parser.add_argument("--seed", type=_parse_seed, help="hexadecimal seed: deterministic card")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="the card's personality: genuine SmartCard-HSM or Pico HSM (stored in the "
        "state file; default: the state file's, else $KEYMANAGER_SIMULATOR_PROFILE, "
        "else genuine)",
    )
    parser.add_argument(
        "--hide-kcv-until-login",
        action="store_true",
        default=None,
        help="answer an all-zero KCV until the user PIN is verified (as Pico HSM does)",
    )
    parser.add_argument(
        "--hostile",
        type=_parse_hostile,
        metavar="SPEC",
        help="answer chosen commands with malformed data, e.g. 'ins:B1@truncate:3' "
        "(rules TARGET@MALFORMATION separated by ';'; see docs/card.md, Hostile card)",
    )
    parser.add_argument("--vpcd", action="store_true", help="serve the card to pcscd via vpcd")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_VPCD_PORT, help="vpcd port (default 35963)"
    )
    return parser


def run_vpcd(simulator: BridgedCard, port: int) -> int:
    """Serve ``simulator`` to vpcd until interrupted; reconnects when pcscd restarts."""
    bridge = VpcdBridge(simulator, port=port)
    try:
        bridge.serve_forever()
    except KeyboardInterrupt:
        bridge.stop()
    return 0


def run_stdin(simulator: BridgedCard, source: TextIO, sink: TextIO) -> int:
    """Answer hexadecimal APDUs, one per line, until the input ends."""
    simulator.power_on()
    for line in source:
        text = "".join(line.split())
        if not text or text.startswith("#"):
            continue
        try:
            apdu = bytes.fromhex(text)
        except ValueError:
            print("error: not hexadecimal", file=sink)
            continue
        try:
            response = simulator.process_apdu(apdu)
        except TransportError as exc:
            print(f"error: {exc}", file=sink)
            continue
        print(response.hex().upper(), file=sink, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    try:
        simulator = SmartCardHsmSimulator(
            args.state,
            seed=args.seed,
            profile=args.profile,
            hide_kcv_until_login=args.hide_kcv_until_login,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    card: BridgedCard = simulator
    if args.hostile:
        hostile = HostileCard(simulator, args.hostile)
        print(
            "hostile card: malformed answers for\n" + describe_rules(hostile.rules),
            file=sys.stderr,
            flush=True,
        )
        card = hostile
    if args.vpcd:
        return run_vpcd(card, args.port)
    return run_stdin(card, sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
