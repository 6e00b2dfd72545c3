"""Key store commands of the simulator: GENERATE (RSA, EC, AES), WRAP and UNWRAP KEY.

:class:`KeyCommands` keeps the key records of the card state and their decoded secrets,
generates key pairs (answering with the device-authenticated certificate request),
AES keys, and exports / imports keys as DKEK-wrapped key blobs.  An EC key whose
allowed algorithms list ``84`` (an XKEK exchange key) must be generated into an XKEK
domain, and its request carries that domain's UID (:mod:`~keymanager.simulator.xkek`).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.dkek import Dkek, kcv_of
from keymanager.dkek.curves import (
    SUPPORTED_CURVES,
    CurveParameters,
    curve_by_cryptography_curve,
    curve_by_name,
    derive_public_point,
)
from keymanager.dkek.errors import KeyBlobError
from keymanager.simulator import cvc
from keymanager.simulator.apdu import CardStatus, Command, tlv_map
from keymanager.simulator.core import (
    CHAIN_CURVE,
    DEVICE_KEY,
    FID_UNWRAP_STAGING,
    SecretKey,
    SimulatorCore,
)
from keymanager.simulator.crypto import cryptography_ec_key, generate_rsa, rsa_from_primes
from keymanager.simulator.state import KeyRecord

if TYPE_CHECKING:
    # the key-blob codec is imported where keys are wrapped: listing keys does not need it
    from keymanager.dkek.keyblob import WrappableKey

_AES_GENERATE = {0xB0: 16, 0xB1: 24, 0xB2: 32}
WRAP_ALGORITHM = 0x92
ALGO_EC_DH_XKEK = 0x84
"""ECDH with a peer's exchange key, deriving an XKEK domain's KEK."""


def _matches_curve(curve: CurveParameters, fields: dict[int, bytes]) -> bool:
    """Whether the explicit domain parameters given (81 … 87) all agree with ``curve``."""
    expected = {
        0x82: curve.a,
        0x83: curve.b,
        0x85: curve.order,
        0x87: curve.cofactor,
    }
    for tag, value in expected.items():
        given = fields.get(tag)
        if given is not None:
            number = int.from_bytes(given, "big")
            if (number % curve.p if tag in (0x82, 0x83) else number) != value:
                return False
    generator = fields.get(0x84)
    return generator is None or generator == curve.encode_point(curve.generator)


class KeyCommands(SimulatorCore):
    """Mixin: key records and INS 46 (GENERATE), 48 (GENERATE AES), 72 (WRAP), 74 (UNWRAP)."""

    def _key_record(self, kid: int) -> KeyRecord:
        record = self.state.keys.get(kid)
        if record is None:
            raise CardStatus(0x6A88)
        return record

    def _secret(self, kid: int, record: KeyRecord) -> SecretKey:
        cached = self._key_cache.get(kid)
        if cached is not None:
            return cached
        secret: SecretKey
        if record.kind == "rsa":
            secret = rsa_from_primes(record.p, record.q, record.e)
        elif record.kind == "ec":
            secret = (curve_by_name(record.curve), record.d)
        else:
            secret = record.secret
        self._key_cache[kid] = secret
        return secret

    def _metadata(
        self, tags: dict[int, bytes], default_algorithms: bytes = b""
    ) -> tuple[bytes, int | None, int | None]:
        """Allowed algorithms, key domain and use counter from tags 91, 92, 90."""
        algorithms = tags.get(0x91, default_algorithms)
        counter_value = tags.get(0x90)
        counter = None
        if counter_value is not None:
            if not 1 <= len(counter_value) <= 4:
                raise CardStatus(0x6A80)
            counter = int.from_bytes(counter_value, "big")
        domains = self.state.key_domains
        domain_value = tags.get(0x92)
        if domain_value is not None:
            if (
                len(domain_value) != 1
                or domains is None
                or domain_value[0] >= len(domains)
                or domains[domain_value[0]] is None
            ):
                raise CardStatus(0x6A80)
            domain: int | None = domain_value[0]
        else:
            domain = 0 if domains and domains[0] is not None else None
        return bytes(algorithms), domain, counter

    def _generate_key_pair(self, command: Command) -> bytes:
        self._require_pin()
        kid = command.p1
        if kid == DEVICE_KEY or command.p2 != 0x00:
            raise CardStatus(0x6A86)
        tags = tlv_map(command.data)
        template = tags.get(0x7F49)
        if template is None:
            raise CardStatus(0x6A80)
        fields = tlv_map(template)
        oid = fields.get(0x06, b"")
        algorithms, domain, counter = self._metadata(tags)
        extensions = self._exchange_key_extension(algorithms, tags, domain, cvc.is_ecdsa_oid(oid))
        car = tags.get(0x42, b"UTCA00001")
        holder = tags.get(0x5F20, b"UTDUMMY00001")
        record: KeyRecord
        secret: SecretKey
        if cvc.is_rsa_oid(oid):
            bits = int.from_bytes(fields.get(0x02, (2048).to_bytes(2, "big")), "big")
            exponent = int.from_bytes(fields.get(0x82, (65537).to_bytes(3, "big")), "big")
            if bits % 256 or not 1024 <= bits <= 4096 or exponent != 65537:
                raise CardStatus(0x6A80)
            key = generate_rsa(bits, exponent, self._rng)
            numbers = key.private_numbers()
            record = KeyRecord(
                kind="rsa", n=numbers.public_numbers.n, e=exponent, p=numbers.p, q=numbers.q
            )
            secret = key
            public_key = cvc.rsa_public_key(key.public_key(), oid=oid)
        elif cvc.is_ecdsa_oid(oid):
            curve = self._generation_curve(fields)
            private_value = self._rng.scalar(curve.order)
            record = KeyRecord(kind="ec", curve=curve.name, d=private_value)
            secret = (curve, private_value)
            point = curve.encode_point(derive_public_point(curve, private_value))
            public_key = cvc.ec_public_key(curve, point, oid=oid, domain=True)
        else:
            raise CardStatus(0x6A80)
        record.algorithms, record.domain, record.use_counter = algorithms, domain, counter
        body = cvc.certificate_body(car, public_key, holder, extensions=extensions)
        inner = cvc.certificate(body, cvc.self_signature(secret, body, oid, self._rng.bytes(16)))
        device_curve = curve_by_name(CHAIN_CURVE)
        device_value = self.state.keys[DEVICE_KEY].d
        extra = self._rng.bytes(16)

        def device_signer(data: bytes) -> bytes:
            return cvc.ecdsa_plain_signature(device_curve, device_value, data, extra=extra)

        request = cvc.authenticated_request(inner, self.device_chr, device_signer)
        self.state.keys[kid] = record
        self._key_cache[kid] = secret
        self.state.files[0xCE00 | kid] = request
        self._changed()
        return request

    def _exchange_key_extension(
        self, algorithms: bytes, tags: dict[int, bytes], domain: int | None, is_ec: bool
    ) -> bytes | None:
        """The ``65`` value of an XKEK exchange key's request (``91`` lists ``84``), else ``None``.

        As Pico's ``cmd_keypair_gen``: the key must be EC and name (``92``) an XKEK
        domain; otherwise ``6A80`` and nothing is generated.
        """
        if ALGO_EC_DH_XKEK not in algorithms:
            return None
        slots = self.state.key_domains or []
        slot = slots[domain] if domain is not None and domain < len(slots) else None
        if not is_ec or 0x92 not in tags or slot is None or not slot.is_xkek:
            raise CardStatus(0x6A80)
        return cvc.key_domain_uid_extension(slot.uid)

    @staticmethod
    def _curve_from_template(fields: dict[int, bytes]) -> CurveParameters:
        prime_value = fields.get(0x81)
        if not prime_value:
            raise CardStatus(0x6A80)
        prime = int.from_bytes(prime_value, "big")
        for curve in SUPPORTED_CURVES:
            if curve.p != prime:
                continue
            if _matches_curve(curve, fields):
                return curve
        raise CardStatus(0x6A81)

    def _generation_curve(self, fields: dict[int, bytes]) -> CurveParameters:
        curve = self._curve_from_template(fields)
        if curve.name == "brainpoolP320r1" and self.profile.brainpool320_unsupported:
            raise CardStatus(0x6A81)
        return curve

    def _generate_aes_key(self, command: Command) -> bytes:
        from keymanager.dkek.keyblob import AES_DEFAULT_ALLOWED_ALGORITHMS

        self._require_pin()
        kid = command.p1
        length = _AES_GENERATE.get(command.p2)
        if kid == DEVICE_KEY or length is None:
            raise CardStatus(0x6A86)
        tags = tlv_map(command.data) if command.data else {}
        algorithms, domain, counter = self._metadata(tags, AES_DEFAULT_ALLOWED_ALGORITHMS)
        self.state.keys[kid] = KeyRecord(
            kind="aes",
            secret=self._rng.bytes(length),
            algorithms=algorithms,
            domain=domain,
            use_counter=counter,
        )
        self._key_cache.pop(kid, None)
        self._changed()
        return b""

    # --- wrap / unwrap --------------------------------------------------------------------

    def _wrap_key(self, command: Command) -> bytes:
        from keymanager.dkek.keyblob import encode_key

        if command.p2 != 0x92:
            raise CardStatus(0x6A86)
        self._require_pin()
        domains = self._domains()
        record = self._key_record(command.p1)
        if record.domain is None or record.domain >= len(domains):
            raise CardStatus(0x6A88)
        domain = domains[record.domain]
        if domain is None or not domain.complete or not self._has_dkek(domain):
            raise CardStatus(0x6A88)
        if (
            self.profile.wrap_enforces_algorithms
            and record.algorithms
            and WRAP_ALGORITHM not in record.algorithms
        ):
            raise CardStatus(0x6985)
        key = self._wrappable(command.p1, record)
        with Dkek.from_value(domain.dkek) as dkek:
            return encode_key(
                dkek, key, allowed_algorithms=record.algorithms, randomize=self._rng.bytes(8)
            )

    def _wrappable(self, kid: int, record: KeyRecord) -> WrappableKey:
        from keymanager.dkek.keyblob import AesKey, EcKeyMaterial

        secret = self._secret(kid, record)
        if isinstance(secret, rsa.RSAPrivateKey):
            return secret
        if isinstance(secret, bytes):
            return AesKey(secret)
        curve, private_value = secret
        key = cryptography_ec_key(curve, private_value)
        if key is not None:
            return key
        return EcKeyMaterial.from_private_value(curve, private_value)

    def _unwrap_key(self, command: Command) -> bytes:
        from keymanager.dkek.keyblob import decode_key, describe_blob

        if command.p2 != 0x93:
            raise CardStatus(0x6A86)
        self._require_pin()
        domains = self._domains()
        kid = command.p1
        if kid == DEVICE_KEY:
            raise CardStatus(0x6A86)
        if kid in self.state.keys:
            raise CardStatus(0x6A89)
        blob = command.data or self.state.files.get(FID_UNWRAP_STAGING, b"")
        try:
            describe_blob(blob)
        except KeyBlobError:
            raise CardStatus(0x6A80) from None
        for index, domain in enumerate(domains):
            if domain is None or not domain.complete or not self._has_dkek(domain):
                continue
            if not hmac.compare_digest(kcv_of(domain.dkek), blob[:8]):
                continue
            try:
                with Dkek.from_value(domain.dkek) as dkek:
                    decoded = decode_key(dkek, blob)
            except KeyBlobError:
                raise CardStatus(0x6A80) from None
            record = self._record_for(decoded.private_key)
            record.algorithms = decoded.allowed_algorithms
            record.domain = index
            self.state.keys[kid] = record
            self._key_cache.pop(kid, None)
            self._changed()
            if record.kind == "ec" and self.profile.ec_unwrap_fails_after_key_file:
                raise CardStatus(0x6400)  # Pico HSM: the key file exists, the command failed
            return b""
        raise CardStatus(0x6A80)

    @staticmethod
    def _record_for(key: WrappableKey) -> KeyRecord:
        from keymanager.dkek.keyblob import EcKeyMaterial

        if isinstance(key, rsa.RSAPrivateKey):
            numbers = key.private_numbers()
            bits = key.key_size
            if bits % 8 or not 1024 <= bits <= 4096:
                raise CardStatus(0x6A80)
            return KeyRecord(
                kind="rsa",
                n=numbers.public_numbers.n,
                e=numbers.public_numbers.e,
                p=numbers.p,
                q=numbers.q,
            )
        if isinstance(key, ec.EllipticCurvePrivateKey):
            curve = curve_by_cryptography_curve(key.curve)
            return KeyRecord(kind="ec", curve=curve.name, d=key.private_numbers().private_value)
        if isinstance(key, EcKeyMaterial):
            return KeyRecord(kind="ec", curve=key.curve.name, d=key.private_value)
        return KeyRecord(kind="aes", secret=key.key)
