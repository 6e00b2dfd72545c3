"""A hostile card: the simulator with chosen responses replaced by malformed ones.

:class:`HostileCard` wraps a real :class:`~keymanager.simulator.card.SmartCardHsmSimulator`
and implements the same :class:`~keymanager.card.transport.VirtualCard` interface
(``power_on`` / ``process_apdu``, plus ``atr``, ``present``, ``insert`` and ``faults``),
so :class:`~keymanager.card.transport.LocalTransport`, the vpcd bridge and therefore the
real session, key store, workflows and GUI run against it unchanged.

Every command still reaches the wrapped simulator (the card does the work, so its state
stays what a real card's would be); for the commands a :class:`Rule` selects, the
response is then replaced by a malformed one.  Rules are written as a *spec*, the same
text ``python -m keymanager.simulator --hostile SPEC`` takes::

    SPEC  := RULE (";" RULE)*
    RULE  := TARGET "@" MALFORMATION
    TARGET:= "ins:" HH ["," "p1p2:" HHHH] ["," "nth:" K]  |  "apdu:" N  |  "all"
    MALFORMATION := NAME [":" ARGUMENT]

``ins:B1,p1p2:2F02@truncate:3`` cuts every READ BINARY of EF 2F02 to three data bytes;
``apdu:2@sw:6F00`` answers the second APDU after the rules were set with ``6F00``;
``ins:58,nth:2@empty`` empties the second ENUMERATE only.  The malformations are listed
in :data:`MALFORMATIONS` (and in ``docs/card.md``, "Hostile card").

Two malformations keep going after the command they hit: ``loop:61`` answers the
command with ``61 10`` and every following GET RESPONSE with 16 more bytes and
``61 10`` again, for ever; ``loop:6C`` answers ``6C xx`` to the command and to every
re-send of it.  A different command ends the loop.

This is a test tool: it makes the card lie, never the host.  Nothing here is a secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keymanager.dkek.tlv import TlvError, encode_length, encode_tlv, read_length, read_tag
from keymanager.simulator.apdu import CardStatus, parse_apdu
from keymanager.simulator.card import SmartCardHsmSimulator
from keymanager.simulator.faults import FaultPlan

__all__ = [
    "MALFORMATIONS",
    "HostileCard",
    "HostileSpecError",
    "Malformation",
    "Rule",
    "Target",
    "parse_spec",
]

SW_OK = b"\x90\x00"
GET_RESPONSE = 0xC0
LOOP_CHUNK = 16
"""Data bytes each step of a ``loop:61`` carries."""


class HostileSpecError(ValueError):
    """A hostile-card spec does not parse; the message says where."""


# --- what the response is replaced by -----------------------------------------------


def _split(response: bytes) -> tuple[bytes, bytes]:
    """Data and SW bytes of a response (a response shorter than 2 bytes is all SW)."""
    if len(response) < 2:
        return b"", response
    return response[:-2], response[-2:]


def _stream(seed: str, length: int) -> bytes:
    """``length`` deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"hostile {seed} {counter}".encode()).digest()
        counter += 1
    return bytes(out[:length])


def _filler(data: bytes, length: int) -> bytes:
    """``length`` bytes repeating ``data`` (or ``A5`` when there is none)."""
    pattern = data or b"\xa5"
    return (pattern * (length // len(pattern) + 1))[:length]


def _int_argument(argument: str, name: str, *, base: int = 10) -> int:
    try:
        value = int(argument, base)
    except ValueError:
        raise HostileSpecError(f"{name} needs a number, not {argument!r}") from None
    if value < 0:
        raise HostileSpecError(f"{name} needs a number of at least 0")
    return value


def _status_word(argument: str, name: str) -> bytes:
    text = argument.strip()
    if len(text) != 4:
        raise HostileSpecError(f"{name} needs a status word of four hex digits, not {argument!r}")
    return _int_argument(text, name, base=16).to_bytes(2, "big")


TLV_FORMS = (
    "overrun",
    "under",
    "indefinite",
    "65535",
    "4g",
    "84",
    "85",
    "89",
    "ff",
    "tag-only",
    "zero-tag",
)
"""Arguments of ``tlv`` and ``tlv2``: how the first TLV's length is broken.

``overrun`` claims one byte more than there is; ``under`` half of what there is (the
rest dangles); ``indefinite`` the length byte ``80`` with no end-of-contents;
``65535`` / ``4g`` claim 65535 bytes (``82 FFFF``) / 4 GiB (``84 FFFFFFFF``);
``84`` / ``85`` / ``89`` give the true length in 4, 5 or 9 length bytes; ``ff`` the
reserved length byte; ``tag-only`` ends the data after the tag; ``zero-tag`` puts the
padding byte ``00`` where the tag should be."""


def _break_tlv(data: bytes, form: str) -> bytes:
    """``data`` with its first TLV's length encoding replaced according to ``form``."""
    if not data:
        data = b"\x30\x00"
    try:
        tag, offset = read_tag(data, 0)
    except TlvError:
        tag, offset = data[:1], 1
    try:
        _length, value_offset = read_length(data, offset)
    except TlvError:
        value_offset = min(offset + 1, len(data))
    value = data[value_offset:]
    size = len(value)
    if form == "overrun":
        return tag + encode_length(size + 1) + value
    if form == "under":
        return tag + encode_length(size // 2) + value
    if form == "indefinite":
        return tag + b"\x80" + value
    if form == "65535":
        return tag + b"\x82\xff\xff" + value
    if form == "4g":
        return tag + b"\x84\xff\xff\xff\xff" + value
    if form == "84":
        return tag + b"\x84" + size.to_bytes(4, "big") + value
    if form == "85":
        return tag + b"\x85" + size.to_bytes(5, "big") + value
    if form == "89":
        return tag + b"\x89" + size.to_bytes(9, "big") + value
    if form == "ff":
        return tag + b"\xff" + value
    if form == "tag-only":
        return tag
    if form == "zero-tag":
        return b"\x00" + data[len(tag) :]
    raise HostileSpecError(f"unknown TLV form {form!r}; one of {', '.join(TLV_FORMS)}")


def _break_inner_tlv(data: bytes, form: str) -> bytes:
    """``data`` with the first TLV *inside* its first TLV broken (outer length adjusted)."""
    try:
        tag, offset = read_tag(data, 0)
        _length, value_offset = read_length(data, offset)
    except TlvError:
        return _break_tlv(data, form)
    inner = _break_tlv(data[value_offset:], form)
    return tag + encode_length(len(inner)) + inner


WRONG_KINDS = ("x509", "cvc", "cv-request", "prkd", "status", "fcp", "fids")
"""Arguments of ``wrong``: a well-formed answer of another command or file."""


def _x509_certificate() -> bytes:
    """A small, valid, self-signed X.509 certificate (P-256; the key is not a secret)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    scalar = int.from_bytes(hashlib.sha256(b"keymanager hostile card").digest(), "big")
    key = ec.derive_private_key(scalar % (2**255), ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hostile card test certificate")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


_CANNED: dict[str, bytes] = {}


def _wrong_kind(kind: str, card: HostileCard) -> bytes:
    """A well-formed response of the wrong kind (data only)."""
    if kind == "x509":
        if "x509" not in _CANNED:
            _CANNED["x509"] = _x509_certificate()
        return _CANNED["x509"]
    if kind == "cvc":
        return card.simulator.device_certificates()
    if kind == "cv-request":
        chain = card.simulator.device_certificates()
        try:
            _tag, offset = read_tag(chain, 0)
            length, value_offset = read_length(chain, offset)
        except TlvError:
            return b"\x67\x00"
        first = chain[: value_offset + length]
        return b"\x67" + encode_length(len(first)) + first
    if kind == "prkd":
        from keymanager.card.pkcs15 import (
            KeyKind,
            PrivateKeyDescription,
            default_usage,
            encode_prkd,
        )

        return encode_prkd(
            PrivateKeyDescription(
                kind=KeyKind.EC,
                label="hostile",
                id=b"\x01" * 20,
                usage=default_usage(KeyKind.EC),
                size=256,
                key_reference=1,
            )
        )
    if kind == "status":
        return bytes([2, 0]) + bytes.fromhex("0102030405060708")
    if kind == "fcp":
        from keymanager.simulator.core import AID

        body = encode_tlv(0x82, b"\x78") + encode_tlv(0x84, AID) + encode_tlv(0x85, bytes(5))
        return encode_tlv(0x62, body)
    if kind == "fids":
        return bytes.fromhex("CC00CC01C401CE01C801CA01")
    raise HostileSpecError(f"unknown wrong kind {kind!r}; one of {', '.join(WRONG_KINDS)}")


@dataclass(frozen=True)
class Malformation:
    """How a response is broken: a name from :data:`MALFORMATIONS` and its argument."""

    name: str
    argument: str = ""

    def __post_init__(self) -> None:
        if self.name not in MALFORMATIONS:
            raise HostileSpecError(
                f"unknown malformation {self.name!r}; one of {', '.join(sorted(MALFORMATIONS))}"
            )
        if self.name in _CASE_FREE:
            object.__setattr__(self, "argument", self.argument.lower())
        _VALIDATORS[self.name](self.argument)

    @property
    def text(self) -> str:
        """The spec form, e.g. ``truncate:3``."""
        return f"{self.name}:{self.argument}" if self.argument else self.name

    def apply(self, response: bytes, command: bytes, card: HostileCard) -> bytes:
        """The malformed response to ``command`` whose real response was ``response``."""
        data, sw = _split(response)
        name, argument = self.name, self.argument
        if name == "pass":
            return response
        if name == "truncate":
            return data[: int(argument)] + sw
        if name == "cut":
            return response[: int(argument)]
        if name == "empty":
            return SW_OK
        if name == "sw":
            return _status_word(argument, name)
        if name == "sw+data":
            return data + _status_word(argument, name)
        if name == "tlv":
            return _break_tlv(data, argument) + SW_OK
        if name == "tlv2":
            return _break_inner_tlv(data, argument) + SW_OK
        if name == "long":
            return _filler(data, int(argument)) + SW_OK
        if name == "full":
            return _filler(data, _expected_length(command)) + SW_OK
        if name == "garbage":
            length, _, seed = argument.partition(":")
            return _stream(seed or "garbage", int(length)) + SW_OK
        if name == "patch":
            patched = bytearray(data)
            for offset, replacement in _patches(argument):
                if offset > len(patched):
                    patched += bytes(offset - len(patched))
                patched[offset : offset + len(replacement)] = replacement
            return bytes(patched) + sw
        if name == "flip":
            index = int(argument)
            if index >= len(data):
                return response
            return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :] + sw
        if name == "wrong":
            return _wrong_kind(argument, card) + SW_OK
        if name == "replace":
            return bytes.fromhex(argument)
        if name == "loop":
            kind = argument.upper()
            card.start_loop(kind, command)
            if kind == "61":
                return bytes([0x61, LOOP_CHUNK])
            return bytes([0x6C, max(1, (_expected_length(command) - 1) & 0xFF)])
        raise HostileSpecError(f"unknown malformation {name!r}")  # pragma: no cover


def _expected_length(command: bytes) -> int:
    """Ne of a command APDU (0 when it has no Le field or does not parse)."""
    try:
        parsed = parse_apdu(command)
    except CardStatus:
        return 0
    return parsed.ne or 0


def _check_number(name: str) -> Callable[[str], None]:
    def check(argument: str) -> None:
        _int_argument(argument, name)

    return check


def _check_sw(name: str) -> Callable[[str], None]:
    def check(argument: str) -> None:
        _status_word(argument, name)

    return check


def _check_choice(name: str, choices: Sequence[str]) -> Callable[[str], None]:
    def check(argument: str) -> None:
        if argument.lower() not in choices:
            raise HostileSpecError(f"{name} takes one of {', '.join(choices)}, not {argument!r}")

    return check


def _check_garbage(argument: str) -> None:
    length, _, _seed = argument.partition(":")
    _int_argument(length, "garbage")


def _patches(argument: str) -> list[tuple[int, bytes]]:
    """``OFFSET=HEX[+OFFSET=HEX…]`` as (offset, bytes) pairs."""
    patches = []
    for part in argument.split("+"):
        offset, separator, value = part.partition("=")
        if not separator:
            raise HostileSpecError(f"patch takes OFFSET=HEX[+OFFSET=HEX…], not {argument!r}")
        try:
            replacement = bytes.fromhex(value)
        except ValueError:
            raise HostileSpecError(f"patch needs hexadecimal bytes, not {value!r}") from None
        patches.append((_int_argument(offset, "patch"), replacement))
    return patches


def _check_patch(argument: str) -> None:
    _patches(argument)


def _check_replace(argument: str) -> None:
    try:
        bytes.fromhex(argument)
    except ValueError:
        raise HostileSpecError("replace needs hexadecimal bytes (data and SW)") from None


def _check_none(name: str) -> Callable[[str], None]:
    def check(argument: str) -> None:
        if argument:
            raise HostileSpecError(f"{name} takes no argument")

    return check


MALFORMATIONS: dict[str, str] = {
    "pass": "the real response, unchanged",
    "truncate": "truncate:N keeps the first N data bytes and the real SW",
    "cut": "cut:N keeps the first N bytes of data‖SW (N < 2: no status word at all)",
    "empty": "no data, SW 9000",
    "sw": "sw:XXXX answers only the status word XXXX (6Cxx, 61xx, 6F00, 63Cx, 9000 …)",
    "sw+data": "sw+data:XXXX keeps the real data with the status word XXXX",
    "tlv": "tlv:FORM breaks the first TLV's length (" + ", ".join(TLV_FORMS) + ")",
    "tlv2": "tlv2:FORM breaks the first TLV inside the first TLV, same forms",
    "long": "long:N answers N bytes (the real data repeated) with 9000",
    "full": "exactly Ne bytes (the real data repeated) with 9000: a file that never ends",
    "garbage": "garbage:N[:SEED] answers N pseudo-random bytes with 9000",
    "flip": "flip:I inverts data byte I",
    "patch": "patch:OFFSET=HEX[+OFFSET=HEX…] overwrites data bytes (extending the data if needed)",
    "wrong": "wrong:KIND answers a well-formed response of another kind ("
    + ", ".join(WRONG_KINDS)
    + ")",
    "replace": "replace:HEX answers exactly these bytes (data‖SW)",
    "loop": "loop:61 (GET RESPONSE never ends) or loop:6C (6Cxx to every re-send)",
}
"""Every malformation name and what it does."""

_CASE_FREE = ("tlv", "tlv2", "wrong", "loop")
"""Malformations whose argument is a word (``tlv:4G`` = ``tlv:4g``)."""

_VALIDATORS: dict[str, Callable[[str], None]] = {
    "pass": _check_none("pass"),
    "truncate": _check_number("truncate"),
    "cut": _check_number("cut"),
    "empty": _check_none("empty"),
    "sw": _check_sw("sw"),
    "sw+data": _check_sw("sw+data"),
    "tlv": _check_choice("tlv", TLV_FORMS),
    "tlv2": _check_choice("tlv2", TLV_FORMS),
    "long": _check_number("long"),
    "full": _check_none("full"),
    "garbage": _check_garbage,
    "flip": _check_number("flip"),
    "patch": _check_patch,
    "wrong": _check_choice("wrong", WRONG_KINDS),
    "replace": _check_replace,
    "loop": _check_choice("loop", ("61", "6c")),
}


# --- which commands are hit ------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Which APDUs a rule hits.

    :param ins: every APDU with this INS (``None``: any INS).
    :param p1p2: ... and these P1 P2.
    :param nth: only the nth APDU (from 1) that matches ``ins`` / ``p1p2``.
    :param apdu: only the nth APDU after the rules were set, whatever it is.
    """

    ins: int | None = None
    p1p2: int | None = None
    nth: int | None = None
    apdu: int | None = None

    @property
    def text(self) -> str:
        """The spec form."""
        if self.apdu is not None:
            return f"apdu:{self.apdu}"
        parts = []
        if self.ins is not None:
            parts.append(f"ins:{self.ins:02X}")
        if self.p1p2 is not None:
            parts.append(f"p1p2:{self.p1p2:04X}")
        if self.nth is not None:
            parts.append(f"nth:{self.nth}")
        return ",".join(parts) or "all"

    def selects(self, header: bytes) -> bool:
        """Whether an APDU with this header (CLA INS P1 P2) is of the selected kind."""
        if len(header) < 4:
            return self.ins is None and self.p1p2 is None
        if self.ins is not None and header[1] != self.ins:
            return False
        return self.p1p2 is None or int.from_bytes(header[2:4], "big") == self.p1p2


@dataclass
class Rule:
    """A target and what its responses become; counts its matches and hits."""

    target: Target
    malformation: Malformation
    matches: int = 0
    hits: int = 0

    @property
    def text(self) -> str:
        return f"{self.target.text}@{self.malformation.text}"


def _parse_target(text: str) -> Target:
    text = text.strip().lower()
    if text in ("all", "*", ""):
        return Target()
    values: dict[str, int] = {}
    for part in text.split(","):
        key, separator, value = part.strip().partition(":")
        if not separator or key not in ("ins", "p1p2", "nth", "apdu"):
            raise HostileSpecError(
                f"a target is ins:HH[,p1p2:HHHH][,nth:K], apdu:N or all, not {text!r}"
            )
        if key in values:
            raise HostileSpecError(f"{key} is given twice in {text!r}")
        base = 16 if key in ("ins", "p1p2") else 10
        number = _int_argument(value, key, base=base)
        limit = {"ins": 0xFF, "p1p2": 0xFFFF}.get(key)
        if (limit is not None and number > limit) or (key in ("nth", "apdu") and number < 1):
            raise HostileSpecError(f"{key}:{value} is out of range")
        values[key] = number
    if "apdu" in values and len(values) > 1:
        raise HostileSpecError("apdu:N stands alone (it counts every APDU)")
    return Target(
        ins=values.get("ins"),
        p1p2=values.get("p1p2"),
        nth=values.get("nth"),
        apdu=values.get("apdu"),
    )


def parse_spec(spec: str) -> list[Rule]:
    """The rules of a spec (see the module docstring).

    :raises HostileSpecError: the spec does not parse.
    """
    rules = []
    for part in spec.split(";"):
        if not part.strip():
            continue
        target_text, separator, malformation_text = part.partition("@")
        if not separator:
            raise HostileSpecError(f"a rule is TARGET@MALFORMATION, not {part.strip()!r}")
        name, _, argument = malformation_text.strip().partition(":")
        rules.append(Rule(_parse_target(target_text), Malformation(name.lower(), argument)))
    if not rules:
        raise HostileSpecError("the spec has no rule")
    return rules


# --- the card ---------------------------------------------------------------------------


@dataclass
class _Loop:
    kind: str
    ins: int
    steps: int = 0


@dataclass
class HostileLog:
    """What the hostile card did: APDUs seen and responses replaced."""

    apdus: int = 0
    replaced: int = 0
    loop_steps: int = 0
    replaced_ins: list[int] = field(default_factory=list)


class HostileCard:
    """A :class:`SmartCardHsmSimulator` that answers chosen commands with malformed data.

    :param simulator: the real simulated card every command goes to.
    :param rules: a spec string or rules; the first rule that matches an APDU decides.
    :param enabled: switch the malformations off (the card behaves) and on again with
        :attr:`enabled`; the APDU count goes on.
    """

    def __init__(
        self,
        simulator: SmartCardHsmSimulator,
        rules: str | Iterable[Rule] = (),
        *,
        enabled: bool = True,
    ) -> None:
        self.simulator = simulator
        self.enabled = enabled
        self.log = HostileLog()
        self.rules: list[Rule] = []
        self._loop: _Loop | None = None
        self._since_rules = 0
        self.set_rules(rules)

    # --- configuration ------------------------------------------------------------

    def set_rules(self, rules: str | Iterable[Rule]) -> None:
        """Replace the rules (a spec or rule objects); ``apdu:N`` counts from here."""
        if isinstance(rules, str):
            self.rules = parse_spec(rules) if rules.strip() else []
        else:
            self.rules = list(rules)
        self._since_rules = 0
        self._loop = None

    def clear(self) -> None:
        """No rules: the card behaves."""
        self.set_rules(())

    @property
    def spec(self) -> str:
        """The rules as a spec string."""
        return ";".join(rule.text for rule in self.rules)

    def start_loop(self, kind: str, command: bytes) -> None:
        """Keep answering after this command (used by the ``loop`` malformation)."""
        self._loop = _Loop(kind, command[1] if len(command) > 1 else -1)

    # --- VirtualCard + what the vpcd bridge and tests use ------------------------------

    @property
    def atr(self) -> bytes:
        return self.simulator.atr

    @property
    def present(self) -> bool:
        return self.simulator.present

    @property
    def faults(self) -> FaultPlan:
        return self.simulator.faults

    @property
    def state_path(self) -> Path | None:
        return self.simulator.state_path

    def insert(self) -> None:
        self._loop = None
        self.simulator.insert()

    def remove(self) -> None:
        self._loop = None
        self.simulator.remove()

    def power_on(self) -> bytes:
        """Power the wrapped card on (a pending loop ends)."""
        self._loop = None
        return self.simulator.power_on()

    def process_apdu(self, apdu: bytes) -> bytes:
        """The wrapped card's response, malformed where a rule says so.

        :raises CardRemoved: / :raises CardReset: as the wrapped card does (faults).
        """
        command = bytes(apdu)
        self.log.apdus += 1
        self._since_rules += 1
        looping = self._continue_loop(command)
        if looping is not None:
            return looping
        rule = self._rule_for(command)
        response = self.simulator.process_apdu(command)
        if rule is None:
            return response
        rule.hits += 1
        self.log.replaced += 1
        self.log.replaced_ins.append(command[1] if len(command) > 1 else -1)
        return rule.malformation.apply(response, command, self)

    def _continue_loop(self, command: bytes) -> bytes | None:
        loop = self._loop
        if loop is None or not self.enabled:
            return None
        ins = command[1] if len(command) > 1 else -1
        if loop.kind == "61" and ins == GET_RESPONSE:
            loop.steps += 1
            self.log.loop_steps += 1
            return _stream(f"loop {loop.steps}", LOOP_CHUNK) + bytes([0x61, LOOP_CHUNK])
        if loop.kind == "6C" and ins == loop.ins:
            loop.steps += 1
            self.log.loop_steps += 1
            wanted = _expected_length(command)
            return bytes([0x6C, (wanted + 1) & 0xFF or 1])
        self._loop = None
        return None

    def _rule_for(self, command: bytes) -> Rule | None:
        if not self.enabled:
            return None
        for rule in self.rules:
            target = rule.target
            if target.apdu is not None:
                if self._since_rules == target.apdu:
                    return rule
                continue
            if not target.selects(command):
                continue
            rule.matches += 1
            if target.nth is None or rule.matches == target.nth:
                return rule
        return None


def describe_rules(rules: Iterable[Rule]) -> str:
    """One line per rule, for the command line's start-up message."""
    return "\n".join(f"  {rule.text}: {MALFORMATIONS[rule.malformation.name]}" for rule in rules)
