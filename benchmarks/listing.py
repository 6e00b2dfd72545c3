"""Listing the keys of a 50-key card: keymanager against OpenSC's pkcs15-tool.

Builds a simulated SmartCard-HSM holding N keys (EC P-256, each with a PRKD and an
X.509 certificate, imported through our key store under a known DKEK), puts it into
vpcd's reader behind a real pcscd, then in the same run lists the keys with labels
and certificates through keymanager (pyscard → pcscd → vpcd → simulator) and with
``pkcs15-tool --list-keys`` on the same card.  Prints time and APDU count of each,
and the ratios ours / OpenSC.  Target: at most one APDU per key plus a small
constant... in practice the floor is two reads per key (PRKD and certificate) plus the
enumeration, and at most 0.5x OpenSC's time.

``--profile pico`` builds the card on the simulator's Pico HSM profile, whose ENUMERATE
lists no certificate files (the key store reads them where the PRKDs point).

Run:  .venv/bin/python benchmarks/listing.py [--keys 50] [--repeat 5] [--profile pico]
(needs pcscd and vsmartcard-vpcd, which ./dev.sh installs; starts pcscd if none runs)
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from keymanager.card.hsm import InitParams, SmartCardHsm  # noqa: E402
from keymanager.card.keystore import KeyStore  # noqa: E402
from keymanager.card.pcsc import PcscTransport  # noqa: E402
from keymanager.card.transport import LocalTransport  # noqa: E402
from keymanager.dkek.dkek import Dkek  # noqa: E402
from keymanager.dkek.keyblob import encode_key  # noqa: E402
from keymanager.simulator import SmartCardHsmSimulator  # noqa: E402
from tests.support.pcscd import PcscdHarness  # noqa: E402

PIN = "648219"
SO_PIN = bytes.fromhex("3537363231383830")
SHARE = bytes(range(32))
PKCS15_TOOL_MAX_KEYS = 32
"""pkcs15-tool's list_private_keys() fetches at most 32 objects (a fixed array)."""


def certificate_for(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    """A self-signed certificate, as a PKCS#12 file would bring one."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def build_card(key_count: int, state: Path, profile: str = "genuine") -> SmartCardHsmSimulator:
    """A simulated card with ``key_count`` labelled keys and certificates."""
    simulator = SmartCardHsmSimulator(state, seed=b"listing benchmark", profile=profile)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(SHARE)
    hsm.verify_pin(PIN)
    dkek = Dkek.from_shares([SHARE])
    store = KeyStore(hsm)
    for number in range(1, key_count + 1):
        key = ec.generate_private_key(ec.SECP256R1())
        store.import_wrapped_key(
            encode_key(dkek, key),
            label=f"Benchmark key {number:02d}",
            certificate=certificate_for(key, f"Benchmark key {number:02d}"),
        )
    return simulator


def time_ours(reader: str) -> tuple[float, int, int]:
    """Open the card, list keys with labels and certificates; seconds, APDUs, keys."""
    start = time.perf_counter()
    transport = PcscTransport(reader)
    try:
        with transport.exclusive():
            hsm = SmartCardHsm.open(transport)
            keys = KeyStore(hsm).list_keys()
            labelled = [key for key in keys if key.label and key.certificate_subject]
            count = hsm.connection.apdu_count
    finally:
        transport.close()
    return time.perf_counter() - start, count, len(labelled)


def time_opensc(reader: str) -> tuple[float, str]:
    """``pkcs15-tool --list-keys`` on the same card; seconds and its output."""
    tool = shutil.which("pkcs15-tool") or "pkcs15-tool"
    start = time.perf_counter()
    result = subprocess.run(
        [tool, "--reader", reader, "--list-keys"],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, result.stdout


def time_cli(reader: str) -> float:
    """``keymanager-cli keys`` as a new process (interpreter start-up included)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "keymanager.cli.main", "keys", "--reader", reader, "--json"],
        capture_output=True,
        check=True,
        cwd=REPOSITORY,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=["genuine", "pico"], default="genuine")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        print(f"Building a simulated card with {arguments.keys} keys ...", flush=True)
        simulator = build_card(arguments.keys, Path(directory) / "card.json", arguments.profile)
        harness = PcscdHarness(Path(directory) / "pcscd.log")
        harness.start()
        try:
            with harness.inserted(simulator, index=1) as (reader, bridge):
                ours_times, opensc_times, cli_times = [], [], []
                ours_apdus = opensc_apdus = cli_apdus = listed = 0
                opensc_output = ""
                for _ in range(arguments.repeat):
                    seconds, ours_apdus, listed = time_ours(reader)
                    ours_times.append(seconds)
                    before = bridge.apdus_served
                    seconds, opensc_output = time_opensc(reader)
                    opensc_times.append(seconds)
                    opensc_apdus = bridge.apdus_served - before
                    before = bridge.apdus_served
                    cli_times.append(time_cli(reader))
                    cli_apdus = bridge.apdus_served - before
        finally:
            harness.stop()

    opensc_keys = opensc_output.count("Private ")
    ours = statistics.median(ours_times)
    theirs = statistics.median(opensc_times)
    print()
    print(
        f"card ({arguments.profile} profile): {arguments.keys} EC keys with PRKD and "
        "certificate, behind pcscd + vpcd"
    )
    print(f"median of {arguments.repeat} runs; each run opens the card, selects, lists")
    print()
    print(f"{'':28}{'time':>10}{'APDUs':>8}{'shown':>6}")
    print(f"{'keymanager KeyStore':28}{ours * 1000:8.1f}ms{ours_apdus:8d}{listed:6d}")
    print(f"{'pkcs15-tool --list-keys':28}{theirs * 1000:8.1f}ms{opensc_apdus:8d}{opensc_keys:6d}")
    cli = statistics.median(cli_times)
    # keymanager-cli keys reads every CExx: only its content tells X.509 from a CV request
    print(f"{'keymanager-cli keys (process)':28}{cli * 1000:8.1f}ms{cli_apdus:8d}{listed:6d}")
    print()
    print(f"ratio time  ours/OpenSC: {ours / theirs:.2f}  (target <= 0.5; card I/O in one process)")
    print(f"ratio time  keymanager-cli/OpenSC: {cli / theirs:.2f}  (Python start-up included)")
    print(f"ratio APDUs ours/OpenSC: {ours_apdus / max(opensc_apdus, 1):.2f}")
    print(f"APDUs per key (ours): {ours_apdus / arguments.keys:.2f}")
    if opensc_keys < arguments.keys:
        print(
            f"note: pkcs15-tool prints at most 32 private keys (a fixed array in "
            f"list_private_keys); it reads all {arguments.keys} when it binds the card."
        )
    if listed != arguments.keys or opensc_keys != min(arguments.keys, PKCS15_TOOL_MAX_KEYS):
        print("WARNING: not every key was listed by both tools", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
