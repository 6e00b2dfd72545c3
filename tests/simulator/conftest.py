"""Helpers for the simulator tests: a card driven through LocalTransport + ApduConnection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, utils

from keymanager.card.apdu import LE_MAX, ApduConnection, CommandApdu
from keymanager.card.transport import LocalTransport
from keymanager.dkek.curves import SUPPORTED_CURVES, CurveParameters, curve_by_name
from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from keymanager.simulator import AID, SmartCardHsmSimulator

SO_PIN = bytes.fromhex("3537363231383830")
USER_PIN = b"648219"
RSA_OID = bytes.fromhex("04007F00070202020102")
ECDSA_OID = bytes.fromhex("04007F00070202020203")


class Card:
    """A simulator plus the project's own APDU connection to it."""

    def __init__(self, simulator: SmartCardHsmSimulator) -> None:
        self.sim = simulator
        self.transport = LocalTransport(simulator)
        self.conn = ApduConnection(self.transport)

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
    ) -> tuple[bytes, int]:
        response = self.conn.transmit(CommandApdu(cla, ins, p1, p2, data, le))
        return response.data, response.sw

    def raw(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.sim.process_apdu(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    def select(self) -> bytes:
        data, sw = self.send(0x00, 0xA4, 0x04, 0x00, AID, LE_MAX)
        assert sw == 0x9000
        return data

    def initialise(
        self,
        *,
        shares: int | None = None,
        slots: int | None = None,
        options: int = 0x0001,
        retries: int = 3,
        pin: bytes = USER_PIN,
        so_pin: bytes = SO_PIN,
    ) -> int:
        data = (
            encode_tlv(0x80, options.to_bytes(2, "big"))
            + encode_tlv(0x81, pin)
            + encode_tlv(0x82, so_pin)
            + encode_tlv(0x91, bytes([retries]))
        )
        if shares is not None:
            data += encode_tlv(0x92, bytes([shares]))
        if slots is not None:
            data += encode_tlv(0x97, bytes([slots]))
        return self.send(0x80, 0x50, 0x00, 0x00, data)[1]

    def verify(self, pin: bytes | None = USER_PIN) -> int:
        return self.send(0x00, 0x20, 0x00, 0x81, pin or b"")[1]

    def domain(self, p1: int = 0, domain: int = 0, data: bytes = b"") -> tuple[bytes, int]:
        return self.send(0x80, 0x52, p1, domain, data, LE_MAX)

    def read(self, fid: int, offset: int = 0, le: int = 65536) -> tuple[bytes, int]:
        return self.send(
            0x00, 0xB1, fid >> 8, fid & 0xFF, encode_tlv(0x54, offset.to_bytes(2, "big")), le
        )

    def write(self, fid: int, content: bytes, offset: int = 0) -> int:
        data = encode_tlv(0x54, offset.to_bytes(2, "big")) + encode_tlv(0x53, content)
        return self.send(0x00, 0xD7, fid >> 8, fid & 0xFF, data)[1]

    def delete(self, fid: int) -> int:
        return self.send(0x00, 0xE4, 0x02, 0x00, fid.to_bytes(2, "big"))[1]

    def enumerate(self) -> list[int]:
        data, sw = self.send(0x80, 0x58, 0x00, 0x00, le=LE_MAX)
        assert sw == 0x9000
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]

    def generate(self, kid: int, body: bytes) -> tuple[bytes, int]:
        return self.send(0x00, 0x46, kid, 0x00, body, LE_MAX)

    def sign(self, kid: int, algorithm: int, data: bytes) -> tuple[bytes, int]:
        return self.send(0x80, 0x68, kid, algorithm, data, LE_MAX)

    def decipher(self, kid: int, algorithm: int, data: bytes) -> tuple[bytes, int]:
        return self.send(0x80, 0x62, kid, algorithm, data, LE_MAX)

    def wrap(self, kid: int) -> tuple[bytes, int]:
        return self.send(0x80, 0x72, kid, 0x92, le=LE_MAX)

    def unwrap(self, kid: int, blob: bytes) -> int:
        return self.send(0x80, 0x74, kid, 0x93, blob)[1]


def ec_request_body(curve: CurveParameters, extra: bytes = b"", *, oid: bytes = ECDSA_OID) -> bytes:
    """GAKP data as OpenSC builds it for an EC key (full domain parameters, no 86)."""
    width = curve.field_bytes
    template = (
        encode_tlv(0x06, oid)
        + encode_tlv(0x81, curve.p.to_bytes(width, "big"))
        + encode_tlv(0x82, curve.a.to_bytes(width, "big"))
        + encode_tlv(0x83, curve.b.to_bytes(width, "big"))
        + encode_tlv(0x84, curve.encode_point(curve.generator))
        + encode_tlv(0x85, curve.order.to_bytes(curve.order_bytes, "big"))
        + encode_tlv(0x87, b"\x01")
    )
    return _body(template) + extra


def rsa_request_body(bits: int, extra: bytes = b"") -> bytes:
    """GAKP data as OpenSC builds it for an RSA key."""
    template = (
        encode_tlv(0x06, RSA_OID)
        + encode_tlv(0x82, (65537).to_bytes(3, "big"))
        + encode_tlv(0x02, bits.to_bytes(2, "big"))
    )
    return _body(template) + extra


def _body(template: bytes) -> bytes:
    return (
        encode_tlv(0x5F29, b"\x00")
        + encode_tlv(0x42, b"UTCA00001")
        + encode_tlv(0x7F49, template)
        + encode_tlv(0x5F20, b"UTSIM00000100001")
    )


def tlv_dict(data: bytes) -> dict[bytes, bytes]:
    return {item.tag: item.value for item in iter_tlvs(data)}


@dataclass
class CvRequest:
    """The parts of an authenticated CV request."""

    inner: bytes
    """The 7F21 TLV."""
    body: bytes
    """The 7F4E TLV."""
    body_fields: dict[bytes, bytes]
    public_key: dict[bytes, bytes]
    inner_signature: bytes
    outer_car: bytes
    outer_signature: bytes


def parse_request(request: bytes) -> CvRequest:
    outer = read_tlv(request)
    assert outer.tag == b"\x67" and outer.next_offset == len(request)
    parts = list(iter_tlvs(outer.value))
    assert [p.tag for p in parts] == [b"\x7f\x21", b"\x42", b"\x5f\x37"]
    inner_tlv = encode_tlv(parts[0].tag, parts[0].value)
    inner_parts = list(iter_tlvs(parts[0].value))
    assert [p.tag for p in inner_parts] == [b"\x7f\x4e", b"\x5f\x37"]
    body_fields = tlv_dict(inner_parts[0].value)
    return CvRequest(
        inner=inner_tlv,
        body=encode_tlv(b"\x7f\x4e", inner_parts[0].value),
        body_fields=body_fields,
        public_key=tlv_dict(body_fields[b"\x7f\x49"]),
        inner_signature=inner_parts[1].value,
        outer_car=parts[1].value,
        outer_signature=parts[2].value,
    )


def request_curve(request: CvRequest) -> CurveParameters:
    prime = int.from_bytes(request.public_key[b"\x81"], "big")
    for curve in SUPPORTED_CURVES:
        if curve.p == prime and curve.a == int.from_bytes(request.public_key[b"\x82"], "big"):
            return curve
    raise AssertionError("no curve matches")


def plain_to_der(signature: bytes) -> bytes:
    half = len(signature) // 2
    return utils.encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def device_public_key(card: Card) -> ec.EllipticCurvePublicKey:
    """The device key's public key, read from the device CVC in EF 2F02."""
    chain = card.sim.device_certificates()
    device = read_tlv(chain)
    body = tlv_dict(tlv_dict(device.value)[b"\x7f\x4e"])
    point = tlv_dict(body[b"\x7f\x49"])[b"\x86"]
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.BrainpoolP256R1(), point)


def ready_card(
    seed: bytes = b"test",
    *,
    shares: int | None = 1,
    slots: int | None = None,
    hide_kcv_until_login: bool | None = None,
    profile: str = "genuine",
) -> Card:
    card = Card(
        SmartCardHsmSimulator(seed=seed, profile=profile, hide_kcv_until_login=hide_kcv_until_login)
    )
    card.select()
    assert card.initialise(shares=shares, slots=slots) == 0x9000
    assert card.verify() == 0x9000
    return card


@pytest.fixture
def card() -> Iterator[Card]:
    """A fresh, blank, selected simulator."""
    simulator = SmartCardHsmSimulator(seed=b"fixture")
    result = Card(simulator)
    result.select()
    yield result


@pytest.fixture
def p256() -> CurveParameters:
    return curve_by_name("secp256r1")
