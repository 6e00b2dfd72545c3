"""Start a real pcscd for the tests and put simulated cards into vpcd's readers.

pcscd runs in the foreground as a child of the test process when none is running;
only a pcscd the tests started is stopped again.  vpcd's first reader is
``Virtual PCD 00 00`` on TCP port 35963; a card appears in it when a
:class:`~keymanager.simulator.vpcd.VpcdBridge` connects.

A pcscd started here logs every APDU (``--apdu``) to the harness's log file, one line
each, as pcscd writes them: ``APDU: 00 20 00 81 06 36 34 …`` for a command and
``SW: 90 00`` for a response (upper-case hex, a space after each byte).
:meth:`PcscdHarness.log_position` and :meth:`PcscdHarness.log_since` give the lines of
one test; :attr:`PcscdHarness.logs_apdus` says whether there are any (a pcscd that was
running already logs elsewhere, if at all).  The tests' PINs and shares are test
constants, not secrets, so they may stand in that file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from smartcard import scard

from keymanager.simulator.vpcd import DEFAULT_PORT, BridgedCard, VpcdBridge, serve_in_thread

PCSCD_SOCKET = Path(os.environ.get("PCSCLITE_CSOCK_NAME", "/run/pcscd/pcscd.comm"))
VPCD_READER_PREFIX = "Virtual PCD 00 00"
VPCD_CONFIG = Path("/etc/reader.conf.d/vpcd")


class PcscdHarness:
    """A pcscd the tests can rely on; started here only if none is running."""

    def __init__(self, log_path: Path, *, log_apdus: bool = True) -> None:
        self.log_path = log_path
        self.log_apdus = log_apdus
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def logs_apdus(self) -> bool:
        """Whether :attr:`log_path` receives every APDU (a pcscd started here with ``--apdu``)."""
        return self.process is not None and self.process.poll() is None and self.log_apdus

    def log_position(self) -> int:
        """The size of the log now: pass it to :meth:`log_since` after the APDUs of interest."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, position: int) -> str:
        """What pcscd logged after ``position`` (pcscd flushes each line as it logs it,
        before the answer reaches the program that sent the APDU)."""
        with self.log_path.open("rb") as log:
            log.seek(position)
            return log.read().decode("ascii", errors="replace")

    def start(self) -> None:
        if not VPCD_CONFIG.exists():
            raise RuntimeError(
                f"{VPCD_CONFIG} is missing: install vsmartcard-vpcd (./dev.sh does that)"
            )
        if self._service_answers():
            return
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not Path(binary).exists():
            raise RuntimeError("pcscd is not installed: install pcscd (./dev.sh does that)")
        log = self.log_path.open("wb")
        options = ["--foreground", "--apdu"] if self.log_apdus else ["--foreground"]
        self.process = subprocess.Popen([binary, *options], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited at start; see {self.log_path}")
            if self._service_answers() and self.reader_names():
                return
            time.sleep(0.05)
        raise RuntimeError(f"pcscd did not come up within 15 s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @staticmethod
    def _service_answers() -> bool:
        if not PCSCD_SOCKET.exists():
            return False
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != scard.SCARD_S_SUCCESS:
            return False
        scard.SCardReleaseContext(context)
        return True

    @staticmethod
    def reader_names() -> list[str]:
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != scard.SCARD_S_SUCCESS:
            return []
        try:
            result, readers = scard.SCardListReaders(context, [])
            return list(readers) if result == scard.SCARD_S_SUCCESS else []
        finally:
            scard.SCardReleaseContext(context)

    def vpcd_reader(self, index: int = 0) -> str:
        wanted = f"Virtual PCD 00 {index:02d}"
        for name in self.reader_names():
            if name.startswith(wanted):
                return name
        raise RuntimeError(f"pcscd shows no {wanted!r} reader: is vsmartcard-vpcd installed?")

    @staticmethod
    def card_present(reader: str) -> bool:
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != scard.SCARD_S_SUCCESS:
            return False
        try:
            result, states = scard.SCardGetStatusChange(
                context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
            )
            if result != scard.SCARD_S_SUCCESS:
                return False
            return bool(states[0][1] & scard.SCARD_STATE_PRESENT)
        finally:
            scard.SCardReleaseContext(context)

    def wait_for_card(self, reader: str, present: bool, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.card_present(reader) == present:
                # pcscd may report a stale ATR for ~0.4 s after removal; a second look
                # a little later confirms the state.
                time.sleep(0.1)
                if self.card_present(reader) == present:
                    return
            time.sleep(0.05)
        state = "appear in" if present else "leave"
        raise RuntimeError(f"the card did not {state} {reader!r} within {timeout} s")

    @contextlib.contextmanager
    def inserted(self, card: BridgedCard, *, index: int = 0) -> Iterator[tuple[str, VpcdBridge]]:
        """Put ``card`` into vpcd reader ``index`` for the span of the block."""
        reader = self.vpcd_reader(index)
        bridge, thread = serve_in_thread(card, port=DEFAULT_PORT + index)
        try:
            self.wait_for_card(reader, True)
            yield reader, bridge
        finally:
            bridge.stop()
            thread.join(timeout=5)
            self.wait_for_card(reader, False)
