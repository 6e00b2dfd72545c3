"""The ``.pka`` file: a custodian's public-key-authentication key, with the proof of its card.

A custodian's key lives on the custodian's own SmartCard-HSM.  The ``.pka`` file carries
its authenticated request (the key's self-signed CV request, signed again by the
custodian device's key) together with that device's certificate chain, so the device
being protected can check, before it registers the key, that a genuine device made it.
Two layouts exist (``../shared/spec/pka-sm-xkek.md``, "PKA"):

* new (Smart Card Shell's Key Manager, written by keymanager)::

    30 { 06 <1.3.6.1.4.1.24991.4.3.1>, 61 { DICA 7F21 }, 62 { device 7F21 }, 63 { 67 … } }

* old (``sc-hsm-tool --export-for-pub-key-auth`` of OpenSC before 0.22)::

    30 { 67 …, 7F21 device, 7F21 DICA }

:meth:`PkaFile.parse` reads both; :meth:`PkaFile.encode` writes the new one.
:meth:`PkaFile.check` verifies the chain (as :class:`~keymanager.card.cvc.DeviceCertificate`
does for any device) and the request's outer signature by the device key.
"""

from __future__ import annotations

from dataclasses import dataclass

from keymanager.card.cvc import (
    CvcError,
    CvCertificate,
    CvRequest,
    DeviceCertificate,
    DeviceIdentity,
)
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs

PKA_FILE_OID = bytes.fromhex("2B0601040181C31F040301")
"""1.3.6.1.4.1.24991.4.3.1, the new ``.pka`` layout's identifier."""


class PkaFileError(CvcError):
    """The file is not a ``.pka`` file, or its parts do not fit together."""


@dataclass(frozen=True)
class PkaFile:
    """A custodian key's authenticated request and its device's certificate chain."""

    request: CvRequest
    device: CvCertificate
    issuer: CvCertificate | None
    old_format: bool = False

    @classmethod
    def parse(cls, data: bytes) -> PkaFile:
        """Read either layout.

        :raises PkaFileError: neither layout, or a part is missing or malformed.
        """
        try:
            items = list(iter_tlvs(data))
            if len(items) != 1 or items[0].tag != b"\x30":
                raise PkaFileError("a .pka file is one SEQUENCE (30)")
            parts = list(iter_tlvs(items[0].value))
        except TlvError as error:
            raise PkaFileError(f"not a .pka file: {error}") from None
        tags = [part.tag for part in parts]
        try:
            if tags[:1] == [b"\x06"]:
                if parts[0].value != PKA_FILE_OID:
                    raise PkaFileError(
                        f"the .pka file names an unknown format ({parts[0].value.hex().upper()})"
                    )
                wrapped = {part.tag: part.value for part in parts[1:]}
                if b"\x62" not in wrapped or b"\x63" not in wrapped:
                    raise PkaFileError("the .pka file lacks the device certificate or the request")
                issuer = CvCertificate.parse(wrapped[b"\x61"]) if b"\x61" in wrapped else None
                return cls(
                    CvRequest.parse(wrapped[b"\x63"]),
                    CvCertificate.parse(wrapped[b"\x62"]),
                    issuer,
                )
            if tags[:1] == [b"\x67"] and len(parts) in (2, 3):
                raw = [encode_tlv(part.tag, part.value) for part in parts]
                issuer = CvCertificate.parse(raw[2]) if len(raw) == 3 else None
                return cls(
                    CvRequest.parse(raw[0]), CvCertificate.parse(raw[1]), issuer, old_format=True
                )
        except PkaFileError:
            raise
        except CvcError as error:
            raise PkaFileError(f"the .pka file holds a malformed certificate: {error}") from None
        raise PkaFileError("the file is neither the old nor the new .pka layout")

    def encode(self) -> bytes:
        """The new layout."""
        body = encode_tlv(0x06, PKA_FILE_OID)
        if self.issuer is not None:
            body += encode_tlv(0x61, self.issuer.raw)
        body += encode_tlv(0x62, self.device.raw) + encode_tlv(0x63, self.request.raw)
        return encode_tlv(0x30, body)

    @property
    def chr(self) -> str:
        """The custodian key's holder reference (what the protected device lists)."""
        return self.request.chr

    @property
    def device_chain(self) -> DeviceCertificate:
        """The custodian device's chain, as EF 2F02 of that device holds it."""
        raw = self.device.raw + (self.issuer.raw if self.issuer is not None else b"")
        return DeviceCertificate(self.device, self.issuer, raw)

    @property
    def device_serial(self) -> str:
        """The custodian device's serial number (its CHR without the last five characters)."""
        return self.device_chain.serial

    def check(self) -> DeviceIdentity:
        """Verify the chain, the outer signature by the device key and the self-signature.

        :raises PkaFileError: any of them fails; the message says which.
        """
        identity = self.device_chain.identity()
        if not identity.verdict.verified:
            raise PkaFileError(
                f"the custodian device's certificate chain does not verify ({identity.text})"
            )
        if self.request.outer_car != self.device.chr:
            raise PkaFileError(
                f"the key's request is signed by {self.request.outer_car or 'nobody'}, not by "
                f"the device in the file ({self.device.chr})"
            )
        if not self.request.verify_outer_signature(
            self.device.public_key, self.device_chain.device_domain()
        ):
            raise PkaFileError("the device's signature on the key's request does not verify")
        if not self.request.public_key.is_ec:
            raise PkaFileError("a public-key-authentication key must be an EC key")
        return identity
