"""A scripted transport for APDU-exact tests (python-fido2 style).

Each step is the exact command expected (hex, spaces ignored) and the canned response
(hex: data followed by SW1 SW2), or an exception to raise instead.  The transport
fails the test on the first command that differs from the script, and
:meth:`ScriptedTransport.assert_done` checks that every step was used.
"""

from __future__ import annotations

from keymanager.card.errors import ExtendedLengthUnsupported
from keymanager.card.transport import Transport

Step = tuple[str, str | BaseException]


def unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


class ScriptedTransport(Transport):
    """Answers a fixed script of APDUs and records what was sent."""

    def __init__(self, steps: list[Step], *, extended: bool = True) -> None:
        self._steps = list(steps)
        self._extended = extended
        self.sent: list[bytes] = []

    @property
    def name(self) -> str:
        return "Scripted reader"

    @property
    def atr(self) -> bytes:
        return unhex("3BFE1800008131FE458031815448534D31738021408107FA")

    @property
    def supports_extended_length(self) -> bool:
        return self._extended

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        assert self._steps, f"unexpected extra APDU {apdu.hex().upper()}"
        expected, response = self._steps.pop(0)
        want = unhex(expected).hex().upper()
        assert apdu.hex().upper() == want, (
            f"APDU differs:\n sent     {apdu.hex().upper()}\n expected {want}"
        )
        if isinstance(response, BaseException):
            if isinstance(response, ExtendedLengthUnsupported):
                self._extended = False
            raise response
        return unhex(response)

    def reconnect(self, *, reset: bool = False) -> None:
        pass

    def close(self) -> None:
        pass

    def assert_done(self) -> None:
        assert not self._steps, f"{len(self._steps)} scripted APDUs were not sent"
