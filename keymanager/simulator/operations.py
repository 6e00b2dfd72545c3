"""Private-key operations of the simulator: SIGN (INS ``68``) and DECIPHER / ECDH (``62``).

Algorithm identifiers follow the SmartCard-HSM: RSA raw, PKCS#1 v1.5 (DigestInfo or
hash-and-sign), PSS, ECDSA (raw or hash-and-sign), RSA decryption (raw, PKCS#1, OAEP)
and ECDH.  Each use decrements the key's use counter when it has one.  DECIPHER with
``84`` derives an XKEK domain's KEK (:mod:`~keymanager.simulator.xkek`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from keymanager.simulator.apdu import CardStatus, Command
from keymanager.simulator.core import DEVICE_KEY, SecretKey
from keymanager.simulator.crypto import (
    digest,
    ecdh,
    ecdsa_sign,
    hash_algorithm,
    rsa_private_operation,
)
from keymanager.simulator.keys import ALGO_EC_DH_XKEK, KeyCommands
from keymanager.simulator.state import KeyRecord

ALGO_RSA_RAW = 0x20
ALGO_RSA_DECRYPT_RAW = 0x21
ALGO_RSA_DECRYPT_PKCS1 = 0x22
ALGO_RSA_DECRYPT_OAEP = 0x23
ALGO_RSA_PKCS1_DIGESTINFO = 0x30
ALGO_RSA_PSS = 0x40
ALGO_EC_RAW = 0x70
ALGO_EC_DH = 0x80
_RSA_PKCS1_HASH = {0x31: "sha1", 0x32: "sha224", 0x33: "sha256", 0x34: "sha384", 0x35: "sha512"}
_RSA_PSS_HASH = {0x41: "sha1", 0x42: "sha224", 0x43: "sha256", 0x44: "sha384", 0x45: "sha512"}
_EC_HASH = {0x71: "sha1", 0x72: "sha224", 0x73: "sha256", 0x74: "sha384", 0x75: "sha512"}
_HASH_BY_LENGTH = {20: "sha1", 28: "sha224", 32: "sha256", 48: "sha384", 64: "sha512"}


class KeyOperations(KeyCommands):
    """Mixin: INS 68 (SIGN) and 62 (DECIPHER, ECDH) with the keys of :class:`KeyCommands`."""

    def _usable_key(self, command: Command) -> tuple[KeyRecord, SecretKey]:
        self._require_pin()
        kid = command.p1
        record = self._key_record(kid)
        if kid == DEVICE_KEY:
            raise CardStatus(0x6985)
        if record.algorithms and command.p2 not in record.algorithms:
            raise CardStatus(0x6985)
        if record.use_counter is not None and record.use_counter == 0:
            raise CardStatus(0x6985)
        if not command.data:
            raise CardStatus(0x6700)
        return record, self._secret(kid, record)

    def _used(self, record: KeyRecord) -> None:
        if record.use_counter is not None:
            record.use_counter -= 1
            self._changed()

    def _sign(self, command: Command) -> bytes:
        algorithm = command.p2
        rsa_algorithm = (
            algorithm in (ALGO_RSA_RAW, ALGO_RSA_PKCS1_DIGESTINFO, ALGO_RSA_PSS)
            or algorithm in _RSA_PKCS1_HASH
            or algorithm in _RSA_PSS_HASH
        )
        ec_algorithm = algorithm == ALGO_EC_RAW or algorithm in _EC_HASH
        if not rsa_algorithm and not ec_algorithm:
            raise CardStatus(0x6A86)
        record, secret = self._usable_key(command)
        data = command.data
        if rsa_algorithm:
            if not isinstance(secret, rsa.RSAPrivateKey):
                raise CardStatus(0x6A81)
            signature = self._rsa_sign(secret, algorithm, data)
        else:
            if not isinstance(secret, tuple):
                raise CardStatus(0x6A81)
            curve, private_value = secret
            message_hash = digest(_EC_HASH[algorithm], data) if algorithm in _EC_HASH else data
            if len(message_hash) > 128:
                raise CardStatus(0x6A80)
            r, s = ecdsa_sign(curve, private_value, message_hash, self._rng.bytes(16))
            signature = utils.encode_dss_signature(r, s)
        self._used(record)
        return signature

    def _rsa_sign(self, key: rsa.RSAPrivateKey, algorithm: int, data: bytes) -> bytes:
        size = (key.key_size + 7) // 8
        if algorithm == ALGO_RSA_RAW:
            return self._rsa_raw(key, data)
        if algorithm == ALGO_RSA_PKCS1_DIGESTINFO:
            if len(data) > size - 11:
                raise CardStatus(0x6A80)
            block = b"\x00\x01" + b"\xff" * (size - 3 - len(data)) + b"\x00" + data
            return self._rsa_raw(key, block)
        try:
            if algorithm in _RSA_PKCS1_HASH:
                hash_function = hash_algorithm(_RSA_PKCS1_HASH[algorithm])
                return key.sign(data, padding.PKCS1v15(), hash_function)
            if algorithm == ALGO_RSA_PSS:
                name = _HASH_BY_LENGTH.get(len(data))
                if name is None:
                    raise CardStatus(0x6A80)
                hash_function = hash_algorithm(name)
                return key.sign(
                    data,
                    padding.PSS(padding.MGF1(hash_function), padding.PSS.DIGEST_LENGTH),
                    utils.Prehashed(hash_function),
                )
            hash_function = hash_algorithm(_RSA_PSS_HASH[algorithm])
            return key.sign(
                data,
                padding.PSS(padding.MGF1(hash_function), padding.PSS.DIGEST_LENGTH),
                hash_function,
            )
        except ValueError:
            raise CardStatus(0x6A80) from None

    @staticmethod
    def _rsa_raw(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
        size = (key.key_size + 7) // 8
        value = int.from_bytes(data, "big")
        if len(data) > size or value >= key.private_numbers().public_numbers.n:
            raise CardStatus(0x6A80)
        return rsa_private_operation(key, value).to_bytes(size, "big")

    def _derive_xkek(self, command: Command) -> bytes:
        """DECIPHER ``84``; :class:`~keymanager.simulator.xkek.XkekCommands` implements it."""
        raise CardStatus(0x6A86)

    def _decipher(self, command: Command) -> bytes:
        algorithm = command.p2
        if algorithm == ALGO_EC_DH_XKEK:
            return self._derive_xkek(command)
        if algorithm not in (
            ALGO_RSA_DECRYPT_RAW,
            ALGO_RSA_DECRYPT_PKCS1,
            ALGO_RSA_DECRYPT_OAEP,
            ALGO_EC_DH,
        ):
            raise CardStatus(0x6A86)
        record, secret = self._usable_key(command)
        data = command.data
        if algorithm == ALGO_EC_DH:
            if not isinstance(secret, tuple):
                raise CardStatus(0x6A81)
            curve, private_value = secret
            try:
                result = ecdh(curve, private_value, data)
            except ValueError:
                raise CardStatus(0x6A80) from None
        else:
            if not isinstance(secret, rsa.RSAPrivateKey):
                raise CardStatus(0x6A81)
            if algorithm == ALGO_RSA_DECRYPT_RAW:
                result = self._rsa_raw(secret, data)
            elif algorithm == ALGO_RSA_DECRYPT_PKCS1:
                result = self._pkcs1_unpad(self._rsa_raw(secret, data))
            else:
                oaep_hash = hashes.SHA256()
                try:
                    result = secret.decrypt(
                        data, padding.OAEP(padding.MGF1(oaep_hash), oaep_hash, None)
                    )
                except ValueError:
                    raise CardStatus(0x6A80) from None
        self._used(record)
        return result

    @staticmethod
    def _pkcs1_unpad(block: bytes) -> bytes:
        separator = block.find(b"\x00", 2)
        if block[:2] != b"\x00\x02" or separator < 10:
            raise CardStatus(0x6A80)
        return block[separator + 1 :]
