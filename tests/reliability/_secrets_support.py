"""Helpers of the secrets scan (issue 7): the secrets, their encodings and the scanner.

A :class:`SecretBook` holds every secret a test run used (PINs, SO-PINs, passwords,
shares, fragments, PaperKey lines, the DKEK, private keys) under a name, and turns each
into the byte strings ("needles") a leak could take:

* the raw bytes, and for a typed secret its text in UTF-8, UTF-16-LE and UTF-16-BE;
* hexadecimal in lower and upper case, bare, space- and colon-separated, and in UTF-16;
* base64, standard and URL-safe, with and without padding, and the part of the
  encoding that depends on the secret alone at each of the three byte alignments, so a
  secret inside a longer base64 string is found wherever it starts;
* Python's ``repr`` escape of binary secrets (``\\x9c...``), the decimal byte list
  (``54, 52, ...``, what ``list(bytearray)`` prints), and for numbers (RSA and EC
  private values) their decimal and minimal-hex digits.

A :class:`Scanner` counts the hits of every needle in the bytes of a location (a log
file, captured output, a directory tree, an exception text, the clipboard) and adds up
hits and bytes per location and per workflow, for the figures of ``docs/reliability.md``.
"""

from __future__ import annotations

import base64
import os
import stat
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MINIMUM_NEEDLE = 6
"""Needles shorter than this are not searched (too likely by chance in binary data)."""


@dataclass(frozen=True)
class Needle:
    """One encoding of one secret."""

    secret: str
    form: str
    data: bytes


def _aligned_base64(raw: bytes) -> list[tuple[str, str]]:
    """The base64 characters that depend on ``raw`` alone, for each start offset mod 3."""
    found = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode().rstrip("=")
        start = -(-4 * offset // 3)
        end = 4 * (offset + len(raw)) // 3
        found.append((f"base64 inside a longer string (offset {offset})", encoded[start:end]))
    return found


def byte_forms(raw: bytes) -> list[tuple[str, bytes]]:
    """Every encoding searched for a secret of bytes ``raw``."""
    forms: list[tuple[str, str | bytes]] = [("raw bytes", raw)]
    lower, upper = raw.hex(), raw.hex().upper()
    forms += [("hex", lower), ("HEX", upper)]
    forms += [("hex spaced", raw.hex(" ")), ("HEX spaced", upper_spaced(raw, " "))]
    forms += [("hex colons", raw.hex(":")), ("HEX colons", upper_spaced(raw, ":"))]
    forms += [("hex UTF-16", lower.encode("utf-16-le")), ("HEX UTF-16", upper.encode("utf-16-le"))]
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    forms += [
        ("base64", standard),
        ("base64 unpadded", standard.rstrip("=")),
        ("base64url", urlsafe),
        ("base64url unpadded", urlsafe.rstrip("=")),
    ]
    for name, text in _aligned_base64(raw):
        forms.append((name, text))
        forms.append(
            (name.replace("base64", "base64url"), text.replace("+", "-").replace("/", "_"))
        )
    escaped = repr(raw)[2:-1]
    if escaped.encode() != raw:
        forms.append(("Python bytes repr", escaped))
    forms.append(("decimal byte list", ", ".join(str(byte) for byte in raw)))
    forms.append(("decimal bytes, no spaces", ",".join(str(byte) for byte in raw)))
    unique: dict[bytes, str] = {}
    for name, value in forms:
        data = value.encode() if isinstance(value, str) else value
        unique.setdefault(data, name)
    return [(name, data) for data, name in unique.items()]


def upper_spaced(raw: bytes, separator: str) -> str:
    """Upper-case hex with ``separator`` between the bytes."""
    return raw.hex(separator).upper()


@dataclass
class SecretBook:
    """The secrets of a run and their needles."""

    needles: list[Needle] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def _add(self, name: str, forms: Iterable[tuple[str, bytes]]) -> None:
        if name in self.names:
            return
        self.names.append(name)
        seen = {needle.data for needle in self.needles if needle.secret == name}
        for form, data in forms:
            if len(data) >= MINIMUM_NEEDLE and data not in seen:
                seen.add(data)
                self.needles.append(Needle(name, form, data))

    def add_text(self, name: str, text: str) -> None:
        """A typed secret (PIN, password, a printed fragment or PaperKey line)."""
        raw = text.encode("utf-8")
        forms = [("text", raw), ("UTF-16-LE", text.encode("utf-16-le"))]
        forms.append(("UTF-16-BE", text.encode("utf-16-be")))
        forms += byte_forms(raw)
        self._add(name, forms)

    def add_bytes(self, name: str, raw: bytes) -> None:
        """A binary secret (share, DKEK, AES key, 8-byte n-of-m password)."""
        self._add(name, byte_forms(bytes(raw)))

    def add_number(self, name: str, value: int) -> None:
        """A private number (RSA d, p, q, CRT values; an EC private value)."""
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        forms = byte_forms(raw)
        forms += [("decimal", str(value).encode()), ("hex digits", f"{value:x}".encode())]
        forms.append(("HEX digits", f"{value:X}".encode()))
        self._add(name, forms)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Hit:
    """A needle found in a location."""

    location: str
    where: str
    secret: str
    form: str

    def __str__(self) -> str:
        return f"{self.location}: {self.secret} as {self.form} in {self.where}"


@dataclass
class Scanner:
    """Counts needles in locations, per location and per workflow."""

    book: SecretBook
    hits: list[Hit] = field(default_factory=list)
    bytes_scanned: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    items_scanned: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_workflow: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    workflows: list[str] = field(default_factory=list)

    def scan(
        self,
        location: str,
        data: bytes,
        *,
        workflow: str,
        where: str = "",
        allowed: Iterable[str] = (),
    ) -> list[Hit]:
        """Count every needle in ``data``; ``allowed`` names secrets that belong there."""
        if workflow not in self.workflows:
            self.workflows.append(workflow)
        permitted = set(allowed)
        found = [
            Hit(location, where or location, needle.secret, needle.form)
            for needle in self.book.needles
            if needle.secret not in permitted and needle.data in data
        ]
        self.hits.extend(found)
        self.bytes_scanned[location] += len(data)
        self.items_scanned[location] += 1
        self.by_workflow[(location, workflow)] += len(found)
        return found

    def scan_text(self, location: str, text: str, *, workflow: str, where: str = "") -> list[Hit]:
        """Scan a text as UTF-8 (UTF-16 needles cover wide encodings)."""
        return self.scan(
            location, text.encode("utf-8", "surrogateescape"), workflow=workflow, where=where
        )

    def locations(self) -> list[str]:
        """Every location scanned, in first-scan order."""
        return list(self.bytes_scanned)


class LogFollower:
    """Reads what was appended to the log files of a directory since the last call."""

    OVERLAP = 512

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: dict[str, tuple[int, int]] = {}

    def new_bytes(self) -> list[tuple[str, bytes]]:
        """(file name, the new bytes with some overlap) for every log file."""
        chunks = []
        if not self.directory.is_dir():
            return chunks
        for path in sorted(self.directory.glob("keymanager.log*")):
            info = path.stat()
            data = path.read_bytes()
            inode, offset = self._seen.get(path.name, (info.st_ino, 0))
            if inode != info.st_ino or offset > len(data):
                offset = 0  # rotated: a new file under this name
            start = max(0, offset - self.OVERLAP)
            if len(data) > offset:
                chunks.append((path.name, data[start:]))
            self._seen[path.name] = (info.st_ino, len(data))
        return chunks


def tree_files(root: Path, *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Every regular file under ``root`` except the excluded files and directories."""
    excluded = [Path(os.path.realpath(path)) for path in exclude]
    files = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            real = Path(os.path.realpath(path))
            if any(real == item or item in real.parents for item in excluded):
                continue
            if stat.S_ISREG(path.lstat().st_mode):
                files.append(path)
    return sorted(files)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)
