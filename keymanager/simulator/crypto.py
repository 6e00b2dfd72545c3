"""The simulator's randomness and key arithmetic.

:class:`Randomness` gives every random byte the simulated card uses: from
``os.urandom`` normally, or from a SHA-256 counter-mode generator when the card was
given a seed, so that tests are reproducible.  The generator's counter is part of the
persistent state, so a reloaded card continues the stream instead of repeating it.

ECDSA and ECDH are done in pure Python on top of :mod:`keymanager.dkek.curves`, so all
twelve curves of the card work, including those :mod:`cryptography` lacks.  This
arithmetic is not constant-time: it is a simulator, not a place for real secrets.
RSA key generation uses :mod:`cryptography` unless the card is seeded; a seeded card
draws its primes from the generator (Miller-Rabin), so its RSA keys are reproducible
too.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.dkek.curves import CurveParameters, hash_to_integer, scalar_multiply

_DRBG_LABEL = b"keymanager simulator drbg"


class Randomness:
    """The card's random number generator.

    :param seed: ``None`` for the operating system's generator; otherwise every
        byte comes from SHA-256(label ‖ seed ‖ counter) blocks.
    :param counter: where a seeded stream continues (from the saved state).
    """

    def __init__(self, seed: bytes | None = None, counter: int = 0) -> None:
        self.seed = None if seed is None else bytes(seed)
        self.counter = counter

    @property
    def deterministic(self) -> bool:
        """Whether the bytes come from the seeded generator."""
        return self.seed is not None

    def bytes(self, length: int) -> bytes:
        """``length`` random bytes."""
        if length <= 0:
            return b""
        if self.seed is None:
            return os.urandom(length)
        blocks = bytearray()
        while len(blocks) < length:
            blocks += hashlib.sha256(
                _DRBG_LABEL + self.seed + self.counter.to_bytes(8, "big")
            ).digest()
            self.counter += 1
        return bytes(blocks[:length])

    def below(self, limit: int) -> int:
        """A uniformly random integer in ``[0, limit)`` (rejection sampling)."""
        if limit <= 1:
            return 0
        bits = limit.bit_length()
        while True:
            candidate = int.from_bytes(self.bytes((bits + 7) // 8), "big") >> (-bits % 8)
            if candidate < limit:
                return candidate

    def scalar(self, order: int) -> int:
        """A private value in ``[1, order)``."""
        return 1 + self.below(order - 1)


# --- hashes -----------------------------------------------------------------------------

HASH_FUNCTIONS = {
    "sha1": hashlib.sha1,
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """The :mod:`cryptography` hash called ``name`` (SHA-1 because card algorithm ids use it)."""
    algorithms: dict[str, hashes.HashAlgorithm] = {
        "sha1": hashes.SHA1(),  # noqa: S303 - algorithm ids 31, 41 and 71 are defined with SHA-1
        "sha224": hashes.SHA224(),
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }
    return algorithms[name]


def digest(name: str, data: bytes) -> bytes:
    """The hash ``name`` (sha1 … sha512) of ``data``."""
    return HASH_FUNCTIONS[name](data).digest()


# --- elliptic curves --------------------------------------------------------------------


def ecdsa_sign(
    curve: CurveParameters, private_value: int, message_hash: bytes, extra: bytes = b""
) -> tuple[int, int]:
    """Sign a hash with ECDSA and return ``(r, s)``.

    The nonce is derived from the private value, the hash and ``extra`` with HMAC-SHA-512
    (in the spirit of RFC 6979), so signing needs no randomness; pass random bytes as
    ``extra`` to get randomised signatures as a card gives them.
    """
    order = curve.order
    key = private_value.to_bytes(curve.order_bytes, "big")
    e = hash_to_integer(curve, message_hash)
    attempt = 0
    while True:
        material = b""
        block = 0
        while len(material) * 8 < order.bit_length() + 64:
            material += hmac.new(
                key,
                message_hash + extra + attempt.to_bytes(4, "big") + block.to_bytes(4, "big"),
                hashlib.sha512,
            ).digest()
            block += 1
        attempt += 1
        k = int.from_bytes(material, "big") % order
        if k == 0:
            continue
        point = scalar_multiply(curve, k, curve.generator)
        if point is None:
            continue
        r = point[0] % order
        if r == 0:
            continue
        s = pow(k, -1, order) * (e + r * private_value) % order
        if s == 0:
            continue
        return r, s


def ecdh(curve: CurveParameters, private_value: int, peer_point: bytes) -> bytes:
    """The shared point d·Q, encoded 04 ‖ x ‖ y.

    :raises ValueError: the peer point is not an uncompressed point of the curve.
    """
    point = curve.decode_point(peer_point)
    shared = scalar_multiply(curve, private_value, point)
    if shared is None:
        raise ValueError("the shared point is the point at infinity")
    return curve.encode_point(shared)


@functools.lru_cache(maxsize=64)
def cryptography_ec_key(
    curve: CurveParameters, private_value: int
) -> ec.EllipticCurvePrivateKey | None:
    """The :mod:`cryptography` key for a curve it supports, else ``None``.

    Kept for the process (the simulator's keys are not secret): deriving a key costs
    about a millisecond, and chip authentication and signing ask for the same keys.
    """
    if curve.cryptography_curve is None:
        return None
    try:
        return ec.derive_private_key(private_value, curve.cryptography_curve())
    except UnsupportedAlgorithm:
        return None


# --- RSA ---------------------------------------------------------------------------------

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % q for q in range(3, math.isqrt(p) + 1, 2))]


def _probably_prime(candidate: int, rng: Randomness, rounds: int = 24) -> bool:
    if candidate < 2:
        return False
    for prime in _SMALL_PRIMES:
        if candidate % prime == 0:
            return candidate == prime
    d, s = candidate - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        witness = 2 + rng.below(candidate - 3)
        x = pow(witness, d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(s - 1):
            x = x * x % candidate
            if x == candidate - 1:
                break
        else:
            return False
    return True


def _prime_from(rng: Randomness, bits: int, public_exponent: int) -> int:
    while True:
        candidate = int.from_bytes(rng.bytes((bits + 7) // 8), "big") >> (-bits % 8)
        candidate |= (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if math.gcd(candidate - 1, public_exponent) != 1:
            continue
        if _probably_prime(candidate, rng):
            return candidate


def rsa_from_primes(p: int, q: int, public_exponent: int) -> rsa.RSAPrivateKey:
    """Build an RSA private key from its primes."""
    n = p * q
    d = pow(public_exponent, -1, math.lcm(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(public_exponent, n),
    )
    return numbers.private_key()


def generate_rsa(bits: int, public_exponent: int, rng: Randomness) -> rsa.RSAPrivateKey:
    """A new RSA key: :mod:`cryptography` normally, from the seeded generator otherwise."""
    if not rng.deterministic:
        return rsa.generate_private_key(public_exponent=public_exponent, key_size=bits)
    half = bits // 2
    while True:
        p = _prime_from(rng, bits - half, public_exponent)
        q = _prime_from(rng, half, public_exponent)
        if p != q and (p * q).bit_length() == bits:
            if p < q:
                p, q = q, p
            return rsa_from_primes(p, q, public_exponent)


def rsa_private_operation(key: rsa.RSAPrivateKey, value: int) -> int:
    """The raw RSA private operation value^d mod n (via CRT)."""
    numbers = key.private_numbers()
    p, q = numbers.p, numbers.q
    m1 = pow(value % p, numbers.dmp1, p)
    m2 = pow(value % q, numbers.dmq1, q)
    h = numbers.iqmp * (m1 - m2) % p
    return m2 + h * q
