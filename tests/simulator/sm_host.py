"""A small host side of secure messaging, written from the spec alone, to test the simulator.

``../shared/spec/pka-sm-xkek.md`` ("Secure messaging"): an ephemeral key on the device
key's curve, MSE SET AT, GENERAL AUTHENTICATE, Kenc/Kmac from SHA-1, the token check, and
the wrapping and unwrapping of APDUs with AES-CBC and AES-CMAC.  It shares no code with
``keymanager.simulator.secure_messaging`` (nor with the card layer's host side), so the
two are checked against each other.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv

OID = bytes.fromhex("04007F00070202030202")
MSE_SET_AT = bytes.fromhex("002241A40C800A") + OID


def pad(data: bytes, *, pico: bool = False) -> bytes:
    """ISO padding; ``pico``: as pypicohsm pads (a whole zero block when 80 aligns)."""
    data += b"\x80"
    if pico:
        return data + bytes(16 - len(data) % 16)
    return data + bytes(-len(data) % 16)


def unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    assert stripped.endswith(b"\x80"), "bad padding"
    return stripped[:-1]


class HostChannel:
    """One channel as the host keeps it."""

    def __init__(self, device_key: ec.EllipticCurvePublicKey) -> None:
        self.device_key = device_key
        self.ephemeral = ec.generate_private_key(device_key.curve)
        self.point = self.ephemeral.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        self.kenc = self.kmac = b""
        self.ssc = 0

    def general_authenticate(self) -> bytes:
        data = encode_tlv(0x7C, encode_tlv(0x80, self.point))
        return bytes([0x00, 0x86, 0x00, 0x00, len(data)]) + data + b"\x00"

    def complete(self, response: bytes) -> None:
        """Derive the keys from the GENERAL AUTHENTICATE answer and check the token."""
        outer = read_tlv(response)
        assert outer.tag == b"\x7c" and outer.next_offset == len(response)
        fields = {item.tag: item.value for item in iter_tlvs(outer.value)}
        nonce, token = fields[b"\x81"], fields[b"\x82"]
        shared = self.ephemeral.exchange(ec.ECDH(), self.device_key)
        self.kenc = hashlib.sha1(shared + nonce + b"\x00\x00\x00\x01").digest()[:16]
        self.kmac = hashlib.sha1(shared + nonce + b"\x00\x00\x00\x02").digest()[:16]
        template = encode_tlv(0x7F49, encode_tlv(0x06, OID) + encode_tlv(0x86, self.point))
        assert self.mac(template) == token, "authentication token"
        self.ssc = 0

    def mac(self, data: bytes) -> bytes:
        c = cmac.CMAC(algorithms.AES(self.kmac))
        c.update(data)
        return c.finalize()[:8]

    def _cipher(self, ssc: bytes) -> Cipher[modes.CBC]:
        ecb = Cipher(algorithms.AES(self.kenc), modes.ECB()).encryptor()
        return Cipher(algorithms.AES(self.kenc), modes.CBC(ecb.update(ssc) + ecb.finalize()))

    def next_ssc(self) -> bytes:
        self.ssc += 1
        return self.ssc.to_bytes(16, "big")

    def wrap_data(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes, le: bytes | None, *, pico: bool
    ) -> bytes:
        """The data field of a protected command (DO87/85, DO97, DO8E)."""
        ssc = self.next_ssc()
        body = b""
        if data or pico:  # pypicohsm always sends a cryptogram
            encryptor = self._cipher(ssc).encryptor()
            cryptogram = encryptor.update(pad(data, pico=pico)) + encryptor.finalize()
            body = (
                encode_tlv(0x85, cryptogram) if ins & 1 else encode_tlv(0x87, b"\x01" + cryptogram)
            )
        if le is not None:
            body += encode_tlv(0x97, le)
        mac_input = ssc + pad(bytes([cla | 0x0C, ins, p1, p2])) + (pad(body) if body else b"")
        return body + encode_tlv(0x8E, self.mac(mac_input))

    def wrap(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes = b"",
        le: bytes | None = b"\x00\x00",
        *,
        pico: bool = False,
        extended: bool = False,
    ) -> bytes:
        """A whole protected APDU (``le``: the value of DO97; outer Le ``00`` / ``0000``)."""
        field = self.wrap_data(cla, ins, p1, p2, data, le, pico=pico)
        header = bytes([cla | 0x0C, ins, p1, p2])
        if extended or len(field) > 255:
            return header + b"\x00" + len(field).to_bytes(2, "big") + field + b"\x00\x00"
        return header + bytes([len(field)]) + field + b"\x00"

    def unwrap(self, data: bytes) -> tuple[bytes, int]:
        """Check and decrypt a protected answer: (plain data, inner SW)."""
        ssc = self.next_ssc()
        objects = list(iter_tlvs(data))
        tags = [item.tag for item in objects]
        assert tags[-2:] == [b"\x99", b"\x8e"] and tags[:-2] in ([], [b"\x87"]), tags
        covered = data[: len(data) - 10]
        assert self.mac(pad(ssc + covered)) == objects[-1].value, "response MAC"
        plain = b""
        if tags[0] == b"\x87":
            assert objects[0].value[0] == 0x01
            decryptor = self._cipher(ssc).decryptor()
            plain = unpad(decryptor.update(objects[0].value[1:]) + decryptor.finalize())
        return plain, int.from_bytes(objects[-2].value, "big")
