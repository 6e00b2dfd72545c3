"""What secure messaging costs: listing 50 keys and a PKCS#12 import, with and without it.

Times, in one run, the median wall time of

* **listing the keys** of a simulated card holding N keys (EC P-256, each with a PRKD
  and a certificate): open the session (SELECT, EF 2F02, and with the channel chip
  authentication), then the key store's listing as ``keymanager-cli keys`` runs it
  (``KeyStore.list_keys(load_certificates=True)`` and the key-domain registry);
* **a PKCS#12 import** (the classic import of :mod:`keymanager.workflows.import_p12`:
  the DKEK share entered on the host, the KCV checked, UNWRAP, PRKD and certificate
  written, the key proven by a signature) of one EC P-256 key with its certificate on a
  fresh copy of a card with a complete DKEK: open the session, verify the PIN, import.
  The file is opened (its password's key derivation) before the clock starts;

each in the clear (``secure_messaging=OFF``) and on a channel (``AUTO``), over the
in-process simulator and, where pcscd and vsmartcard-vpcd can be used, through pyscard →
pcscd → vpcd → the simulator.  The two modes alternate within every repetition, so load
on the machine falls on both.  It prints the medians, the APDUs of one run, and the
ratio channel / clear (target: at most 1.3x; the exit status is 1 when one is missed),
then where the channel's time goes in an in-process listing (instrumented runs: chip
authentication, the host's wrap/unwrap, the simulator's).  The simulator does the card's
share of the cryptography in the same process, so the simulated figures count both ends,
against a card that answers in a fraction of a millisecond where a real one takes
milliseconds per APDU.

Run it as root in a private network and mount namespace, as the PC/SC tests run, so
that the pcscd it starts sees only this simulated card::

    unshare --net --mount --propagation private sh -c 'ip link set lo up; \\
        mount -t tmpfs tmpfs /run/pcscd; exec .venv/bin/python benchmarks/secure_messaging.py'

Options: ``--keys 50``, ``--repeat 9``, ``--profile genuine|pico``, ``--no-pcsc``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from benchmarks.listing import PIN, SHARE, build_card  # noqa: E402
from keymanager.card.domain_registry import annotate_keys, read_registry  # noqa: E402
from keymanager.card.hsm import SmartCardHsm  # noqa: E402
from keymanager.card.keystore import KeyStore  # noqa: E402
from keymanager.card.secure_messaging import (  # noqa: E402
    SecureMessagingMode,
    SecureMessagingStatus,
)
from keymanager.card.transport import LocalTransport, Transport  # noqa: E402
from keymanager.dkek.paperkey import encode_paperkey  # noqa: E402
from keymanager.simulator import SmartCardHsmSimulator  # noqa: E402
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12  # noqa: E402
from keymanager.workflows.interaction import (  # noqa: E402
    PaperKeyShareInput,
    ScriptedInteraction,
)
from keymanager.workflows.pkcs12 import open_pkcs12  # noqa: E402
from tests.workflows.p12_support import P12_PASSWORD, write_p12  # noqa: E402

TARGET = 1.3
MODES = {"clear": SecureMessagingMode.OFF, "channel": SecureMessagingMode.AUTO}


class SwappableCard:
    """The card vpcd's reader holds: the one in :attr:`current` (swapped between runs)."""

    def __init__(self, card: SmartCardHsmSimulator) -> None:
        self.current = card

    @property
    def atr(self) -> bytes:
        return self.current.atr

    @property
    def present(self) -> bool:
        return self.current.present

    def power_on(self) -> bytes:
        return self.current.power_on()

    def process_apdu(self, apdu: bytes) -> bytes:
        return self.current.process_apdu(apdu)


@dataclass
class Route:
    """How the session reaches a card: in-process, or through pcscd (a reader)."""

    name: str
    connect: Callable[[SmartCardHsmSimulator], Transport]


@dataclass
class Row:
    """Times (seconds) and APDUs of one measurement per mode."""

    times: dict[str, list[float]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    apdus: dict[str, int] = field(default_factory=dict)


def open_session(transport: Transport, mode: SecureMessagingMode) -> SmartCardHsm:
    """A session in the clear (``OFF``) or on a channel (``AUTO``), and nothing else."""
    hsm = SmartCardHsm.open(transport, secure_messaging=mode)
    on = mode is SecureMessagingMode.AUTO
    wanted = SecureMessagingStatus.ACTIVE if on else SecureMessagingStatus.OFF
    if hsm.secure_messaging.status is not wanted or (hsm.connection.channel is None) == on:
        raise RuntimeError(f"the session is {hsm.secure_messaging.text}")
    return hsm


def list_keys(transport: Transport, mode: SecureMessagingMode, keys: int) -> tuple[float, int]:
    """Open the session and list the keys as ``keymanager-cli keys`` does."""
    start = time.perf_counter()
    with transport.exclusive():
        hsm = open_session(transport, mode)
        listed = KeyStore(hsm).list_keys(load_certificates=True)
        annotated = annotate_keys(listed, read_registry(hsm))
    elapsed = time.perf_counter() - start
    if len(annotated) != keys or not all(key.label and key.certificate_subject for key in listed):
        raise RuntimeError(f"{len(annotated)} keys listed, {keys} expected")
    return elapsed, hsm.connection.apdu_count


def import_p12(
    transport: Transport, mode: SecureMessagingMode, p12: Path, journal: Path
) -> tuple[float, int]:
    """Open the session, verify the PIN, import the PKCS#12 file (opened beforehand)."""
    opened = open_pkcs12(p12, bytearray(P12_PASSWORD.encode()))
    interaction = (
        ScriptedInteraction()
        .answer("number", 1)
        .answer("share", PaperKeyShareInput(list(encode_paperkey(SHARE).lines)))
        .answer("choices", "all")
    )
    start = time.perf_counter()
    with transport.exclusive():
        hsm = open_session(transport, mode)
        hsm.verify_pin(PIN)
        result = import_pkcs12(
            hsm,
            interaction,
            path=p12,
            journal=ImportJournal(journal),
            offer_more=False,
            opened=opened,
        )
    elapsed = time.perf_counter() - start
    if not result.ok or len(result.keys) != 1 or not interaction.finished:
        raise RuntimeError(f"the import did not succeed: {result.summary()}")
    return elapsed, hsm.connection.apdu_count


@contextmanager
def pcsc_path(card: SwappableCard, log: Path) -> Iterator[Route | str]:
    """The path through pcscd and vpcd, or why there is none."""
    try:
        from keymanager.card.pcsc import PcscTransport
        from tests.support.pcscd import PcscdHarness
    except ImportError as error:  # pyscard missing
        yield f"cannot use PC/SC ({error})"
        return
    harness = PcscdHarness(log, log_apdus=False)
    try:
        harness.start()
    except RuntimeError as error:
        yield str(error)
        return
    try:
        with harness.inserted(card) as (reader, _bridge):
            transports: list[Transport] = []

            def connect(simulator: SmartCardHsmSimulator) -> Transport:
                card.current = simulator
                transport = PcscTransport(reader)
                transports.append(transport)
                return transport

            try:
                yield Route("pcscd + vpcd", connect)
            finally:
                for transport in transports:
                    transport.close()
    finally:
        harness.stop()


def measure(
    path: Route,
    listing_card: SmartCardHsmSimulator,
    import_card: SmartCardHsmSimulator,
    arguments: argparse.Namespace,
    directory: Path,
) -> dict[str, Row]:
    rows = {"list": Row(), "import": Row()}
    p12 = directory / "key.p12"
    write_p12(p12, ec.generate_private_key(ec.SECP256R1()), common_name="benchmark key")
    runs = arguments.repeat + 1  # the first run of each is a warm-up, not counted
    for run in range(runs):
        for label, mode in MODES.items():
            transport = path.connect(listing_card)
            try:
                seconds, apdus = list_keys(transport, mode, arguments.keys)
            finally:
                transport.close()
            if run:
                rows["list"].times[label].append(seconds)
            rows["list"].apdus[label] = apdus
            transport = path.connect(copy.deepcopy(import_card))
            try:
                journal = directory / f"journal-{path.name}-{run}-{label}.json"
                seconds, apdus = import_p12(transport, mode, p12, journal)
            finally:
                transport.close()
            if run:
                rows["import"].times[label].append(seconds)
            rows["import"].apdus[label] = apdus
    return rows


@contextmanager
def breakdown(totals: dict[str, float]) -> Iterator[None]:
    """Add up where a channel's time goes while the block runs (methods patched)."""
    from keymanager.card import hsm as hsm_module
    from keymanager.card import secure_messaging as host
    from keymanager.simulator import card as simulator_card
    from keymanager.simulator import secure_messaging as simulator

    inside = [False]

    def timed(owner: object, name: str, key: str, *, only_inside: bool = False) -> object:
        original = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            if only_inside and not inside[0]:
                return original(*args, **kwargs)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

        setattr(owner, name, wrapper)
        return original

    def secure_command(original: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            inside[0] = True
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                inside[0] = False
                totals["card SM"] = totals.get("card SM", 0.0) + time.perf_counter() - start

        return wrapper

    patched = [
        (host.SecureChannel, "wrap", timed(host.SecureChannel, "wrap", "host SM")),
        (host.SecureChannel, "unwrap", timed(host.SecureChannel, "unwrap", "host SM")),
        (
            hsm_module.SmartCardHsm,
            "_open_channel",
            timed(hsm_module.SmartCardHsm, "_open_channel", "chip authentication"),
        ),
        (
            simulator_card.SmartCardHsmSimulator,
            "_dispatch",
            timed(
                simulator_card.SmartCardHsmSimulator,
                "_dispatch",
                "card commands",
                only_inside=True,
            ),
        ),
    ]
    original_secure = simulator.SecureMessaging._secure_command
    setattr(simulator.SecureMessaging, "_secure_command", secure_command(original_secure))  # noqa: B010
    try:
        yield
    finally:
        setattr(simulator.SecureMessaging, "_secure_command", original_secure)  # noqa: B010
        for owner, name, original in patched:
            setattr(owner, name, original)


def where_the_time_goes(card: SmartCardHsmSimulator, keys: int, runs: int) -> None:
    """Where a channel's time goes in a listing, in-process: instrumented runs, means."""
    totals: dict[str, float] = {}
    times = {"clear": 0.0, "channel": 0.0}
    for _ in range(runs):
        times["clear"] += list_keys(LocalTransport(card), SecureMessagingMode.OFF, keys)[0]
        with breakdown(totals):
            times["channel"] += list_keys(LocalTransport(card), SecureMessagingMode.AUTO, keys)[0]
    milliseconds = {key: value / runs * 1000 for key, value in totals.items()}
    extra = (times["channel"] - times["clear"]) / runs * 1000
    chip = milliseconds.get("chip authentication", 0.0)
    host_sm = milliseconds.get("host SM", 0.0)
    card_sm = milliseconds.get("card SM", 0.0) - milliseconds.get("card commands", 0.0)
    print(
        f"  where the channel's {extra:.1f}ms of a listing go (in-process, instrumented, "
        f"mean of {runs}):"
    )
    print(f"    chip authentication (EF 2F02, chain, ECDH, MSE + GA)  {chip:6.1f}ms")
    print(f"    wrap + unwrap on the host                              {host_sm:6.1f}ms")
    print(f"    the simulator's unwrap + wrap                          {card_sm:6.1f}ms")
    rest = extra - chip - host_sm - card_sm
    print(f"    the rest (the session's protected path, instruments)  {rest:6.1f}ms")


def import_template(profile: str) -> SmartCardHsmSimulator:
    """A card with a complete DKEK (one share) in domain 0 and no keys."""
    from keymanager.card.hsm import InitParams
    from keymanager.card.hsm_types import DEFAULT_SO_PIN

    card = SmartCardHsmSimulator(None, seed=b"secure messaging benchmark", profile=profile)
    hsm = SmartCardHsm.open(LocalTransport(card), secure_messaging=SecureMessagingMode.OFF)
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(SHARE)
    hsm.verify_pin(PIN)  # Pico HSM keeps a DKEK only after a VERIFY
    return card


def report(name: str, rows: dict[str, Row], keys: int) -> bool:
    titles = {"list": f"list {keys} keys (open + list)", "import": "PKCS#12 import (P-256)"}
    print(f"{name}")
    print(f"  {'':32}{'clear':>10}{'channel':>10}{'ratio':>8}  APDUs clear/channel  target")
    met = True
    for key, row in rows.items():
        clear = statistics.median(row.times["clear"])
        channel = statistics.median(row.times["channel"])
        ratio = channel / clear
        met = met and ratio <= TARGET
        verdict = f"<= {TARGET:.1f}x " + ("met" if ratio <= TARGET else "MISSED")
        apdus = f"{row.apdus['clear']}/{row.apdus['channel']}"
        print(
            f"  {titles[key]:32}{clear * 1000:8.1f}ms{channel * 1000:8.1f}ms"
            f"{ratio:7.2f}x  {apdus:>19}  {verdict}"
        )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=9, help="counted runs of each")
    parser.add_argument("--profile", choices=["genuine", "pico"], default="genuine")
    parser.add_argument("--no-pcsc", action="store_true", help="in-process simulator only")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="secure-messaging-") as name:
        directory = Path(name)
        print(f"Building a simulated card with {arguments.keys} keys ...", flush=True)
        listing_card = build_card(arguments.keys, directory / "card.json", arguments.profile)
        listing_card.state_path = None  # in memory from here: no state file written per APDU
        import_card = import_template(arguments.profile)
        results: dict[str, dict[str, Row]] = {}
        local = Route("in-process simulator", lambda card: LocalTransport(card))
        results[local.name] = measure(local, listing_card, import_card, arguments, directory)
        unavailable = "--no-pcsc" if arguments.no_pcsc else None
        if unavailable is None:
            with pcsc_path(SwappableCard(listing_card), directory / "pcscd.log") as path:
                if isinstance(path, str):
                    unavailable = path
                else:
                    results[path.name] = measure(
                        path, listing_card, import_card, arguments, directory
                    )

    print()
    print(
        f"median wall time of {arguments.repeat} runs each ({arguments.profile} profile), "
        "clear and channel alternating"
    )
    verdicts = []
    for name, rows in results.items():
        verdicts.append(report(name, rows, arguments.keys))
        if name == local.name:
            where_the_time_goes(listing_card, arguments.keys, arguments.repeat)
    if unavailable is not None:
        print(f"pcscd + vpcd: unavailable ({unavailable})")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
