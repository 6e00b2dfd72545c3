"""Bridge a simulated card to vsmartcard's vpcd, so pcscd shows it in a real reader.

vpcd (the virtual reader driver that pcscd loads) *listens* on a TCP port, and the
card connects to it as a client.  Both directions carry messages framed as a 2-byte
big-endian length followed by that many bytes.  A 1-byte message from vpcd is a
control code (0 power off, 1 power on, 2 reset, 4 get ATR; only 4 is answered, with the
ATR); anything longer is a command APDU, answered with the response APDU.

vpcd 0.8 sends the length and the payload in two ``send()`` calls with Nagle's
algorithm on, so each APDU would wait for a delayed ACK (~40 ms).  Setting
``TCP_QUICKACK`` on our socket before every receive avoids that (the kernel clears the
flag after each ACK): measured 48.5 ms → 0.1 ms per APDU.

The bridge connects only to 127.0.0.1 (vpcd listens on every interface, we never
talk to anything but loopback), reconnects when vpcd goes away (pcscd restarted),
and models card removal: when the card raises
:class:`~keymanager.card.errors.CardRemoved` the bridge closes its socket, which pcscd
sees as the card leaving the reader, and connects again once the card is present.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Protocol

from keymanager.card.errors import CardRemoved, CardReset, TransportError

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
"""vpcd's first reader (``Virtual PCD 00 00``); the second listens on 35964."""

CONTROL_POWER_OFF = 0
CONTROL_POWER_ON = 1
CONTROL_RESET = 2
CONTROL_GET_ATR = 4

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class BridgedCard(Protocol):
    """What the bridge needs from a card: the :class:`VirtualCard` calls, plus presence."""

    def power_on(self) -> bytes: ...

    def process_apdu(self, apdu: bytes) -> bytes: ...


class _Disconnected(Exception):
    """vpcd closed the connection."""


class VpcdBridge:
    """Serve one card to one vpcd reader slot until :meth:`stop` is called."""

    def __init__(
        self,
        card: BridgedCard,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        retry_interval: float = 0.2,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the vpcd bridge only connects to loopback")
        self.card = card
        self.host = host
        self.port = port
        self.retry_interval = retry_interval
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self.connected = threading.Event()
        """Set while the bridge holds a connection to vpcd (the card is in the reader)."""
        self.apdus_served = 0
        self._atr_cache: bytes | None = None

    # -- control -----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`serve_forever` to end; the card leaves the reader."""
        self._stop.set()
        self._close_socket()

    def _card_present(self) -> bool:
        return bool(getattr(self.card, "present", True))

    def _close_socket(self) -> None:
        with self._lock:
            sock, self._socket = self._socket, None
        self.connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- the loop ----------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Connect to vpcd and answer it; reconnect after every disconnection."""
        while not self._stop.is_set():
            if not self._card_present():
                self._stop.wait(self.retry_interval)
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError:
                self._stop.wait(self.retry_interval)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set():
                    sock.close()
                    return
                self._socket = sock
            self.connected.set()
            logger.info("card connected to vpcd on %s:%d", self.host, self.port)
            try:
                self._serve(sock)
            except (_Disconnected, OSError):
                logger.info("vpcd on %s:%d went away; reconnecting", self.host, self.port)
            except CardRemoved:
                logger.info("simulated card removed from the vpcd reader")
            finally:
                self._close_socket()

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            message = self._receive(sock)
            if len(message) == 1:
                answer = self._control(message[0])
                if answer is not None:
                    self._send(sock, answer)
                continue
            self._send(sock, self._process(message))

    def _control(self, code: int) -> bytes | None:
        if code in (CONTROL_POWER_ON, CONTROL_RESET):
            if not self._card_present():
                raise CardRemoved("the simulated card is not in the reader")
            self._atr_cache = self.card.power_on()
            return None
        if code == CONTROL_GET_ATR:
            if not self._card_present():
                raise CardRemoved("the simulated card is not in the reader")
            return self._atr()
        return None  # power off and unknown codes need no answer

    def _atr(self) -> bytes:
        # vpcd asks for the ATR every ~400 ms as a presence check: answer it without
        # powering the card on again, which would clear its session state.
        atr = getattr(self.card, "atr", None)
        if atr is None:
            if self._atr_cache is None:
                self._atr_cache = self.card.power_on()
            return self._atr_cache
        return bytes(atr)

    def _process(self, apdu: bytes) -> bytes:
        self.apdus_served += 1
        try:
            return self.card.process_apdu(apdu)
        except CardReset:
            # The card lost its session state; a real reader would report the reset on
            # the next exchange.  Answer with a status word that ends this command.
            return bytes.fromhex("6F00")
        except CardRemoved:
            raise
        except TransportError:
            return bytes.fromhex("6F00")

    # -- framing -----------------------------------------------------------------------

    def _receive(self, sock: socket.socket) -> bytes:
        header = self._receive_exactly(sock, 2)
        return self._receive_exactly(sock, int.from_bytes(header, "big"))

    @staticmethod
    def _receive_exactly(sock: socket.socket, length: int) -> bytes:
        buffer = bytearray()
        while len(buffer) < length:
            if _TCP_QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            chunk = sock.recv(length - len(buffer))
            if not chunk:
                raise _Disconnected
            buffer += chunk
        return bytes(buffer)

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        sock.sendall(len(payload).to_bytes(2, "big") + payload)


def serve_in_thread(
    card: BridgedCard, *, port: int = DEFAULT_PORT
) -> tuple[VpcdBridge, threading.Thread]:
    """Start a bridge for ``card`` in a daemon thread and return it with its thread."""
    bridge = VpcdBridge(card, port=port)
    thread = threading.Thread(target=bridge.serve_forever, name=f"vpcd-bridge-{port}", daemon=True)
    thread.start()
    return bridge, thread
