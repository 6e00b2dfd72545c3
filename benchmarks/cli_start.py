"""Start-up of ``keymanager-cli`` as a process, against bare Python and OpenSC.

Times, in one run, the median process wall time of

* ``python -c pass`` (the venv's interpreter: the floor every Python program pays),
* ``keymanager-cli --version``,
* ``keymanager-cli keys --simulator S`` (S: the demo card, or a blank one, in a
  temporary directory),
* ``pkcs15-tool --list-keys`` on the same simulated card behind pcscd (the simulator
  process ``python -m keymanager.simulator --vpcd`` in vpcd's first reader, as the
  PC/SC tests run it), and for comparison ``keymanager-cli keys --reader`` on it,

and prints the ratios to bare Python.  Targets: ``--version`` at most 2.5x bare
Python, ``keys --simulator`` at most 5x.  The commands run round-robin (one of each,
then the next round) so that load on the machine spreads over all of them.

The interpreter runs as an installed package does, from bytecode: the environment
variable PYTHONDONTWRITEBYTECODE is dropped and PYTHONPYCACHEPREFIX points into the
temporary directory (nothing is written into the source tree); one warm-up run of each
command compiles it.  XDG_STATE_HOME is the temporary directory too (the CLI's log).

Run it as root in a private network and mount namespace, as the PC/SC tests run, so
that the pcscd it starts sees only this simulated card::

    unshare --net --mount --propagation private sh -c 'ip link set lo up; \\
        mount -t tmpfs tmpfs /run/pcscd; exec .venv/bin/python benchmarks/cli_start.py'

Options: ``--runs 15`` (per command), ``--card demo|blank``, ``--profile genuine|pico``.
Without pcscd, vsmartcard-vpcd or pkcs15-tool the PC/SC rows say "unavailable".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python")
CLI = str(BIN / "keymanager-cli")
VPCD_READER_INDEX = 0
TARGETS = {"--version": 2.5, "keys --simulator": 5.0}


def build_card(state: Path, kind: str, profile: str) -> None:
    """The simulated card the commands list: the demo card, or a blank one."""
    from keymanager.simulator import SmartCardHsmSimulator

    if kind == "demo":
        from keymanager.simulator.demo import build_demo_card

        os.environ["KEYMANAGER_SIMULATOR_PROFILE"] = profile
        build_demo_card(state)
    else:
        SmartCardHsmSimulator(state, profile=profile)  # writes its state file


def child_environment(directory: Path) -> dict[str, str]:
    """The environment of the timed processes: bytecode on, caches in ``directory``."""
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    environment["XDG_STATE_HOME"] = str(directory / "state")
    return environment


def wall_time(command: Sequence[str], environment: dict[str, str]) -> float:
    """Seconds from start to exit of ``command``; it must succeed."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, env=environment, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}: {result.stderr.decode()[-500:]}"
        )
    return elapsed


class PcscCard:
    """The simulated card in vpcd's first reader behind a pcscd (started if none runs)."""

    def __init__(self, state: Path, log: Path) -> None:
        self.state = state
        self.log = log
        self.harness: object | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.reader = ""

    def start(self) -> str | None:
        """The reader's name, or why PC/SC is unavailable."""
        if shutil.which("pkcs15-tool") is None:
            return "pkcs15-tool is not installed (Debian package opensc)"
        try:
            from tests.support.pcscd import PcscdHarness
        except ImportError as error:  # pyscard missing
            return f"cannot use PC/SC ({error})"
        harness = PcscdHarness(self.log)
        try:
            harness.start()
        except RuntimeError as error:
            return str(error)
        self.harness = harness
        from keymanager.simulator.vpcd import DEFAULT_PORT

        simulator = [PYTHON, "-m", "keymanager.simulator", "--vpcd", "--port", str(DEFAULT_PORT)]
        self.process = subprocess.Popen(
            [*simulator, "--state", str(self.state)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.reader = harness.vpcd_reader(VPCD_READER_INDEX)
            harness.wait_for_card(self.reader, True, timeout=15)
        except RuntimeError as error:
            return str(error)
        return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.harness is not None:
            self.harness.stop()  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    parser.add_argument("--card", choices=["demo", "blank"], default="demo")
    parser.add_argument("--profile", choices=["genuine", "pico"], default="genuine")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cli-start-") as name:
        directory = Path(name)
        state = directory / "card.json"
        print(f"Building the {arguments.card} card ({arguments.profile} profile) ...", flush=True)
        build_card(state, arguments.card, arguments.profile)
        pcsc_state = directory / "pcsc-card.json"  # the same card, for the vpcd process
        shutil.copyfile(state, pcsc_state)
        environment = child_environment(directory)

        commands: dict[str, list[str]] = {
            "python -c pass": [PYTHON, "-c", "pass"],
            "keymanager-cli --version": [CLI, "--version"],
            "keymanager-cli keys --simulator": [CLI, "keys", "--simulator", str(state)],
        }
        pcsc = PcscCard(pcsc_state, directory / "pcscd.log")
        unavailable = pcsc.start()
        try:
            if unavailable is None:
                commands["pkcs15-tool --list-keys"] = [
                    shutil.which("pkcs15-tool") or "pkcs15-tool",
                    "--reader",
                    pcsc.reader,
                    "--list-keys",
                ]
                commands["keymanager-cli keys --reader"] = [CLI, "keys", "--reader", pcsc.reader]
            times: dict[str, list[float]] = {label: [] for label in commands}
            for command in commands.values():  # warm-up: compiles the bytecode
                wall_time(command, environment)
            for _ in range(arguments.runs):
                for label, command in commands.items():
                    times[label].append(wall_time(command, environment))
        finally:
            pcsc.stop()

    medians = {label: statistics.median(values) for label, values in times.items()}
    bare = medians["python -c pass"]
    print()
    print(f"median wall time of {arguments.runs} runs each, as new processes")
    print(f"{'':34}{'time':>10}{'x python':>10}  target")
    rows = [*commands]
    if unavailable is not None:
        rows += ["pkcs15-tool --list-keys"]
    met = True
    for label in rows:
        if label not in medians:
            print(f"{label:34}{'unavailable':>10}  ({unavailable})")
            continue
        ratio = medians[label] / bare
        target = next((t for key, t in TARGETS.items() if label.endswith(key)), None)
        verdict = ""
        if target is not None:
            verdict = f"<= {target:.1f}x " + ("met" if ratio <= target else "MISSED")
            met = met and ratio <= target
        print(f"{label:34}{medians[label] * 1000:8.1f}ms{ratio:9.2f}x  {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
