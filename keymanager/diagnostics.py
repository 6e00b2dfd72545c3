"""Diagnostics: the log file, the environment summary and ``keymanager-cli diagnose``.

Qt-free, and pyscard is imported (through :mod:`keymanager.card.pcsc`) only when a
function needs PC/SC, so importing this module never fails for want of either.

Logging
    The log file and its redaction live in :mod:`keymanager.log_file` (re-exported
    here); :func:`environment_summary` is what it logs at start (OS, Python, Qt,
    pyscard, pcsc-lite, readers).

Diagnosis
    :func:`diagnose` answers what support asks a user for: is pcscd running, which
    readers and cards are there, can the SmartCard-HSM applet be selected, its version
    and options, whether the session runs on secure messaging, PIN tries left and key
    domains, and whether the reader carries extended-length APDUs.  Each problem is a
    :class:`Finding` with a specific, actionable message: pcscd missing or stopped, no
    reader, card held by another program (naming likely holders such as GnuPG's
    scdaemon, found in ``/proc``; nothing is ever stopped), card removed, extended
    length not supported, a card that fails chip authentication.  :func:`probe_card`
    runs the card part over any :class:`~keymanager.card.transport.Transport`.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keymanager import __version__
from keymanager.card.cvc import unreadable_identity_text
from keymanager.card.errors import (
    ApplicationNotFound,
    CardError,
    CardInUse,
    CardRemoved,
    CardReset,
    ExtendedLengthUnsupported,
    NoCard,
    NoKeyDomainSupport,
    NoReader,
    PcscUnavailable,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitOptions, PinState, PinStatus
from keymanager.card.secure_messaging import (
    DeviceAuthenticationFailed,
    SecureMessagingMode,
    SecureMessagingStatus,
)
from keymanager.card.transport import Transport
from keymanager.log_file import (
    LOG_BACKUPS,
    LOG_FILE_NAME,
    LOG_FORMAT,
    LOG_LEVEL_VARIABLE,
    LOG_MAX_BYTES,
    REDACTED,
    TRAFFIC,
    PrivateRotatingFileHandler,
    RedactionFilter,
    close_logging,
    configure_logging,
    default_state_dir,
    ensure_logging,
    log_file_path,
)

logger = logging.getLogger(__name__)

DEFAULT_PCSCD_SOCKET = "/run/pcscd/pcscd.comm"

__all__ = [
    "LOG_BACKUPS",
    "LOG_FILE_NAME",
    "LOG_FORMAT",
    "LOG_LEVEL_VARIABLE",
    "LOG_MAX_BYTES",
    "REDACTED",
    "TRAFFIC",
    "CardReport",
    "Diagnosis",
    "Finding",
    "Holder",
    "PrivateRotatingFileHandler",
    "RedactionFilter",
    "Severity",
    "close_logging",
    "configure_logging",
    "default_state_dir",
    "diagnose",
    "ensure_logging",
    "environment_summary",
    "likely_card_holders",
    "log_file_path",
    "pcscd_socket_path",
    "probe_card",
]


# --- the environment -----------------------------------------------------------------


def _distribution_version(*names: str) -> str | None:
    from importlib import metadata  # 15 ms of imports: only when a version is asked for

    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _qt_version() -> str | None:
    """PySide6's version without importing Qt (the CLI never loads Qt)."""
    module = sys.modules.get("PySide6")
    version = getattr(module, "__version__", None) if module is not None else None
    if isinstance(version, str):
        return version
    return _distribution_version("PySide6-Essentials", "PySide6")


def pcscd_binary() -> Path | None:
    """Where pcscd is installed, if it is."""
    found = shutil.which("pcscd")
    if found:
        return Path(found)
    for candidate in ("/usr/sbin/pcscd", "/usr/local/sbin/pcscd", "/sbin/pcscd"):
        if Path(candidate).exists():
            return Path(candidate)
    return None


def pcsc_lite_version() -> str | None:
    """pcsc-lite's version as ``pcscd --version`` prints it (``None`` if unknown)."""
    binary = pcscd_binary()
    if binary is None:
        return None
    import subprocess  # here, not at the top: a CLI command's start-up does not need it

    try:
        result = subprocess.run(  # noqa: S603 - a fixed binary with a fixed argument
            [str(binary), "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"pcsc-lite version ([0-9][0-9.]*[0-9])", result.stdout + result.stderr)
    return match.group(1) if match else None


def pcscd_socket_path() -> Path:
    """pcscd's socket: ``$PCSCLITE_CSOCK_NAME`` or ``/run/pcscd/pcscd.comm``."""
    return Path(os.environ.get("PCSCLITE_CSOCK_NAME") or DEFAULT_PCSCD_SOCKET)


def _socket_exists(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def in_flatpak() -> bool:
    """Whether keymanager runs inside a Flatpak sandbox."""
    return bool(os.environ.get("FLATPAK_ID")) or Path("/.flatpak-info").exists()


def environment_summary(*, readers: bool = True) -> dict[str, str]:
    """OS, Python, Qt, pyscard, pcsc-lite and (optionally) the readers, as text."""
    import platform  # here, not at the top: a CLI command's start-up does not need it

    info: dict[str, str] = {
        "keymanager": __version__,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "qt": _qt_version() or "not installed",
        "pyscard": _distribution_version("pyscard") or "not installed",
        "pcsc-lite": pcsc_lite_version() or "unknown",
        "frozen": "yes" if getattr(sys, "frozen", False) else "no",
    }
    if in_flatpak():
        info["sandbox"] = "flatpak"
    if readers:
        info["readers"] = _reader_summary()
    return info


def _reader_summary() -> str:
    if not _socket_exists(pcscd_socket_path()):
        return f"pcscd not running (no socket {pcscd_socket_path()})"
    try:
        from keymanager.card import pcsc
    except ImportError:
        return "pyscard missing"
    try:
        found = pcsc.list_readers()
    except CardError as error:
        return f"unavailable ({error})"
    if not found:
        return "none"
    return ", ".join(f"{r.name} ({'card' if r.has_card else 'empty'})" for r in found)


# --- who might hold the card ---------------------------------------------------------

KNOWN_HOLDERS: dict[str, str] = {
    "scdaemon": (
        "GnuPG's scdaemon: stop it with 'gpgconf --kill scdaemon', or let it share "
        "the reader by adding 'pcsc-shared' (and 'disable-ccid') to ~/.gnupg/scdaemon.conf"
    ),
    "gpg-agent": "GnuPG's gpg-agent (it starts scdaemon): 'gpgconf --kill scdaemon'",
    "pcsc_scan": "pcsc_scan: stop it (Ctrl+C in its terminal)",
    "opensc-tool": "OpenSC's opensc-tool: wait for it to finish",
    "pkcs11-tool": "OpenSC's pkcs11-tool: wait for it to finish",
    "pkcs15-tool": "OpenSC's pkcs15-tool: wait for it to finish",
    "sc-hsm-tool": "OpenSC's sc-hsm-tool: wait for it to finish",
    "opensc-notify": "OpenSC's opensc-notify",
    "ssh-pkcs11-help": "an ssh-agent with a PKCS#11 module: 'ssh-add -e <module>'",
    "p11-kit-server": "p11-kit's PKCS#11 server",
    "firefox": "Firefox with a PKCS#11 module (security devices): close it",
    "firefox-bin": "Firefox with a PKCS#11 module (security devices): close it",
    "thunderbird": "Thunderbird with a PKCS#11 module: close it",
    "chrome": "Google Chrome with a PKCS#11 module: close it",
    "chromium": "Chromium with a PKCS#11 module: close it",
    "keymanager": "another KeyManager window: close it",
    "keymanager-cli": "another keymanager-cli command: wait for it to finish",
    "scsh3": "the Smart Card Shell: close it",
}
"""Programs known to keep a card open (process name → what it is and what to do)."""


@dataclass(frozen=True)
class Holder:
    """A running program that may hold the card."""

    pid: int
    program: str
    description: str


def _process_name(entry: Path) -> str:
    try:
        return (entry / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _command_line(entry: Path) -> list[str]:
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _processes(proc: Path = Path("/proc")) -> Iterator[tuple[int, str, list[str]]]:
    try:
        entries = list(proc.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.isdigit():
            yield int(entry.name), _process_name(entry), _command_line(entry)


SIMULATOR_MODULE = "keymanager.simulator"
"""The module of keymanager's own simulator (``python -m keymanager.simulator --vpcd``)."""


def runs_own_simulator(command: Sequence[str]) -> bool:
    """Whether a command line runs keymanager's simulator: it *is* the card (behind
    vpcd), it holds none, so it is never named as a program holding one (also when the
    interpreter is a frozen ``keymanager`` executable)."""
    for index, part in enumerate(command[:4]):
        if part == "-m" and index + 1 < len(command):
            module = command[index + 1]
            return module == SIMULATOR_MODULE or module.startswith(SIMULATOR_MODULE + ".")
        if (
            Path(part)
            .as_posix()
            .endswith(("keymanager/simulator", "keymanager/simulator/__main__.py"))
        ):
            return True
    return False


PROC = Path("/proc")
"""Where :func:`likely_card_holders` looks for processes by default (tests point it at a
directory laid out like ``/proc``)."""


def likely_card_holders(proc: Path | None = None) -> list[Holder]:
    """Running programs that commonly hold smart cards, found in ``/proc`` (Linux).

    Only names them: nothing is ever stopped.  The current process and keymanager's own
    simulator (:func:`runs_own_simulator`) are left out; on systems without ``/proc``
    the list is empty.

    :param proc: the directory to read instead of :data:`PROC`.
    """
    own = os.getpid()
    found = []
    for pid, name, command in _processes(PROC if proc is None else proc):
        if pid == own or runs_own_simulator(command):
            continue
        program = name
        if name not in KNOWN_HOLDERS and command:
            # Scripts and Java programs: look at what the interpreter runs.
            names = [Path(part).name for part in command[:3]]
            program = next((n for n in names if n in KNOWN_HOLDERS), name)
            if name == "java" and any("scsh" in part.lower() for part in command):
                program = "scsh3"
        if program in KNOWN_HOLDERS:
            found.append(Holder(pid, program, KNOWN_HOLDERS[program]))
    return sorted(found, key=lambda holder: (holder.program, holder.pid))


def pcscd_running(proc: Path = Path("/proc")) -> bool | None:
    """Whether a pcscd process is visible (``None`` when there is no ``/proc``)."""
    if not proc.is_dir():
        return None
    return any(name == "pcscd" for _pid, name, _command in _processes(proc))


# --- findings and reports ------------------------------------------------------------


class Severity(enum.Enum):
    """How bad a finding is."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One result of the diagnosis: what was checked, what was found, what to do."""

    check: str
    severity: Severity
    message: str
    advice: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "message": self.message,
            "advice": self.advice,
        }


@dataclass
class CardReport:
    """What :func:`probe_card` learnt about the card behind one transport."""

    reader: str
    atr: str | None = None
    applet: bool | None = None
    applet_description: str | None = None
    version: str | None = None
    options: list[str] | None = None
    serial: str | None = None
    device_certificate: str | None = None
    """The device identity in the words status and the GUI use (``DeviceIdentity.text``)."""
    device_verdict: str | None = None
    """The stable verdict (``Genuineness`` value), ``None`` if EF 2F02 was unreadable."""
    device_issuer: str | None = None
    user_pin: dict[str, Any] | None = None
    so_pin: dict[str, Any] | None = None
    key_domains: list[dict[str, Any]] | None = None
    objects: int | None = None
    extended_length: bool | None = None
    secure_messaging: str | None = None
    """``active``, ``unavailable`` or ``off`` (``SecureMessagingStatus``); ``None``: the
    applet was not reached."""
    secure_messaging_text: str | None = None
    """The same in words (``SecureMessagingState.text``, or why chip authentication failed)."""
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["findings"] = [finding.as_dict() for finding in self.findings]
        return record


@dataclass
class Diagnosis:
    """Everything :func:`diagnose` found."""

    environment: dict[str, str]
    pcscd: dict[str, Any] = field(default_factory=dict)
    readers: list[dict[str, Any]] = field(default_factory=list)
    cards: list[CardReport] = field(default_factory=list)
    holders: list[Holder] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def all_findings(self) -> list[Finding]:
        """The general findings followed by every card's."""
        return self.findings + [finding for card in self.cards for finding in card.findings]

    @property
    def ok(self) -> bool:
        """Whether no finding is an error."""
        return all(finding.severity is not Severity.ERROR for finding in self.all_findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "environment": self.environment,
            "pcscd": self.pcscd,
            "readers": self.readers,
            "cards": [card.as_dict() for card in self.cards],
            "likely_card_holders": [asdict(holder) for holder in self.holders],
            "findings": [finding.as_dict() for finding in self.findings],
        }


# --- the messages --------------------------------------------------------------------

PCSCD_NOT_INSTALLED = (
    "Install pcscd: Debian/Ubuntu 'sudo apt install pcscd libccid', Fedora "
    "'sudo dnf install pcsc-lite pcsc-lite-ccid', Arch 'sudo pacman -S pcsclite ccid'; "
    "then 'sudo systemctl enable --now pcscd.socket'."
)
PCSCD_NOT_STARTED = (
    "Start it with 'sudo systemctl start pcscd.socket' (to have it start on demand at "
    "every boot: 'sudo systemctl enable --now pcscd.socket'), then run this again."
)
PCSCD_NOT_ANSWERING = (
    "pcscd was stopped or hangs: restart it with 'sudo systemctl restart pcscd.socket "
    "pcscd.service' and run this again; its messages are in 'journalctl -u pcscd'."
)
FLATPAK_PCSC = (
    "keymanager runs in a Flatpak sandbox: it needs the PC/SC socket permission "
    "('flatpak override --user --socket=pcsc io.github.keymanager.KeyManager') and "
    "pcscd running on the host."
)
NO_READER = (
    "Plug in the Nitrokey HSM 2 or the smart-card reader.  If it is plugged in: check that "
    "'lsusb' shows it, that the CCID driver is installed (Debian/Ubuntu: libccid), and "
    "replug it; a reader that pcscd does not see until then may need "
    "'sudo systemctl restart pcscd'."
)
CARD_REMOVED = (
    "The card was removed (or lost contact) during the check: insert it firmly (or "
    "replug the token) and run this again."
)
NOT_A_SMARTCARD_HSM = (
    "keymanager works with SmartCard-HSM, Nitrokey HSM 2 and compatible devices (Pico HSM, "
    "CardContact applets); this card is something else, or its applet is not installed."
)
EXTENDED_LENGTH = (
    "The reader does not pass extended-length APDUs: keymanager falls back to command "
    "chaining, which works for most operations, but reading large certificates and "
    "importing or backing up large RSA keys may fail.  Use a reader with extended-length "
    "support (the Nitrokey HSM 2's built-in reader has it) or update the reader's "
    "firmware and the CCID driver (libccid)."
)


def card_in_use_advice(holders: list[Holder]) -> str:
    """What to tell a user whose card another program holds."""
    if holders:
        names = "; ".join(f"{h.program} (pid {h.pid}): {h.description}" for h in holders)
        head = f"Likely holders: {names}."
    else:
        head = "No known holder is running; another user's program or a browser may hold it."
    return (
        f"{head}  Close that program (keymanager never stops other programs) and run this "
        "again; the GUI offers to retry."
    )


# --- the card ------------------------------------------------------------------------


def _pin_record(status: PinStatus) -> dict[str, Any]:
    return {
        "state": status.state.value,
        "tries_left": status.tries_left,
        "text": status.describe(),
    }


def _pin_findings(user: PinStatus, so: PinStatus) -> list[Finding]:
    found = []
    if user.state is PinState.NOT_INITIALISED:
        found.append(
            Finding(
                "user PIN",
                Severity.WARNING,
                "The device is not initialised.",
                "Initialise it: 'keymanager-cli init' (or Initialise… in the app).",
            )
        )
    elif user.state is PinState.BLOCKED:
        found.append(
            Finding(
                "user PIN",
                Severity.ERROR,
                "The user PIN is blocked (no tries left).",
                "Unblock it with the SO-PIN: 'keymanager-cli pin unblock' or 'pin set'.",
            )
        )
    elif user.state is PinState.TRANSPORT_PIN:
        found.append(
            Finding(
                "user PIN",
                Severity.WARNING,
                "The user PIN is a transport PIN.",
                "Change it before use: 'keymanager-cli pin change'.",
            )
        )
    elif user.tries_left == 1:
        found.append(
            Finding(
                "user PIN",
                Severity.WARNING,
                "Only one user PIN try is left.",
                "A wrong PIN now blocks it; the SO-PIN can unblock it ('pin unblock').",
            )
        )
    if so.state is PinState.BLOCKED:
        found.append(
            Finding(
                "SO-PIN",
                Severity.ERROR,
                "The SO-PIN is blocked: the device can no longer be re-initialised.",
                "Nothing on the card can reset it; keep using the keys with the user PIN.",
            )
        )
    elif so.tries_left is not None and so.tries_left <= 3:
        found.append(
            Finding(
                "SO-PIN",
                Severity.WARNING,
                f"Only {so.tries_left} SO-PIN tries are left.",
                "Use the SO-PIN only when sure of it: a blocked SO-PIN cannot be reset.",
            )
        )
    return found


def _domain_record(index: int, status: Any) -> dict[str, Any]:
    if status is None:
        return {"domain": index, "type": "empty"}
    return {
        "domain": index,
        "type": "XKEK" if status.uid else "DKEK",
        "shares_total": status.shares_total,
        "shares_outstanding": status.shares_outstanding,
        # A partial DKEK's KCV means nothing yet: shown only once every share is in.
        "kcv": (
            status.kcv.hex().upper()
            if status.kcv is not None and not status.shares_outstanding
            else None
        ),
    }


def _transport_finding(error: CardError, reader: str, holders: list[Holder]) -> Finding:
    """The finding for a transport-level failure meeting the card in ``reader``."""
    if isinstance(error, CardInUse):
        return Finding(
            "card",
            Severity.ERROR,
            f"The card in {reader} is held by another program.",
            card_in_use_advice(holders),
        )
    if isinstance(error, CardRemoved | NoCard):
        return Finding("card", Severity.ERROR, f"{reader}: {error}", CARD_REMOVED)
    if isinstance(error, CardReset):
        return Finding(
            "card",
            Severity.WARNING,
            f"The card in {reader} was reset by another program during the check.",
            "Run this again; if it keeps happening, close the other program.",
        )
    if isinstance(error, ExtendedLengthUnsupported):
        return Finding("extended length", Severity.ERROR, f"{reader}: {error}", EXTENDED_LENGTH)
    if isinstance(error, PcscUnavailable):
        return Finding("pcscd", Severity.ERROR, str(error), PCSCD_NOT_ANSWERING)
    if isinstance(error, NoReader):
        return Finding("readers", Severity.ERROR, str(error), NO_READER)
    return Finding("card", Severity.ERROR, f"{reader}: {error}", "")


def probe_card(
    transport: Transport,
    *,
    holders: list[Holder] | None = None,
    secure_messaging: SecureMessagingMode | None = None,
) -> CardReport:
    """Select the applet on the card behind ``transport`` and read what support asks for.

    Never raises :class:`CardError`: each failure becomes a :class:`Finding` of the
    report.  No PIN is verified, nothing is written.

    :param secure_messaging: the mode the probe's session opens in (``None``:
        ``KEYMANAGER_SECURE_MESSAGING``); the report says what it ran on.  A card that
        fails chip authentication is an error finding, and the rest is read in the clear.
    """
    report = CardReport(reader=transport.name, atr=transport.atr.hex().upper() or None)
    try:
        with transport.exclusive():
            _probe(transport, report, secure_messaging)
    except ApplicationNotFound as error:
        report.applet = False
        report.findings.append(Finding("applet", Severity.ERROR, str(error), NOT_A_SMARTCARD_HSM))
    except CardError as error:
        report.findings.append(_transport_finding(error, transport.name, holders or []))
    report.extended_length = transport.supports_extended_length
    if not report.extended_length:
        report.findings.append(
            Finding(
                "extended length",
                Severity.WARNING,
                f"{transport.name} does not carry extended-length APDUs.",
                EXTENDED_LENGTH,
            )
        )
    return report


SECURE_MESSAGING_UNAVAILABLE = (
    "Nothing to do for keymanager to work: it goes on in the clear.  SmartCard-HSM, "
    "Nitrokey HSM 2 and Pico HSM offer a secure channel; if this card is one of them, "
    "the reason says what stood in the way."
)
DEVICE_AUTHENTICATION = (
    "Run this again.  If it happens again, check the reader, its cable and the "
    "middleware between keymanager and the card; a failure that persists may mean that "
    "something between the host and the card alters what passes, or that the card is "
    "not the device its certificate names.  Enter no PIN and no DKEK share for it."
)


def _open_for_probe(
    transport: Transport, report: CardReport, mode: SecureMessagingMode | None
) -> SmartCardHsm:
    """The probe's session; a failed chip authentication is a finding, then the clear."""
    try:
        hsm = SmartCardHsm.open(transport, secure_messaging=mode)
    except DeviceAuthenticationFailed as error:
        report.secure_messaging = SecureMessagingStatus.UNAVAILABLE.value
        report.secure_messaging_text = f"failed: {error}"
        report.findings.append(
            Finding(
                "secure messaging",
                Severity.ERROR,
                "The card failed to prove it is the device its certificate names "
                f"(chip authentication: {error}).",
                DEVICE_AUTHENTICATION,
            )
        )
        return SmartCardHsm.open(transport, secure_messaging=SecureMessagingMode.OFF)
    state = hsm.secure_messaging
    report.secure_messaging = state.status.value
    report.secure_messaging_text = state.text
    if state.status is SecureMessagingStatus.UNAVAILABLE:
        report.findings.append(
            Finding(
                "secure messaging",
                Severity.INFO,
                f"Secure messaging is unavailable ({state.reason}): PINs and shares "
                "cross the reader in the clear.",
                SECURE_MESSAGING_UNAVAILABLE,
            )
        )
    return hsm


def _probe(transport: Transport, report: CardReport, mode: SecureMessagingMode | None) -> None:
    hsm = _open_for_probe(transport, report, mode)
    report.applet = True
    info = hsm.info
    report.applet_description = info.applet_description
    report.version = info.version_text
    if info.options is not None:
        report.options = [
            flag.name or hex(flag.value)
            for flag in InitOptions
            if flag.value and info.options & flag
        ]
    try:
        certificate = hsm.device_certificate()
        report.serial = certificate.serial
        identity = certificate.identity()
        report.device_certificate = identity.text
        report.device_verdict = identity.verdict.value
        report.device_issuer = identity.issuer
    except CardError as error:
        if isinstance(error, CardRemoved | CardReset | CardInUse | NoCard):
            raise
        report.device_certificate = unreadable_identity_text(error)
    user, so = hsm.pin_status(), hsm.so_pin_status()
    report.user_pin = _pin_record(user)
    report.so_pin = _pin_record(so)
    report.findings.extend(_pin_findings(user, so))
    try:
        slots = hsm.key_domains()
        report.key_domains = [_domain_record(slot.index, slot.status) for slot in slots]
    except NoKeyDomainSupport:
        report.key_domains = []
    for domain in report.key_domains:
        if domain.get("shares_outstanding"):
            report.findings.append(
                Finding(
                    "key domains",
                    Severity.INFO,
                    f"Key domain {domain['domain']} waits for {domain['shares_outstanding']} "
                    f"of {domain['shares_total']} DKEK share(s).",
                    "The custodians import their shares: 'keymanager-cli share import'.",
                )
            )
    # ENUMERATE OBJECTS asks for up to 64 KiB in one extended APDU: this is where a
    # reader without extended length shows itself.
    report.objects = len(hsm.enumerate_objects())


# --- the whole diagnosis -------------------------------------------------------------


def _pcscd_state() -> dict[str, Any]:
    socket = pcscd_socket_path()
    binary = pcscd_binary()
    return {
        "socket": str(socket),
        "socket_exists": _socket_exists(socket),
        "installed": binary is not None,
        "binary": str(binary) if binary else None,
        "process_running": pcscd_running(),
        "version": pcsc_lite_version(),
        "answers": False,
    }


def _pcscd_finding(state: dict[str, Any], error: CardError | None) -> Finding:
    where = state["socket"]
    if in_flatpak():
        return Finding("pcscd", Severity.ERROR, "pcscd cannot be reached.", FLATPAK_PCSC)
    if not state["installed"] and not state["socket_exists"]:
        return Finding(
            "pcscd",
            Severity.ERROR,
            "pcscd (the PC/SC service) is not installed.",
            PCSCD_NOT_INSTALLED,
        )
    if not state["socket_exists"]:
        return Finding(
            "pcscd",
            Severity.ERROR,
            f"pcscd is installed but not running (no socket {where}).",
            PCSCD_NOT_STARTED,
        )
    detail = f": {error}" if error is not None else ""
    return Finding(
        "pcscd",
        Severity.ERROR,
        f"pcscd's socket {where} is there but pcscd does not answer{detail}.",
        PCSCD_NOT_ANSWERING,
    )


def diagnose(
    reader: str | None = None, *, secure_messaging: SecureMessagingMode | None = None
) -> Diagnosis:
    """Check the PC/SC stack, the readers and the cards in them.

    :param reader: check only readers whose name contains this (case-insensitive).
    :param secure_messaging: the mode the cards are probed in (see :func:`probe_card`).
    """
    diagnosis = Diagnosis(environment=environment_summary(readers=False))
    diagnosis.holders = likely_card_holders()
    state = _pcscd_state()
    diagnosis.pcscd = state
    try:
        from keymanager.card import pcsc
    except ImportError:
        diagnosis.findings.append(
            Finding(
                "pyscard",
                Severity.ERROR,
                "pyscard (Python's PC/SC module) is not installed.",
                "Install it: 'pip install pyscard' (it needs libpcsclite and swig to build).",
            )
        )
        return diagnosis
    if not state["socket_exists"]:
        diagnosis.findings.append(_pcscd_finding(state, None))
        return diagnosis
    try:
        readers = pcsc.list_readers()
    except PcscUnavailable as error:
        diagnosis.findings.append(_pcscd_finding(state, error))
        return diagnosis
    except CardError as error:
        diagnosis.findings.append(
            Finding("pcscd", Severity.ERROR, f"pcscd answered with an error: {error}", "")
        )
        return diagnosis
    state["answers"] = True
    version = f" {state['version']}" if state["version"] else ""
    diagnosis.findings.append(Finding("pcscd", Severity.OK, f"pcscd{version} is running."))
    diagnosis.readers = [
        {"name": r.name, "card": r.has_card, "atr": r.atr.hex().upper() or None} for r in readers
    ]
    if not readers:
        diagnosis.findings.append(
            Finding("readers", Severity.ERROR, "No smart-card reader is connected.", NO_READER)
        )
        return diagnosis
    if reader is not None:
        readers = [r for r in readers if reader.lower() in r.name.lower()]
        if not readers:
            names = ", ".join(repr(r["name"]) for r in diagnosis.readers)
            diagnosis.findings.append(
                Finding(
                    "readers",
                    Severity.ERROR,
                    f"No reader matches {reader!r}.",
                    f"The readers are: {names}.",
                )
            )
            return diagnosis
    for info in readers:
        if not info.has_card:
            diagnosis.findings.append(
                Finding("readers", Severity.INFO, f"{info.name}: no card.", "Insert a card.")
            )
            continue
        try:
            transport = pcsc.PcscTransport(info.name)
        except CardError as error:
            report = CardReport(reader=info.name, atr=info.atr.hex().upper() or None)
            report.findings.append(_transport_finding(error, info.name, diagnosis.holders))
            diagnosis.cards.append(report)
            continue
        try:
            diagnosis.cards.append(
                probe_card(transport, holders=diagnosis.holders, secure_messaging=secure_messaging)
            )
        finally:
            transport.close()
    if not any(r.has_card for r in readers):
        diagnosis.findings.append(
            Finding(
                "card",
                Severity.ERROR,
                "No reader has a card in it.",
                "Insert the card (or plug in the token) and run this again.",
            )
        )
    return diagnosis
