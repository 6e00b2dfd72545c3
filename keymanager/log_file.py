"""The log file: one private, rotating file for the ``keymanager`` package, and the
redaction filter in front of it.

Every module logs to its own ``logging.getLogger(__name__)``.  :func:`configure_logging`
attaches one rotating log file, ``$XDG_STATE_HOME/keymanager/keymanager.log`` (mode
0600, directory 0700), to the ``keymanager`` logger and, unless told not to, writes the
environment summary of :mod:`keymanager.diagnostics` at INFO.  APDU traces are logged at
:data:`TRAFFIC` (5), already redacted by the card layer; :class:`RedactionFilter` on the
file handler is a second net that blanks PIN-like ``name=value`` pairs and the data of
PIN, share and key APDUs should a trace ever carry them unredacted.
``KEYMANAGER_LOG_LEVEL`` (``TRAFFIC``, ``DEBUG``, ``INFO``, … or a number) sets the
level when the caller does not.

Split from :mod:`keymanager.diagnostics` so that a program's entry point can set up its
log without importing the card stack (``keymanager-cli`` starts in tens of
milliseconds): this module imports only the standard library and :mod:`keymanager.paths`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

from keymanager import __version__
from keymanager.paths import state_directory

logger = logging.getLogger(__name__)

TRAFFIC = 5
"""The APDU trace level, the same number as :data:`keymanager.card.apdu.TRAFFIC` (the
card layer owns it and names it; a test checks the two agree)."""

LOG_FILE_NAME = "keymanager.log"
LOG_MAX_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 3
LOG_LEVEL_VARIABLE = "KEYMANAGER_LOG_LEVEL"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"

__all__ = [
    "TRAFFIC",
    "RedactionFilter",
    "close_logging",
    "configure_logging",
    "default_state_dir",
    "ensure_logging",
    "log_file_path",
]


# --- where things live ---------------------------------------------------------------


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/keymanager`` (default ``~/.local/state/keymanager``)."""
    return state_directory()


def log_file_path(directory: Path | None = None) -> Path:
    """The log file in ``directory`` (default: :func:`default_state_dir`)."""
    return (directory or default_state_dir()) / LOG_FILE_NAME


# --- redaction -----------------------------------------------------------------------

_NAMES_OF_SECRETS = (
    r"(?:new[ _-]?|old[ _-]?|current[ _-]?)?"
    r"(?:password|passwd|passphrase|secret|share[ _-]?value|private[ _-]?key|key[ _-]?value)"
)
_PIN_LIKE = r"(?:new[ _-]?|old[ _-]?|current[ _-]?)?(?:so[ _-]?pin|pin|puk|dkek|seed)"
_VALUE = r"""(?P<value>b?"[^"]*"|b?'[^']*'|[^\s,;)\]}"']+)"""
_SECRET_PAIR = re.compile(
    rf"""(?ix)(?P<name>["']?\b{_NAMES_OF_SECRETS}\b["']?)(?P<sep>\s*[=:]\s*){_VALUE}"""
)
_PIN_PAIR = re.compile(
    rf"""(?ix)(?P<name>["']?\b{_PIN_LIKE}\b["']?)
    (?: (?P<sep>\s*=\s*){_VALUE}
      | (?P<sep2>\s*:\s*)(?P<value2>b?"[^"]*"|b?'[^']*'|(?=[^\s,;]*\d)[^\s,;)\]}}]{{4,}})
    )"""
)
"""``pin=…`` always; ``pin: …`` only for a quoted value or one of 4+ characters with a
digit, so ``PIN: not verified`` and ``SO-PIN: 15 tries left`` stay readable."""
_ALREADY_REDACTED = re.compile(r"^<[^>]*redacted[^>]*>$|^\*+$|^None$|^\d{1,2}$")
"""Values left alone: already redacted, or a retry count such as ``pin=3``."""

_SEND = re.compile(
    r"(?P<head>\bSEND\b[^\n]*?)"
    r"(?P<header>\b[0-9A-F]{2} (?P<ins>[0-9A-F]{2}) [0-9A-F]{2} [0-9A-F]{2})"
    r"(?: (?P<data>[0-9A-F]{2,}))?"
)
_RECV = re.compile(r"\bRECV (?P<data>[0-9A-F]{2,})(?P<rest> SW=)")
_SENSITIVE_COMMANDS = frozenset({0x20, 0x24, 0x2C, 0x50, 0x52, 0x74, 0xDA})
"""VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER, INITIALIZE, IMPORT DKEK SHARE,
UNWRAP KEY, PUT DATA: their command data are PINs, shares or key material."""
_SENSITIVE_RESPONSES = frozenset({0x62, 0x72, 0x84, 0x98})
"""DECIPHER / DERIVE, WRAP KEY, GET CHALLENGE: their answers may be secret."""

REDACTED = "<redacted>"


class RedactionFilter(logging.Filter):
    """Blank secrets a log record might carry (a safety net: the code never logs them).

    * ``password=…``, ``"secret": "…"`` and the like lose their value; so do
      ``pin=…`` and ``pin: …`` when the value looks like a PIN (quoted, or 4+
      characters with a digit): ``PIN: not verified, 3 tries left`` stays readable;
    * APDU traces (``SEND …``) of commands that carry PINs, shares or key material
      (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER, INITIALIZE, IMPORT DKEK
      SHARE, UNWRAP KEY, PUT DATA) lose their data, and the answer (``RECV …``) to
      DECIPHER, WRAP KEY and GET CHALLENGE loses its data, should the card layer ever
      pass them unredacted.

    The record is rewritten in place (message formatted, arguments dropped), so every
    handler behind the filter sees the redacted text; a traceback is redacted too.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._last = threading.local()

    def redact(self, text: str) -> str:
        """``text`` with secret-looking pairs and sensitive command data blanked."""
        text = _SECRET_PAIR.sub(self._pair, text)
        text = _PIN_PAIR.sub(self._pair, text)
        return _SEND.sub(self._send, text)

    @staticmethod
    def _pair(match: re.Match[str]) -> str:
        value = match.group("value") if match.group("value") is not None else ""
        separator = match.group("sep")
        if separator is None:  # the "name: value" form of _PIN_PAIR
            value, separator = match.group("value2"), match.group("sep2")
        if _ALREADY_REDACTED.match(value.lstrip("b").strip("'\"")):
            return match.group(0)
        return f"{match.group('name')}{separator}{REDACTED}"

    @staticmethod
    def _send(match: re.Match[str]) -> str:
        data = match.group("data")
        if data is None or int(match.group("ins"), 16) not in _SENSITIVE_COMMANDS:
            return match.group(0)
        return f"{match.group('head')}{match.group('header')} <{len(data) // 2} bytes redacted>"

    def _redact_answer(self, text: str) -> str:
        """Blank the answer to a command whose answer may be secret (per thread)."""
        sent = _SEND.search(text)
        if sent is not None:
            self._last.ins = int(sent.group("ins"), 16)
            return text
        if getattr(self._last, "ins", None) not in _SENSITIVE_RESPONSES:
            return text

        def blank(match: re.Match[str]) -> str:
            return f"RECV <{len(match.group('data')) // 2} bytes redacted>{match.group('rest')}"

        return _RECV.sub(blank, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it as such
            return True
        redacted = self._redact_answer(self.redact(message))
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


# --- the log file --------------------------------------------------------------------


class PrivateRotatingFileHandler(logging.FileHandler):
    """A log file that only its owner can read (mode 0600, also after rotation), rotated
    as :class:`logging.handlers.RotatingFileHandler` rotates (``keymanager.log.1`` …
    ``.N``) once a record would take it past ``max_bytes``.

    Written on :class:`logging.FileHandler` rather than ``logging.handlers``, whose
    import (sockets, pickle, queues) is a tenth of a short CLI command's start-up.
    """

    def __init__(self, filename: Path | str, *, max_bytes: int, backups: int) -> None:
        self.max_bytes = max_bytes
        self.backups = backups
        super().__init__(filename, mode="a", encoding="utf-8")

    def _open(self) -> Any:
        descriptor = os.open(
            self.baseFilename,
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0),
            0o600,
        )
        with contextlib.suppress(OSError):  # e.g. a file system without modes
            os.chmod(self.baseFilename, stat.S_IRUSR | stat.S_IWUSR)
        return os.fdopen(descriptor, "a", encoding=self.encoding or "utf-8", errors=self.errors)

    def _should_rotate(self, record: logging.LogRecord) -> bool:
        if self.max_bytes <= 0 or not os.path.isfile(self.baseFilename):
            return False
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.tell()
        return size > 0 and size + len(self.format(record)) + 1 >= self.max_bytes

    def doRollover(self) -> None:
        """Move the file to ``.1`` (``.1`` to ``.2`` …, dropping the oldest) and reopen it."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        for number in range(self.backups - 1, 0, -1):
            older = f"{self.baseFilename}.{number}"
            if os.path.exists(older):
                os.replace(older, f"{self.baseFilename}.{number + 1}")
        if self.backups > 0:
            os.replace(self.baseFilename, f"{self.baseFilename}.1")
        else:
            os.remove(self.baseFilename)
        self.stream = self._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._should_rotate(record):
                self.doRollover()
        except Exception:
            self.handleError(record)
            return
        super().emit(record)


_handler: PrivateRotatingFileHandler | None = None
_handler_lock = threading.Lock()


def _level_from(value: int | str | None) -> int:
    if value is None:
        value = os.environ.get(LOG_LEVEL_VARIABLE) or logging.INFO
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    if text == "TRAFFIC":
        return TRAFFIC
    level = logging.getLevelName(text)
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {value!r} (TRAFFIC, DEBUG, INFO, WARNING, ERROR)")
    return level


def configure_logging(
    state_dir: Path | None = None,
    *,
    level: int | str | None = None,
    summary: bool = True,
    readers: bool = True,
) -> Path:
    """Log the ``keymanager`` package to a private rotating file; returns its path.

    :param state_dir: the directory of the log file (default ``$XDG_STATE_HOME/keymanager``);
        created with mode 0700 if missing.
    :param level: the package's log level (a number, or a name such as ``"TRAFFIC"``);
        default: ``$KEYMANAGER_LOG_LEVEL``, else INFO.
    :param summary: log the environment summary (:func:`environment_summary`) at INFO.
    :param readers: list the PC/SC readers in the summary (only if pcscd's socket is there).

    Calling it again replaces the previous file handler (e.g. with another level).
    """
    global _handler
    directory = state_dir if state_dir is not None else default_state_dir()
    numeric = _level_from(level)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = log_file_path(directory)
    handler = PrivateRotatingFileHandler(path, max_bytes=LOG_MAX_BYTES, backups=LOG_BACKUPS)
    handler.setLevel(numeric)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactionFilter())
    package = logging.getLogger("keymanager")
    with _handler_lock:
        if _handler is not None:
            package.removeHandler(_handler)
            _handler.close()
        _handler = handler
        package.addHandler(handler)
        package.setLevel(numeric)
    if summary:
        from keymanager.diagnostics import environment_summary

        info = environment_summary(readers=readers)
        logger.info(
            "keymanager %s started: %s",
            __version__,
            "; ".join(f"{key}={value}" for key, value in info.items()),
        )
    return path


def close_logging() -> None:
    """Detach and close the log file handler of :func:`configure_logging` (if any)."""
    global _handler
    with _handler_lock:
        if _handler is not None:
            logging.getLogger("keymanager").removeHandler(_handler)
            _handler.close()
            _handler = None


def ensure_logging(**options: Any) -> None:
    """:func:`configure_logging` unless logging was configured already in this process
    (a program's entry point calls this; a caller that chose a level keeps it)."""
    with _handler_lock:
        configured = _handler is not None
    if not configured:
        configure_logging(**options)
