"""Run OpenSC's command-line tools against a card in a pcscd reader and read their output.

The tools (Debian package ``opensc``): ``sc-hsm-tool``, ``pkcs11-tool`` (with OpenSC's
PKCS#11 module) and ``pkcs15-tool``.  Every run is captured in a :class:`ToolRun` whose
:meth:`~ToolRun.report` goes into assertion messages, so a failing test shows exactly
what the tool printed.  ``sc-hsm-tool`` exits 0 even when a card command failed:
tests check the card's state, never only the exit status.

The parsers here read the tools' screens as OpenSC 0.23 prints them (see
``../shared/spec/opensc-sc-hsm.md`` §1-§5 and ``../shared/spec/pcsc-testing.md``).
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from keymanager.simulator import SmartCardHsmSimulator

if TYPE_CHECKING:
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.simulator.vpcd import VpcdBridge
    from tests.support.pcscd import PcscdHarness

PKCS11_MODULE = Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")
SC_HSM_TOOL = "sc-hsm-tool"
PKCS11_TOOL = "pkcs11-tool"
PKCS15_TOOL = "pkcs15-tool"

SO_PIN = "3537363231383830"
"""The SmartCard-HSM's default initialisation code (and the simulator's)."""
USER_PIN = "648219"

KDF_TIMEOUT = 180.0
"""sc-hsm-tool's share-file key derivation takes ~13 s here; leave room for slow CI."""


@dataclass(frozen=True)
class ToolRun:
    """One finished run of a command-line tool."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def output(self) -> str:
        """Standard output followed by standard error."""
        return self.stdout + self.stderr

    def report(self) -> str:
        """The command, its exit status and everything it printed (for assertion messages)."""
        return (
            f"$ {' '.join(self.argv)}\nexit status {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    def check(self) -> ToolRun:
        """Fail with the report unless the tool exited 0."""
        assert self.returncode == 0, self.report()
        return self


def require_tools() -> None:
    """Fail (not skip: the interop tests are CI's acceptance bar) if OpenSC is missing."""
    missing = [tool for tool in (SC_HSM_TOOL, PKCS11_TOOL, PKCS15_TOOL) if not shutil.which(tool)]
    assert not missing, f"OpenSC tools missing: {missing}; install opensc (./dev.sh does that)"
    assert PKCS11_MODULE.is_file(), f"OpenSC's PKCS#11 module is not at {PKCS11_MODULE}"


def run(argv: Sequence[str | Path], *, timeout: float = 60.0, stdin: str | None = None) -> ToolRun:
    """Run a tool to completion without a terminal and capture what it printed."""
    arguments = tuple(str(argument) for argument in argv)
    completed = subprocess.run(
        arguments,
        input=stdin,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )
    return ToolRun(arguments, completed.returncode, completed.stdout, completed.stderr)


def sc_hsm_tool_argv(reader: str, *arguments: str | Path) -> list[str]:
    """``sc-hsm-tool --reader READER ...``: the tool talks only to our reader."""
    return [SC_HSM_TOOL, "--reader", reader, *(str(argument) for argument in arguments)]


def sc_hsm_tool(reader: str, *arguments: str | Path, timeout: float = 60.0) -> ToolRun:
    """Run ``sc-hsm-tool`` on the card in ``reader``."""
    return run(sc_hsm_tool_argv(reader, *arguments), timeout=timeout)


def pkcs11_tool(*arguments: str | Path, timeout: float = 60.0) -> ToolRun:
    """Run ``pkcs11-tool`` with OpenSC's module.

    pkcs11-tool uses the first slot with a token; vpcd's second reader is empty in
    these tests, so that is the card in the first one.
    """
    return run([PKCS11_TOOL, "--module", PKCS11_MODULE, *arguments], timeout=timeout)


def pkcs15_tool(reader: str, *arguments: str | Path, timeout: float = 60.0) -> ToolRun:
    """Run ``pkcs15-tool --reader READER ...``."""
    return run([PKCS15_TOOL, "--reader", reader, *arguments], timeout=timeout)


# --- sc-hsm-tool's status screen ----------------------------------------------------

_KCV_LINE = re.compile(r"^DKEK key check value\s*:\s*([0-9A-Fa-f]{16})\s*$", re.MULTILINE)
_SHARES_LINE = re.compile(r"^DKEK shares\s*:\s*(\d+)\s*$", re.MULTILINE)
_PENDING_LINE = re.compile(r"DKEK import pending, (\d+) share\(s\) still missing")
_USER_PIN_LINE = re.compile(r"^User PIN tries left\s*:\s*(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class HsmStatus:
    """What ``sc-hsm-tool`` (no action) printed about the card."""

    initialised: bool
    user_pin_tries: int | None
    dkek_shares: int | None
    shares_missing: int | None
    kcv: bytes | None


def parse_status(text: str) -> HsmStatus:
    """Read sc-hsm-tool's status screen (``print_info``)."""
    kcv = _KCV_LINE.search(text)
    shares = _SHARES_LINE.search(text)
    pending = _PENDING_LINE.search(text)
    tries = _USER_PIN_LINE.search(text)
    return HsmStatus(
        initialised="never been initialized" not in text and "Version" in text,
        user_pin_tries=int(tries.group(1)) if tries else None,
        dkek_shares=int(shares.group(1)) if shares else None,
        shares_missing=int(pending.group(1)) if pending else None,
        kcv=bytes.fromhex(kcv.group(1)) if kcv else None,
    )


# --- n-of-m password shares -------------------------------------------------------

_SCREEN = re.compile(
    r"Prime\s*:\s*(?P<prime>[0-9a-f:]+)\s*\r?\n"
    r"Share ID\s*:\s*(?P<id>\d+)\s*\r?\n"
    r"Share value\s*:\s*(?P<value>[0-9a-f:]+)",
)


@dataclass(frozen=True)
class PrintedShare:
    """One share screen as sc-hsm-tool printed it (the texts, not parsed numbers)."""

    prime: str
    share_id: str
    value: str


def parse_share_screens(output: str) -> list[PrintedShare]:
    """The Prime / Share ID / Share value screens of ``--create-dkek-share`` with n-of-m."""
    return [
        PrintedShare(match["prime"], match["id"], match["value"])
        for match in _SCREEN.finditer(output)
    ]


@dataclass
class PressEnter:
    """A pty responder that presses Enter once for every ``<enter>`` prompt."""

    answered: int = 0

    def __call__(self, text: str) -> str | None:
        prompts = text.lower().count("<enter>")
        if prompts > self.answered:
            self.answered = prompts
            return "\n"
        return None


@dataclass
class PromptScript:
    """A pty responder that answers a fixed sequence of prompts, in order.

    Each step is (prompt text, answer); the prompt is looked for (case-insensitively)
    after the previous one, so a prompt shown again is answered again.
    """

    steps: Sequence[tuple[str, str]]
    answered: int = 0
    _position: int = 0

    @property
    def finished(self) -> bool:
        return self.answered == len(self.steps)

    def __call__(self, text: str) -> str | None:
        if self.finished:
            return None
        prompt, answer = self.steps[self.answered]
        found = text.lower().find(prompt.lower(), self._position)
        if found < 0:
            return None
        self._position = found + len(prompt)
        self.answered += 1
        return answer


def share_entry_script(prime: str, shares: Sequence[tuple[str, str]]) -> PromptScript:
    """The answers ``--import-dkek-share F --pwd-shares-total N`` asks for: prime, then
    for each share Enter, its ID and its value."""
    steps = [("enter prime:", prime + "\n")]
    for share_id, value in shares:
        steps += [
            ("<enter>", "\n"),
            ("enter share id:", share_id + "\n"),
            ("enter share value:", value + "\n"),
        ]
    return PromptScript(steps)


# --- pkcs11-tool and pkcs15-tool listings -----------------------------------------

_OBJECT_HEADER = re.compile(
    r"^(?P<class>Private Key|Public Key|Certificate|Data|Secret Key) Object"
    r"(?:;\s*(?P<type>[A-Z][A-Z0-9_]*)\b)?",
)


@dataclass
class Pkcs11Object:
    """One object of ``pkcs11-tool --list-objects``."""

    object_class: str
    key_type: str | None
    label: str | None = None
    id: str | None = None
    usage: str | None = None


def parse_pkcs11_objects(text: str) -> list[Pkcs11Object]:
    """The objects pkcs11-tool lists (class, key type, label, ID as lowercase hex)."""
    objects: list[Pkcs11Object] = []
    current: Pkcs11Object | None = None
    for line in text.splitlines():
        header = _OBJECT_HEADER.match(line)
        if header:
            current = Pkcs11Object(header["class"], header["type"])
            objects.append(current)
            continue
        if current is None or not line.startswith(" "):
            if line and not line.startswith(" "):
                current = None
            continue
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "label":
            current.label = value
        elif key == "ID":
            current.id = value.lower()
        elif key == "Usage":
            current.usage = value
    return objects


_PKCS15_KEY_HEADER = re.compile(
    r"^Private (?P<type>RSA|EC|GOSTR3410|EDDSA|XEDDSA) Key \[(?P<label>.*)\]"
)


@dataclass
class Pkcs15Key:
    """One private key of ``pkcs15-tool --list-keys``."""

    key_type: str
    label: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str | None:
        value = self.fields.get("ID")
        return None if value is None else value.lower()


def parse_pkcs15_keys(text: str) -> list[Pkcs15Key]:
    """The private keys pkcs15-tool lists, with their ``Name : value`` fields."""
    keys: list[Pkcs15Key] = []
    current: Pkcs15Key | None = None
    for line in text.splitlines():
        header = _PKCS15_KEY_HEADER.match(line)
        if header:
            current = Pkcs15Key(header["type"], header["label"])
            keys.append(current)
            continue
        if current is not None and ":" in line and line[:1].isspace():
            name, _, value = line.strip().partition(":")
            current.fields.setdefault(name.strip(), value.strip())
        elif not line.strip():
            continue
        else:
            current = None
    return keys


def pkcs15_key_reference(key: Pkcs15Key) -> int:
    """The card key reference (``CCxx`` low byte) pkcs15-tool shows as ``Key ref : 1 (0x01)``."""
    text = key.fields.get("Key ref")
    assert text is not None, f"pkcs15-tool shows no key reference for {key.label!r}: {key.fields}"
    return int(text.split()[0])


# --- signing and public keys through PKCS#11 --------------------------------------

ECDSA_SHA256 = "ECDSA-SHA256"
SHA256_RSA_PKCS = "SHA256-RSA-PKCS"


def pkcs11_sign(
    directory: Path, key_id: bytes, mechanism: str, message: bytes, *, pin: str = USER_PIN
) -> tuple[ToolRun, bytes | None]:
    """Sign ``message`` with the key of CKA_ID ``key_id``; ECDSA signatures come as DER.

    Returns the run and the signature (``None`` if the tool wrote none).
    """
    message_path = directory / "message.bin"
    signature_path = directory / "signature.bin"
    message_path.write_bytes(message)
    signature_path.unlink(missing_ok=True)
    arguments: list[str | Path] = [
        "--login", "--pin", pin, "--sign", "--id", key_id.hex(), "-m", mechanism,
        "-i", message_path, "-o", signature_path,
    ]  # fmt: skip
    if mechanism.startswith("ECDSA"):
        arguments += ["--signature-format", "openssl"]
    result = pkcs11_tool(*arguments)
    signature = signature_path.read_bytes() if signature_path.exists() else None
    message_path.unlink(missing_ok=True)
    signature_path.unlink(missing_ok=True)
    return result, signature


def pkcs11_public_key(directory: Path, key_id: bytes) -> tuple[ToolRun, bytes | None]:
    """``--read-object --type pubkey --id``: the public key as DER SubjectPublicKeyInfo."""
    path = directory / "public-key.der"
    path.unlink(missing_ok=True)
    result = pkcs11_tool("--read-object", "--type", "pubkey", "--id", key_id.hex(), "-o", path)
    data = path.read_bytes() if path.exists() else None
    path.unlink(missing_ok=True)
    return result, data


def self_signed_certificate(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, common_name: str
) -> x509.Certificate:
    """A minimal self-signed X.509 certificate for a host key (valid for a day)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


# --- simulated cards and our own session over PC/SC -----------------------------


@dataclass(frozen=True)
class InsertedCard:
    """A simulated SmartCard-HSM sitting in a vpcd reader."""

    reader: str
    card: SmartCardHsmSimulator
    bridge: VpcdBridge


@contextmanager
def inserted_simulator(pcscd: PcscdHarness, seed: bytes | None = None) -> Iterator[InsertedCard]:
    """A blank simulated card in vpcd's first reader for the span of the block.

    The second reader stays empty, so pkcs11-tool's "first slot with a token" is this card.
    """
    card = SmartCardHsmSimulator(seed=seed)
    with pcscd.inserted(card) as (reader, bridge):
        yield InsertedCard(reader, card, bridge)


@contextmanager
def hsm_session(reader: str) -> Iterator[SmartCardHsm]:
    """Open our :class:`SmartCardHsm` session over :class:`PcscTransport`, closed afterwards.

    Keep it short: the tools and our session share the card, and each re-selects the
    applet (which logs the other out).
    """
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.pcsc import PcscTransport

    transport = PcscTransport(reader)
    try:
        yield SmartCardHsm.open(transport)
    finally:
        transport.close()
