"""Helpers of the hostile-card tests: the base card, every operation the session sends,
the malformations tried, and a runner that proves an operation ends (typed error or
valid result) within a time limit.

The base card is the demo card (keys, certificates, key domains, a CA certificate and a
data object), built in memory once per process; every case runs on a deep copy, wrapped
in a :class:`~keymanager.simulator.hostile.HostileCard`, through the real
:class:`~keymanager.card.transport.LocalTransport` and
:class:`~keymanager.card.hsm.SmartCardHsm`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.cvc import DeviceCertificate
from keymanager.card.errors import CardError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import (
    Algorithm,
    AppletInfo,
    EcKeySpec,
    InitParams,
    KeyDomainSlot,
    KeyDomainStatus,
    PinStatus,
)
from keymanager.card.keystore import CaCertificateInfo, DataObjectInfo, KeyInfo, KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import MINIMUM_BLOB_LENGTH, encode_key
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import (
    DEMO_DOMAIN1_SHARES,
    DEMO_PIN,
    DEMO_SEED,
    DEMO_SHARES,
    DEMO_SO_PIN,
    populate_demo_card,
)
from keymanager.simulator.hostile import HostileCard, Malformation, Rule, Target
from keymanager.workflows.outline import NodeKind, Outline, read_outline

CASE_TIMEOUT = 10.0
"""Seconds one operation may take on a hostile card before the test calls it a hang."""

KEY_RSA = 1
KEY_P256 = 2
KEY_BRAINPOOL = 3
KEY_P384 = 4


@functools.cache
def base_card() -> SmartCardHsmSimulator:
    """The demo card, built once per process (in memory; copy it before use)."""
    simulator = SmartCardHsmSimulator(seed=DEMO_SEED)
    populate_demo_card(simulator)
    return simulator


@functools.cache
def host_blob() -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """A P-256 key blob under domain 0's DKEK, and its public key (for UNWRAP)."""
    scalar = int.from_bytes(hashlib.sha256(b"hostile unwrap key").digest(), "big")
    key = ec.derive_private_key(scalar % (2**250) + 1, ec.SECP256R1())
    blob = encode_key(Dkek.from_shares(DEMO_SHARES), key, randomize=bytes(8))
    return blob, key.public_key()


class ShortTransport(LocalTransport):
    """A reader without extended length: long answers come as 61xx + GET RESPONSE."""

    @property
    def supports_extended_length(self) -> bool:
        return False


# --- operations -------------------------------------------------------------------------


Prepare = Callable[[SmartCardHsm], None]


@dataclass(frozen=True)
class Operation:
    """A public operation and the command (INS, P1P2) it sends that the card will break.

    ``run`` gets the open session (and the transport, to reopen); ``valid`` judges a
    result the operation returned despite the malformation.
    """

    name: str
    command: str
    target: Target
    run: Callable[[SmartCardHsm, LocalTransport], object]
    valid: Callable[[object], bool]
    prepare: Prepare | None = None
    short: bool = False


def _verify(hsm: SmartCardHsm) -> None:
    hsm.verify_pin(DEMO_PIN)


def _none(result: object) -> bool:
    return result is None


def _is(kind: type | tuple[type, ...]) -> Callable[[object], bool]:
    return lambda result: isinstance(result, kind)


def _list_of(kind: type) -> Callable[[object], bool]:
    return lambda result: isinstance(result, list) and all(isinstance(i, kind) for i in result)


def _fids(result: object) -> bool:
    return isinstance(result, list) and all(isinstance(i, int) and 0 <= i <= 0xFFFF for i in result)


def _file(result: object) -> bool:
    return isinstance(result, bytes) and len(result) <= 0xFFFF


def _nonempty(result: object) -> bool:
    return isinstance(result, bytes) and len(result) > 0


def _challenge(result: object) -> bool:
    return isinstance(result, bytes) and len(result) == 32


def _blob(result: object) -> bool:
    """The session checks only the length (a blob's header is the caller's to read)."""
    return isinstance(result, bytes) and len(result) >= MINIMUM_BLOB_LENGTH


def _slots(result: object) -> bool:
    return _list_of(KeyDomainSlot)(result) and len(result) <= 256  # type: ignore[arg-type]


def _status_or_none(result: object) -> bool:
    return result is None or isinstance(result, KeyDomainStatus)


def _load_certificate(hsm: SmartCardHsm, _transport: LocalTransport) -> object:
    store = KeyStore(hsm)
    key = next(k for k in store.list_keys() if k.key_reference == KEY_BRAINPOOL)
    return store.load_certificate(key)


def _import_wrapped(hsm: SmartCardHsm, _transport: LocalTransport) -> object:
    blob, public = host_blob()
    return KeyStore(hsm).import_wrapped_key(blob, label="hostile import", public_key=public)


def _peer_point() -> bytes:
    scalar = int.from_bytes(hashlib.sha256(b"hostile ecdh peer").digest(), "big")
    peer = ec.derive_private_key(scalar % (2**300) + 1, ec.SECP384R1())
    from cryptography.hazmat.primitives import serialization

    return peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _init_params() -> InitParams:
    return InitParams(user_pin=DEMO_PIN, so_pin=DEMO_SO_PIN, dkek_shares=0, key_domains=2)


def _t(ins: int, p1p2: int | None = None) -> Target:
    return Target(ins=ins, p1p2=p1p2)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "SmartCardHsm.open",
        "SELECT",
        _t(0xA4),
        lambda _hsm, transport: SmartCardHsm.open(transport).info,
        _is(AppletInfo),
    ),
    Operation(
        "pin_status",
        "VERIFY (status)",
        _t(0x20, 0x0081),
        lambda h, _t: h.pin_status(),
        _is(PinStatus),
    ),
    Operation(
        "so_pin_status",
        "VERIFY (SO-PIN status)",
        _t(0x20, 0x0088),
        lambda h, _t: h.so_pin_status(),
        _is(PinStatus),
    ),
    Operation(
        "verify_pin", "VERIFY", _t(0x20, 0x0081), lambda h, _t: h.verify_pin(DEMO_PIN), _none
    ),
    Operation(
        "change_pin",
        "CHANGE REFERENCE DATA",
        _t(0x24, 0x0081),
        lambda h, _t: h.change_pin(DEMO_PIN, DEMO_PIN),
        _none,
    ),
    Operation(
        "change_so_pin",
        "CHANGE REFERENCE DATA (SO-PIN)",
        _t(0x24, 0x0088),
        lambda h, _t: h.change_so_pin(DEMO_SO_PIN, DEMO_SO_PIN),
        _none,
    ),
    Operation(
        "reset_retry_counter",
        "RESET RETRY COUNTER",
        _t(0x2C),
        lambda h, _t: h.reset_retry_counter(DEMO_SO_PIN),
        _none,
    ),
    Operation(
        "initialize", "INITIALIZE", _t(0x50), lambda h, _t: h.initialize(_init_params()), _none
    ),
    Operation(
        "key_domain_status",
        "MANAGE KEY DOMAIN (status)",
        _t(0x52, 0x0000),
        lambda h, _t: h.key_domain_status(0),
        _status_or_none,
    ),
    Operation(
        "key_domains", "MANAGE KEY DOMAIN (status)", _t(0x52), lambda h, _t: h.key_domains(), _slots
    ),
    Operation(
        "import_dkek_share",
        "MANAGE KEY DOMAIN (import share)",
        _t(0x52, 0x0001),
        lambda h, _t: h.import_dkek_share(DEMO_DOMAIN1_SHARES[1], 1),
        _is(KeyDomainStatus),
        prepare=_verify,
    ),
    Operation(
        "create_dkek_domain",
        "MANAGE KEY DOMAIN (create)",
        _t(0x52, 0x0102),
        lambda h, _t: h.create_dkek_domain(2, 1),
        _is(KeyDomainStatus),
        prepare=_verify,
    ),
    Operation(
        "delete_kek",
        "MANAGE KEY DOMAIN (delete KEK)",
        _t(0x52, 0x0401),
        lambda h, _t: h.delete_kek(1),
        _status_or_none,
        prepare=_verify,
    ),
    Operation(
        "delete_key_domain",
        "MANAGE KEY DOMAIN (delete)",
        _t(0x52, 0x0301),
        lambda h, _t: h.delete_key_domain(1),
        _none,
        prepare=_verify,
    ),
    Operation(
        "enumerate_objects",
        "ENUMERATE OBJECTS",
        _t(0x58),
        lambda h, _t: h.enumerate_objects(),
        _fids,
    ),
    Operation(
        "read_file(EF.TokenInfo)",
        "READ BINARY",
        _t(0xB1, 0x2F03),
        lambda h, _t: h.read_file(0x2F03),
        _file,
    ),
    Operation(
        "read_file(missing)",
        "READ BINARY (error path)",
        _t(0xB1, 0xCF7F),
        lambda h, _t: h.read_file(0xCF7F),
        _file,
    ),
    Operation(
        "read_file (short APDUs)",
        "READ BINARY",
        _t(0xB1, 0x2F02),
        lambda h, _t: h.read_file(0x2F02),
        _file,
        short=True,
    ),
    Operation(
        "device_certificate",
        "READ BINARY (EF 2F02)",
        _t(0xB1, 0x2F02),
        lambda h, _t: h.device_certificate(),
        _is(DeviceCertificate),
    ),
    Operation(
        "write_file",
        "UPDATE BINARY",
        _t(0xD7),
        lambda h, _t: h.write_file(0xCF02, b"hostile card test data" * 3),
        _none,
        prepare=_verify,
    ),
    Operation(
        "delete_file",
        "DELETE FILE",
        _t(0xE4),
        lambda h, _t: h.delete_file(0xCF01),
        _none,
        prepare=_verify,
    ),
    Operation(
        "get_challenge", "GET CHALLENGE", _t(0x84), lambda h, _t: h.get_challenge(32), _challenge
    ),
    Operation(
        "KeyStore.generate_key",
        "GENERATE ASYMMETRIC KEY PAIR",
        _t(0x46),
        lambda h, _t: KeyStore(h).generate_key(EcKeySpec("secp256r1"), "hostile"),
        _is(KeyInfo),
        prepare=_verify,
    ),
    Operation(
        "generate_aes_key",
        "GENERATE SYMMETRIC KEY",
        _t(0x48),
        lambda h, _t: h.generate_aes_key(0x20, 128),
        _none,
        prepare=_verify,
    ),
    Operation(
        "wrap_key", "WRAP KEY", _t(0x72), lambda h, _t: h.wrap_key(KEY_P256), _blob, prepare=_verify
    ),
    Operation(
        "wrap_key (short APDUs)",
        "GET RESPONSE",
        _t(0xC0),
        lambda h, _t: h.wrap_key(KEY_P384),
        _blob,
        prepare=_verify,
        short=True,
    ),
    Operation(
        "KeyStore.import_wrapped_key",
        "UNWRAP KEY",
        _t(0x74),
        _import_wrapped,
        _is(KeyInfo),
        prepare=_verify,
    ),
    Operation(
        "sign",
        "SIGN",
        _t(0x68),
        lambda h, _t: h.sign(KEY_P256, Algorithm.ECDSA_SHA256, b"hostile"),
        _nonempty,
        prepare=_verify,
    ),
    Operation(
        "ecdh",
        "DECIPHER (ECDH)",
        _t(0x62),
        lambda h, _t: h.ecdh(KEY_P384, _peer_point()),
        _nonempty,
        prepare=_verify,
    ),
    Operation(
        "KeyStore.list_keys",
        "ENUMERATE OBJECTS",
        _t(0x58),
        lambda h, _t: KeyStore(h).list_keys(),
        _list_of(KeyInfo),
    ),
    Operation(
        "KeyStore.list_keys",
        "READ BINARY (PRKD)",
        _t(0xB1, 0xC402),
        lambda h, _t: KeyStore(h).list_keys(),
        _list_of(KeyInfo),
    ),
    Operation(
        "KeyStore.load_certificate",
        "READ BINARY (certificate)",
        _t(0xB1, 0xCE03),
        _load_certificate,
        _is(KeyInfo),
    ),
    Operation(
        "KeyStore.list_ca_certificates",
        "READ BINARY (CA certificate)",
        _t(0xB1, 0xCA00),
        lambda h, _t: KeyStore(h).list_ca_certificates(),
        _list_of(CaCertificateInfo),
    ),
    Operation(
        "KeyStore.list_data_objects",
        "READ BINARY (data object description)",
        _t(0xB1, 0xC901),
        lambda h, _t: KeyStore(h).list_data_objects(),
        _list_of(DataObjectInfo),
    ),
    Operation(
        "read_outline",
        "READ BINARY (every file)",
        _t(0xB1),
        lambda h, _t: read_outline(h),
        _is(Outline),
    ),
    Operation(
        "read_outline",
        "MANAGE KEY DOMAIN (status)",
        _t(0x52),
        lambda h, _t: read_outline(h),
        _is(Outline),
    ),
    Operation(
        "read_outline", "VERIFY (status)", _t(0x20), lambda h, _t: read_outline(h), _is(Outline)
    ),
)
"""Every command the session sends, each through at least one public operation."""


# --- malformations ----------------------------------------------------------------------

ALWAYS_AN_ERROR = (
    "cut:0",
    "cut:1",
    "loop:61",
    "sw:6F00",
    "sw:1234",
    "sw:0000",
    "sw:FFFF",
    "sw:9F10",
    "long:70000",
)
"""Malformations no operation can survive: each must give a typed error."""

MALFORMATIONS: tuple[str, ...] = (
    *ALWAYS_AN_ERROR,
    "cut:2",
    "cut:3",
    "empty",
    "sw:9000",
    "sw:6C10",
    "sw:6C00",
    "sw:6110",
    "sw:6100",
    "sw:63C2",
    "sw:63C0",
    "sw:6283",
    "sw:6A88",
    "sw:6982",
    "sw:6985",
    "sw:6D00",
    "sw:6B00",
    "sw:6700",
    "sw:9001",
    "sw:6282",
    "sw+data:6282",
    "sw+data:6B00",
    "sw+data:63C1",
    "sw+data:6F00",
    "sw+data:6110",
    "tlv:overrun",
    "tlv:under",
    "tlv:indefinite",
    "tlv:65535",
    "tlv:4g",
    "tlv:84",
    "tlv:85",
    "tlv:89",
    "tlv:ff",
    "tlv:tag-only",
    "tlv:zero-tag",
    "tlv2:overrun",
    "tlv2:indefinite",
    "tlv2:4g",
    "tlv2:under",
    "long:65536",
    "long:300",
    "full",
    "garbage:1",
    "garbage:7",
    "garbage:64",
    "garbage:1000",
    "flip:0",
    "flip:1",
    "wrong:x509",
    "wrong:cvc",
    "wrong:cv-request",
    "wrong:prkd",
    "wrong:status",
    "wrong:fcp",
    "wrong:fids",
    "loop:6c",
)
"""The malformations every operation meets (plus a truncation at every length)."""


def malformation(text: str) -> Malformation:
    name, _, argument = text.partition(":")
    return Malformation(name, argument)


# --- running one case -------------------------------------------------------------------


@dataclass
class Outcome:
    """How one operation ended on a hostile card."""

    result: object = None
    error: BaseException | None = None
    finished: bool = False
    replaced: int = 0
    apdus: int = 0
    real_lengths: list[int] = field(default_factory=list)

    @property
    def typed(self) -> bool:
        return isinstance(self.error, CardError)


def open_case(
    operation: Operation, *, card: SmartCardHsmSimulator | None = None
) -> tuple[HostileCard, LocalTransport, SmartCardHsm]:
    """A fresh copy of the base card, wrapped, opened and prepared (rules still off)."""
    simulator = copy.deepcopy(card or base_card())
    hostile = HostileCard(simulator)
    transport_class = ShortTransport if operation.short else LocalTransport
    transport = transport_class(hostile, name="Hostile simulated card")
    hsm = SmartCardHsm.open(transport)
    if operation.prepare is not None:
        operation.prepare(hsm)
    return hostile, transport, hsm


def run_bounded(function: Callable[[], object], timeout: float = CASE_TIMEOUT) -> Outcome:
    """Run ``function`` on a thread; the outcome says whether it ended within ``timeout``."""
    outcome = Outcome()

    def target() -> None:
        try:
            outcome.result = function()
        except BaseException as error:  # judged by the caller
            outcome.error = error
        outcome.finished = True

    thread = threading.Thread(target=target, name="hostile case", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome


def run_case(operation: Operation, rule: Rule | str) -> Outcome:
    """Run ``operation`` once with ``rule`` active (a spec text or a :class:`Rule`)."""
    hostile, transport, hsm = open_case(operation)
    if isinstance(rule, str):
        hostile.set_rules(rule)
    else:
        hostile.set_rules([rule])
    outcome = run_bounded(lambda: operation.run(hsm, transport))
    outcome.replaced = hostile.log.replaced
    outcome.apdus = hostile.log.apdus
    return outcome


def real_response_lengths(operation: Operation) -> list[int]:
    """The data lengths of the real responses the operation's target command gets."""
    hostile, transport, hsm = open_case(operation)
    lengths: list[int] = []
    original = hostile.simulator.process_apdu

    def recording(apdu: bytes) -> bytes:
        response = original(apdu)
        if operation.target.selects(apdu):
            lengths.append(max(0, len(response) - 2))
        return response

    hostile.simulator.process_apdu = recording  # type: ignore[method-assign]
    with contextlib.suppress(CardError):  # an error path (a missing file): lengths are known
        operation.run(hsm, transport)
    return lengths


def judge(operation: Operation, text: str, outcome: Outcome) -> str | None:
    """``None`` if the outcome is acceptable, else what is wrong with it."""
    where = f"{operation.name} [{operation.command}] with {text}"
    if not outcome.finished:
        return f"{where}: no answer within {CASE_TIMEOUT} s (hang)"
    if outcome.error is not None:
        if not outcome.typed:
            return f"{where}: untyped {type(outcome.error).__name__}: {outcome.error}"
        return None
    try:
        valid = operation.valid(outcome.result)
    except Exception as error:  # the validity check itself refused the result
        return f"{where}: returned an invalid result ({type(error).__name__}: {error})"
    if not valid:
        return f"{where}: returned an invalid result {outcome.result!r:.200}"
    if text in ALWAYS_AN_ERROR and outcome.replaced:
        if isinstance(outcome.result, Outline):
            if not outline_reports_problem(outcome.result):
                return f"{where}: the outline does not show that something failed"
            return None
        return f"{where}: returned {outcome.result!r:.100} instead of raising"
    return None


def reports_problem(result: object) -> bool:
    """Whether a returned listing or outline shows the user that something was unreadable."""
    if isinstance(result, Outline):
        return outline_reports_problem(result)
    if isinstance(result, KeyInfo | CaCertificateInfo | DataObjectInfo):
        return bool(result.problems)
    if isinstance(result, list):
        return any(reports_problem(item) for item in result)
    return False


def outline_reports_problem(outline: Outline) -> bool:
    """Whether the outline tells the user something could not be read."""
    for node in outline.nodes():
        if node.kind is NodeKind.NOTICE:
            return True
        for detail in node.details:
            if detail.label == "Problem" or "could not be read" in detail.value:
                return True
    return False
