"""One typed exception tree for everything that can go wrong talking to a card.

:class:`CardError` is the root.  :class:`TransportError` covers the PC/SC side (no
service, no reader, card removed, card held by another program); :class:`ApduError`
carries a status word, and its subclasses name what the status word means for a
SmartCard-HSM.  The session raises the most specific class it can, so the GUI and
the CLI map classes (never raw status words) to messages and recovery actions.
"""

from __future__ import annotations


class CardError(Exception):
    """Base class of every card-side error."""


# --- transport ----------------------------------------------------------------------


class TransportError(CardError):
    """The card could not be reached."""


class PcscUnavailable(TransportError):
    """The PC/SC service (pcscd) is not running or not installed."""


class NoReader(TransportError):
    """No smart-card reader is connected (or the named one is not)."""


class NoCard(TransportError):
    """The reader has no card in it."""


class CardRemoved(TransportError):
    """The card was removed (or lost power) during the operation."""


class CardReset(TransportError):
    """The card was reset by someone else; the session state (PIN, selection) is gone."""


class CardInUse(TransportError):
    """Another program holds the card exclusively (often GnuPG's scdaemon or a browser)."""


class ExtendedLengthUnsupported(TransportError):
    """The reader cannot transmit extended-length APDUs and chaining was not possible."""


# --- responses ----------------------------------------------------------------------


class MalformedResponse(CardError):
    """The card answered with data that does not have the expected structure."""


class ApplicationNotFound(CardError):
    """The card has no SmartCard-HSM applet (SELECT failed)."""


class ApduError(CardError):
    """The card answered a command with an error status word."""

    description = "the card refused the command"

    def __init__(self, sw: int, command: str = "") -> None:
        self.sw = sw
        self.command = command
        where = f"{command}: " if command else ""
        super().__init__(f"{where}{self.description} (SW {sw:04X})")


class WrongLength(ApduError):
    description = "wrong length"


class SecurityStatusNotSatisfied(ApduError):
    description = "not authenticated: verify the user PIN first"


class WrongPin(ApduError):
    """A PIN was wrong; ``tries_left`` says how many attempts remain."""

    description = "wrong PIN"

    def __init__(self, sw: int, command: str = "") -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, command)
        self.args = (
            f"{command + ': ' if command else ''}wrong PIN, {self.tries_left} "
            f"{'try' if self.tries_left == 1 else 'tries'} left (SW {sw:04X})",
        )


class PinBlocked(ApduError):
    description = "the PIN is blocked"


class ReferenceDataNotUsable(ApduError):
    """6984: transport PIN still set, or (old cards) the device was never initialised."""

    description = "the PIN cannot be used yet (transport PIN active or device not initialised)"


class ConditionsNotSatisfied(ApduError):
    description = "conditions of use not satisfied"


class CommandNotAllowed(ApduError):
    description = "command not allowed in the current state"


class WrongData(ApduError):
    description = "the card rejected the data"


class FunctionNotSupported(ApduError):
    description = "function not supported"


class FileNotFound(ApduError):
    description = "file or key not found"


class NotEnoughMemory(ApduError):
    description = "not enough memory on the card"


class IncorrectParameters(ApduError):
    description = "incorrect parameters P1/P2"


class ReferencedDataNotFound(ApduError):
    description = "referenced data not found"


class FileExists(ApduError):
    description = "file or key already exists"


class InsNotSupported(ApduError):
    description = "command not supported by the card (or not enabled at initialisation)"


class ClaNotSupported(ApduError):
    description = "class byte not supported"


class ExecutionError(ApduError):
    description = "the card failed to execute the command"


class MemoryFailure(ApduError):
    description = "memory failure on the card"


class InternalCardError(ApduError):
    description = "internal error in the card"


class EndOfFileReached(ApduError):
    description = "end of file reached before the requested length"


# --- SmartCard-HSM meanings ---------------------------------------------------------


class NotInitialised(CardError):
    """The device has never been initialised."""


class DkekMismatch(CardError):
    """A key blob's KCV differs from the key domain's KCV (or the card rejected it as such)."""


class NoKeyDomainSupport(CardError):
    """The device (firmware) has no key domains or was initialised without a DKEK."""


_SW_CLASSES: dict[int, type[ApduError]] = {
    0x6282: EndOfFileReached,
    0x6400: ExecutionError,
    0x6581: MemoryFailure,
    0x6700: WrongLength,
    0x6982: SecurityStatusNotSatisfied,
    0x6983: PinBlocked,
    0x6984: ReferenceDataNotUsable,
    0x6985: ConditionsNotSatisfied,
    0x6986: CommandNotAllowed,
    0x6A80: WrongData,
    0x6A81: FunctionNotSupported,
    0x6A82: FileNotFound,
    0x6A84: NotEnoughMemory,
    0x6A86: IncorrectParameters,
    0x6A88: ReferencedDataNotFound,
    0x6A89: FileExists,
    0x6D00: InsNotSupported,
    0x6E00: ClaNotSupported,
    0x6F00: InternalCardError,
}


PIN_COMMANDS = frozenset(
    {
        "VERIFY",
        "CHANGE PIN",
        "CHANGE SO-PIN",
        "RESET RETRY COUNTER",
        "INITIALIZE",
        "PIN status",
        "SO-PIN status",
    }
)
"""Commands whose ``63Cx`` answer means a wrong PIN (or SO-PIN) with x tries left."""


def error_for_status(sw: int, command: str = "") -> ApduError:
    """The most specific :class:`ApduError` for a non-success status word.

    ``63Cx`` is a wrong PIN only for the PIN commands (:data:`PIN_COMMANDS`, or when
    no command is named); to any other command it is a plain, unexpected status.
    """
    if sw & 0xFFF0 == 0x63C0:
        if not command or command in PIN_COMMANDS:
            return WrongPin(sw, command)
        return ApduError(sw, command)
    return _SW_CLASSES.get(sw, ApduError)(sw, command)
