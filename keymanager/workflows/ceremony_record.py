"""The key ceremony record: a hash-chained, signed transcript an auditor checks without the card.

A record is a JSON Lines file.  Its first line opens the ceremony (title, participants
and their roles, devices, whether it is a rehearsal); every card-changing step appends
one entry; closing it appends a last line holding the SHA-256 of everything before it
and a signature over that head made by a key on a card, with the signer's certificate
(or public key).  Every line carries ``prev``, the SHA-256 (hex) of the exact bytes of
the line before it (``null`` on the first), so changing, removing or inserting a line
breaks the chain at the line after it; changing the last line breaks the signature.

Lines are canonical JSON (keys sorted, no spaces), one per line, so the bytes that were
hashed are the bytes on disk.  The file is rewritten atomically (a temporary file in
the same directory, fsynced, renamed over the old one), mode 0600, at every append: a
record is either as it was or as it is now, never half-written.

Nothing secret goes into a record: :func:`check_public` refuses any field whose name
says PIN, password, passphrase, secret, share value, private key or KEK, and any value
of bytes type (what goes in is text: hex fingerprints, KCVs, key IDs, serials).

:func:`verify_record` needs no card: it recomputes the chain, names the first line
that does not match, and checks the closing signature with the certificate in the
record (ECDSA with SHA-256, or RSA PKCS#1 v1.5 with SHA-256).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keymanager.dkek.fileio import write_private_file
from keymanager.workflows.errors import WorkflowError

__all__ = [
    "RECORD_FORMAT",
    "ROLES",
    "CeremonyClosed",
    "Participant",
    "RecordDamaged",
    "RecordSecretRefused",
    "RecordSignature",
    "Verification",
    "append_entry",
    "check_public",
    "close_record",
    "head_digest",
    "is_closed",
    "is_secret_name",
    "participants_of",
    "read_lines",
    "rehearsal_of",
    "start_record",
    "verify_record",
]

RECORD_FORMAT = "keymanager-ceremony-record"
RECORD_VERSION = 1
ROLES = ("security officer", "custodian", "witness", "auditor", "operator")
"""The roles a participant can have."""

_CLOSE_KEYS = frozenset({"type", "sequence", "time", "head", "signature", "prev"})
_SIGNATURE_KEYS = frozenset({"algorithm", "value", "signer", "certificate", "public_key", "key"})

_SECRET_NAME = re.compile(
    r"(?i)(^|[_ -])(pin|so[_ -]?pin|puk|password|passphrase|secret|share[_ -]?value|"
    r"private[_ -]?key|kek|dkek[_ -]?value|seed)($|[_ -])"
)


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` would hold a secret (PIN, password, KEK, …)."""
    return bool(_SECRET_NAME.search(name)) and not name.endswith(("_tries", "_state"))


class RecordError(WorkflowError):
    """Base of the ceremony record's errors."""


class RecordDamaged(RecordError):
    """The file is not a ceremony record, or a line cannot be read."""


class CeremonyClosed(RecordError):
    """The ceremony was closed (signed): nothing more can be appended."""


class RecordSecretRefused(RecordError):
    """A field that would put a secret into the record (nothing was written)."""


@dataclass(frozen=True)
class Participant:
    """Someone taking part, with their role (one of :data:`ROLES`)."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a participant needs a name")
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r} (one of: {', '.join(ROLES)})")

    @classmethod
    def parse(cls, text: str) -> Participant:
        """``"Alice Example:custodian"`` or ``"Alice Example, custodian"``."""
        for separator in (":", ","):
            if separator in text:
                name, role = text.rsplit(separator, 1)
                return cls(name.strip(), role.strip().lower())
        raise ValueError(f"{text!r}: write a participant as NAME:ROLE")


@dataclass(frozen=True)
class RecordSignature:
    """What closing the record produced: the signature over the head and who made it."""

    algorithm: str
    """``ecdsa-sha256`` or ``rsa-pkcs1-sha256``."""
    signer: str
    """Who signed, as the officer named it (a participant's name)."""
    signature: bytes = b""
    """DER ``SEQUENCE {r, s}`` for ECDSA, the PKCS#1 block for RSA (empty until signed)."""
    certificate: bytes = b""
    """The signer's X.509 certificate (DER), when the key has one."""
    public_key: bytes = b""
    """Else the signer's public key (DER SubjectPublicKeyInfo)."""
    key: Mapping[str, Any] = field(default_factory=dict)
    """Public facts about the signing key: device serial, key reference, key ID."""


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_record` found."""

    entries: int
    """Lines in the record, the opening and closing lines included."""
    first_altered: int | None
    """1-based number of the first line that does not match the chain (``None``: none)."""
    closed: bool
    signature_valid: bool | None
    """``None`` when the record is not closed."""
    problem: str = ""

    @property
    def valid(self) -> bool:
        """Chain intact, and closed with a signature that verifies."""
        return self.first_altered is None and self.closed and bool(self.signature_valid)

    def text(self) -> str:
        """One line for the auditor."""
        if self.first_altered is not None:
            return f"line {self.first_altered} was altered: {self.problem}"
        if not self.closed:
            return f"chain intact ({self.entries} lines), but the ceremony was not closed"
        if not self.signature_valid:
            return f"chain intact, but the closing signature does not verify: {self.problem}"
        return f"record intact: {self.entries} lines, closing signature verified"


# --- writing -------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def canonical(value: Mapping[str, Any]) -> bytes:
    """The line for ``value``: canonical JSON, UTF-8, without the newline."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def check_public(value: object, path: str = "") -> None:
    """Refuse anything that could carry a secret (see the module text)."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise RecordSecretRefused(f"{path or 'value'}: bytes are not recorded (write hex text)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if is_secret_name(str(key)):
                raise RecordSecretRefused(
                    f"{path + '.' if path else ''}{key}: a field of this name would put a "
                    "secret into the record; nothing was written"
                )
            check_public(item, f"{path + '.' if path else ''}{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_public(item, f"{path}[{index}]")


def read_lines(path: Path) -> list[bytes]:
    """The record's lines (without newlines)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecordDamaged(f"{path}: cannot read the record ({error.strerror})") from None
    if not data:
        raise RecordDamaged(f"{path}: the file is empty")
    return data.rstrip(b"\n").split(b"\n")


def _write_atomically(path: Path, lines: Sequence[bytes]) -> None:
    """The whole record, replaced atomically with mode 0600 (see the module text)."""
    write_private_file(path, b"".join(line + b"\n" for line in lines), overwrite=True)


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def start_record(
    path: Path,
    *,
    title: str,
    participants: Sequence[Participant],
    devices: Sequence[Mapping[str, Any]] = (),
    rehearsal: bool = False,
) -> None:
    """Open a new ceremony record at ``path`` (refused if the file exists)."""
    if path.exists():
        raise RecordError(f"{path} exists: a new ceremony needs a new record file")
    if not title.strip():
        raise ValueError("a ceremony needs a title")
    if not participants:
        raise ValueError("a ceremony needs at least one participant")
    opening: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "type": "start",
        "sequence": 1,
        "time": _now(),
        "title": title,
        "rehearsal": rehearsal,
        "participants": [{"name": p.name, "role": p.role} for p in participants],
        "devices": [dict(device) for device in devices],
        "prev": None,
    }
    check_public(opening)
    _write_atomically(path, [canonical(opening)])


def _opening(lines: Sequence[bytes], path: Path) -> dict[str, Any]:
    try:
        first = json.loads(lines[0])
    except ValueError:
        raise RecordDamaged(f"{path}: line 1 is not JSON") from None
    if not isinstance(first, dict) or first.get("format") != RECORD_FORMAT:
        raise RecordDamaged(f"{path}: not a keymanager ceremony record")
    if first.get("version") != RECORD_VERSION:
        raise RecordDamaged(f"{path}: record version {first.get('version')} is not supported")
    return first


def _last(lines: Sequence[bytes], path: Path) -> dict[str, Any]:
    try:
        last = json.loads(lines[-1])
    except ValueError:
        raise RecordDamaged(f"{path}: line {len(lines)} is not JSON") from None
    if not isinstance(last, dict):
        raise RecordDamaged(f"{path}: line {len(lines)} is not a record line")
    return last


def participants_of(path: Path) -> list[Participant]:
    """The participants the record was opened with."""
    opening = _opening(read_lines(path), path)
    return [Participant(str(p["name"]), str(p["role"])) for p in opening.get("participants", [])]


def is_closed(path: Path) -> bool:
    """Whether the record's last line closes the ceremony."""
    lines = read_lines(path)
    _opening(lines, path)
    return _last(lines, path).get("type") == "close"


def rehearsal_of(path: Path) -> bool:
    """Whether the record is a rehearsal's."""
    return bool(_opening(read_lines(path), path).get("rehearsal"))


def append_entry(
    path: Path,
    *,
    workflow: str,
    actor: str,
    result: str,
    device: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
    checks: Sequence[str] = (),
    witness: str | None = None,
) -> int:
    """Append one step; returns its line number.

    :param actor: the participant who acted (must be one of the record's participants).
    :param changes: what changed, in public terms (key references, IDs, fingerprints,
        domain numbers, KCVs before and after).
    :param checks: what the workflow checked (``test signature verified``, …).
    :param witness: the witness who confirmed the step on screen, if it needed one.
    """
    lines = read_lines(path)
    _opening(lines, path)
    if _last(lines, path).get("type") == "close":
        raise CeremonyClosed(f"{path}: the ceremony was closed; start a new record")
    names = {p.name for p in participants_of(path)}
    for who, what in ((actor, "actor"), (witness, "witness")):
        if who is not None and who not in names:
            raise RecordError(
                f"{what} {who!r} is not a participant of this ceremony "
                f"(participants: {', '.join(sorted(names))})"
            )
    entry: dict[str, Any] = {
        "type": "step",
        "sequence": len(lines) + 1,
        "time": _now(),
        "workflow": workflow,
        "actor": actor,
        "device": dict(device or {}),
        "changes": dict(changes or {}),
        "checks": list(checks),
        "result": result,
        "prev": _digest(lines[-1]),
    }
    if witness is not None:
        entry["witness"] = witness
    check_public(entry)
    _write_atomically(path, [*lines, canonical(entry)])
    return len(lines) + 1


def head_digest(path: Path) -> bytes:
    """SHA-256 of every line of the record so far (with their newlines)."""
    return hashlib.sha256(b"".join(line + b"\n" for line in read_lines(path))).digest()


def _signature_field(signature: RecordSignature) -> dict[str, Any]:
    return {
        "algorithm": signature.algorithm,
        "value": signature.signature.hex(),
        "signer": signature.signer,
        "certificate": signature.certificate.hex(),
        "public_key": signature.public_key.hex(),
        "key": dict(signature.key),
    }


def signed_digest(lines_before: Sequence[bytes], closing: Mapping[str, Any]) -> bytes:
    """What the closing signature signs: SHA-256 of every line before the closing line
    (with their newlines) followed by the closing line with an empty signature value,
    so the closing line's time, head and signer are covered as well."""
    unsigned = dict(closing)
    unsigned["signature"] = {**dict(closing["signature"]), "value": ""}
    data = b"".join(line + b"\n" for line in lines_before) + canonical(unsigned)
    return hashlib.sha256(data).digest()


def close_record(
    path: Path, signer: RecordSignature, sign: Callable[[bytes], bytes]
) -> RecordSignature:
    """Close the ceremony with a signature by ``signer`` (its ``signature`` left empty).

    ``sign`` gets the 32-byte digest of :func:`signed_digest` and returns the signature
    (the caller has the card make it); it is checked here with the signer's certificate
    or public key before the closing line is written.
    """
    lines = read_lines(path)
    _opening(lines, path)
    if _last(lines, path).get("type") == "close":
        raise CeremonyClosed(f"{path}: the ceremony was closed already")
    closing: dict[str, Any] = {
        "type": "close",
        "sequence": len(lines) + 1,
        "time": _now(),
        "head": head_digest(path).hex(),
        "signature": _signature_field(signer),
        "prev": _digest(lines[-1]),
    }
    check_public(closing)
    digest = signed_digest(lines, closing)
    signature = replace(signer, signature=bytes(sign(digest)))
    problem = _signature_problem(signature, digest)
    if problem:
        raise RecordError(f"the closing signature does not verify ({problem}); nothing was written")
    closing["signature"] = _signature_field(signature)
    _write_atomically(path, [*lines, canonical(closing)])
    return signature


# --- verifying -----------------------------------------------------------------------


def _signature_problem(signature: RecordSignature, head: bytes) -> str:
    """``""`` when ``signature`` verifies over ``head``, else what is wrong."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        if signature.certificate:
            public_key: Any = x509.load_der_x509_certificate(signature.certificate).public_key()
        elif signature.public_key:
            public_key = serialization.load_der_public_key(signature.public_key)
        else:
            return "the record holds neither the signer's certificate nor public key"
    except (ValueError, UnsupportedAlgorithm) as error:
        return f"the signer's certificate or public key cannot be read ({error})"
    try:
        if signature.algorithm == "ecdsa-sha256" and isinstance(
            public_key, ec.EllipticCurvePublicKey
        ):
            public_key.verify(signature.signature, head, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        elif signature.algorithm == "rsa-pkcs1-sha256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                signature.signature, head, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
            )
        else:
            return f"algorithm {signature.algorithm} does not fit the signer's key"
    except InvalidSignature:
        return "the signature does not match the record's head"
    return ""


def _altered_line(lines: Sequence[bytes], number: int) -> int:
    """Line ``number`` does not link to the line before it: which of the two changed.

    If the line after ``number`` still links to it (or, for the closing line, the head
    it signs still matches the lines before it), line ``number`` is as it was and the
    line before was changed; otherwise line ``number`` itself was.
    """
    if number == 1:
        return 1
    line = lines[number - 1]
    if number < len(lines):
        try:
            following = json.loads(lines[number])
        except ValueError:
            return number
        before_changed = isinstance(following, dict) and following.get("prev") == _digest(line)
    else:
        try:
            value = json.loads(line)
        except ValueError:
            return number
        head = hashlib.sha256(b"".join(item + b"\n" for item in lines[:-1])).hexdigest()
        # the head covers the line before too: a changed line before breaks it as well
        before_changed = not (isinstance(value, dict) and value.get("head") == head)
    return number - 1 if before_changed else number


def verify_record(path: Path) -> Verification:
    """Check the chain and the closing signature (no card needed)."""
    lines = read_lines(path)
    try:
        _opening(lines, path)
    except RecordDamaged as error:
        return Verification(len(lines), 1, False, None, str(error))
    previous: bytes | None = None
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)
        except ValueError:
            return Verification(len(lines), number, False, None, "the line is not JSON")
        if not isinstance(value, dict):
            return Verification(len(lines), number, False, None, "not a record line")
        expected = None if previous is None else _digest(previous)
        if value.get("prev") != expected:
            altered = _altered_line(lines, number)
            return Verification(
                len(lines),
                altered,
                False,
                None,
                f"line {altered} does not match the SHA-256 the line after it recorded"
                if altered < number
                else "its link to the line before it was changed",
            )
        if value.get("sequence") != number:
            return Verification(
                len(lines), number, False, None, f"sequence {value.get('sequence')} out of place"
            )
        if canonical(value) != line:
            return Verification(len(lines), number, False, None, "the line is not canonical")
        kind = value.get("type")
        expected_kinds = {"start"} if number == 1 else {"step", "close"}
        if kind not in expected_kinds or (kind == "close" and number != len(lines)):
            return Verification(
                len(lines), number, False, None, f"a {kind!r} line cannot stand here"
            )
        parsed.append(value)
        previous = line
    last = parsed[-1]
    if last.get("type") != "close":
        return Verification(len(lines), None, False, None)
    number = len(lines)
    if set(last) != _CLOSE_KEYS or not isinstance(last.get("signature"), dict):
        return Verification(number, number, True, False, "the closing line's fields were changed")
    raw = last["signature"]
    if set(raw) != _SIGNATURE_KEYS:
        return Verification(number, number, True, False, "the signature's fields were changed")
    head = hashlib.sha256(b"".join(line + b"\n" for line in lines[:-1])).digest()
    if last.get("head") != head.hex():
        return Verification(
            number, number, True, False, "the head does not match the lines before it"
        )
    try:
        signature = RecordSignature(
            algorithm=str(raw["algorithm"]),
            signature=bytes.fromhex(raw["value"]),
            signer=str(raw["signer"]),
            certificate=bytes.fromhex(raw["certificate"]),
            public_key=bytes.fromhex(raw["public_key"]),
            key=dict(raw["key"]),
        )
    except (KeyError, ValueError, TypeError):
        return Verification(number, number, True, False, "the signature field is damaged")
    problem = _signature_problem(signature, signed_digest(lines[:-1], last))
    return Verification(number, number if problem else None, True, not problem, problem)
