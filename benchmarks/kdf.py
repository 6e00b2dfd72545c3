"""Share-file decryption time: our key derivation against OpenSSL's EVP_BytesToKey.

sc-hsm-tool derives a share file's key with OpenSSL's ``EVP_BytesToKey(MD5, count =
10,000,000)``.  This script decrypts the published real-device share file with each
of our back ends and runs OpenSSL's own routine (through ctypes, the system libcrypto)
on the same password and salt, all in this one process, and prints the times and the
ratios ours / OpenSSL.  Target: the default back end at most 0.6x OpenSSL.

Run:  .venv/bin/python benchmarks/kdf.py [--repeat N] [--rounds R]
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from keymanager.dkek import kdf  # noqa: E402
from keymanager.dkek.sharefile import decrypt_share  # noqa: E402
from tests.support.openssl_kdf import openssl_evp_bytes_to_key, openssl_version  # noqa: E402

VECTORS = REPOSITORY.parent / "shared" / "vectors" / "dkek-vectors.json"


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times) if repeat > 1 else statistics.fmean(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (best is kept)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=kdf.SHARE_FILE_ROUNDS,
        help="MD5 rounds (default: the format's)",
    )
    parser.add_argument(
        "--skip-python", action="store_true", help="do not time the pure-Python back end"
    )
    arguments = parser.parse_args()

    vector = json.loads(VECTORS.read_text())["share_file"]
    data = base64.b64decode(vector["pbe_base64"])
    password = vector["password_ascii"].encode()
    expected_share = bytes.fromhex(vector["share_hex"])
    rounds = arguments.rounds

    print(f"machine  : {platform.machine()}, Python {platform.python_version()}")
    print(f"openssl  : {openssl_version()}")
    print(f"rounds   : {rounds:,} MD5 per block, 3 blocks (share file: 10,000,000)")

    def openssl_run() -> None:
        openssl_evp_bytes_to_key(password, data[8:16], rounds)

    reference = best_of(arguments.repeat, openssl_run)
    print(f"OpenSSL EVP_BytesToKey          : {reference:7.3f} s   1.00x")

    backends: list[kdf.Backend] = []
    if kdf.accelerated():
        backends.append("c")
    if not arguments.skip_python:
        backends.append("python")
    ratios: dict[str, float] = {}
    for backend in backends:

        def ours(backend: kdf.Backend = backend) -> None:
            share = decrypt_share(data, password, rounds=rounds, backend=backend)
            if rounds == kdf.SHARE_FILE_ROUNDS and bytes(share) != expected_share:
                raise SystemExit("wrong share decrypted")

        elapsed = best_of(arguments.repeat, ours)
        ratios[backend] = elapsed / reference
        label = f"keymanager decrypt ({backend})"
        print(f"{label:32s}: {elapsed:7.3f} s   {ratios[backend]:.2f}x")

    default = "c" if kdf.accelerated() else "python"
    verdict = "meets" if ratios.get(default, 1.0) <= 0.6 else "MISSES"
    print(f"default back end '{default}' {verdict} the target (<= 0.6x OpenSSL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
