"""The elliptic curves a SmartCard-HSM can hold keys on, and the arithmetic to check them.

The card supports twelve named prime curves (the list OpenSC's driver and Smart Card
Shell use): the NIST/SECG curves secp192r1, secp256r1, secp384r1 and secp521r1, the
Brainpool curves brainpoolP192r1 … brainpoolP512r1 and the Koblitz curves secp192k1
and secp256k1.  A wrapped key blob carries an EC key's domain parameters explicitly
(a, b, p, order and G), so the library must be able to recognise a curve from them.

The constants below were taken from the system's OpenSSL
(``openssl ecparam -name <curve> -param_enc explicit -text -noout``); the tests check
each set (p prime, G on the curve, order·G = infinity, and agreement with
``cryptography`` where it supports the curve).

``cryptography`` only knows some of these curves (secp192r1, secp256r1, secp384r1,
secp521r1, secp256k1 and brainpoolP256r1/P384r1/P512r1).  For the others this module
has a small pure-Python point arithmetic (Jacobian coordinates) so that the library
can still derive Q = d·G and check that a key's public point belongs to its private
value.  That arithmetic is not constant-time: it is meant for checking keys that are
already in host memory, never for signing.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.dkek.errors import UnsupportedKey

AffinePoint = tuple[int, int]
"""A point (x, y) in affine coordinates; ``None`` stands for the point at infinity."""

_UNCOMPRESSED_POINT_PREFIX = 0x04


def _hex(digits: str) -> int:
    return int(digits, 16)


@dataclass(frozen=True)
class CurveParameters:
    """The domain parameters of one named prime curve y² = x³ + a·x + b over GF(p).

    ``field_bytes`` is the width of a field element (and of each coordinate of an
    uncompressed point); ``cryptography_curve`` is the matching
    :mod:`cryptography` curve class, or ``None`` if ``cryptography`` lacks the curve.
    """

    name: str
    oid: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    order: int
    cofactor: int
    field_bytes: int
    cryptography_curve: type[ec.EllipticCurve] | None

    def __repr__(self) -> str:
        return f"CurveParameters(name={self.name!r}, oid={self.oid!r})"

    @property
    def field_bits(self) -> int:
        """The bit length of the prime p (e.g. 521 for secp521r1)."""
        return self.p.bit_length()

    @property
    def order_bytes(self) -> int:
        """The byte width of the group order (and of a private value)."""
        return (self.order.bit_length() + 7) // 8

    @property
    def generator(self) -> AffinePoint:
        """The base point G."""
        return (self.gx, self.gy)

    def encode_point(self, point: AffinePoint) -> bytes:
        """Encode an affine point uncompressed: 04 ‖ x ‖ y, each at the full field width."""
        x, y = point
        return (
            bytes([_UNCOMPRESSED_POINT_PREFIX])
            + x.to_bytes(self.field_bytes, "big")
            + y.to_bytes(self.field_bytes, "big")
        )

    def decode_point(self, encoded: bytes | bytearray | memoryview) -> AffinePoint:
        """Decode an uncompressed point (04 ‖ x ‖ y) and check that it lies on this curve.

        :raises ValueError: the encoding is not an uncompressed point of this curve's
            width, or the point is not on the curve.
        """
        data = bytes(encoded)
        if len(data) != 1 + 2 * self.field_bytes:
            raise ValueError(
                f"an uncompressed {self.name} point has {1 + 2 * self.field_bytes} bytes, "
                f"not {len(data)}"
            )
        if data[0] != _UNCOMPRESSED_POINT_PREFIX:
            raise ValueError(
                f"the point does not start with 04 (uncompressed), but with {data[0]:02X}"
            )
        x = int.from_bytes(data[1 : 1 + self.field_bytes], "big")
        y = int.from_bytes(data[1 + self.field_bytes :], "big")
        point = (x, y)
        if not is_on_curve(self, point):
            raise ValueError(f"the point is not on the curve {self.name}")
        return point


SUPPORTED_CURVES: tuple[CurveParameters, ...] = (
    CurveParameters(
        name="secp192r1",
        oid="1.2.840.10045.3.1.1",
        p=_hex("fffffffffffffffffffffffffffffffeffffffffffffffff"),
        a=_hex("fffffffffffffffffffffffffffffffefffffffffffffffc"),
        b=_hex("64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1"),
        gx=_hex("188da80eb03090f67cbf20eb43a18800f4ff0afd82ff1012"),
        gy=_hex("07192b95ffc8da78631011ed6b24cdd573f977a11e794811"),
        order=_hex("ffffffffffffffffffffffff99def836146bc9b1b4d22831"),
        cofactor=1,
        field_bytes=24,
        cryptography_curve=ec.SECP192R1,
    ),
    CurveParameters(
        name="secp256r1",
        oid="1.2.840.10045.3.1.7",
        p=_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
        a=_hex("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc"),
        b=_hex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
        gx=_hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
        gy=_hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
        order=_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
        cofactor=1,
        field_bytes=32,
        cryptography_curve=ec.SECP256R1,
    ),
    CurveParameters(
        name="secp384r1",
        oid="1.3.132.0.34",
        p=_hex(
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"
            "ffffffff0000000000000000ffffffff"
        ),
        a=_hex(
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"
            "ffffffff0000000000000000fffffffc"
        ),
        b=_hex(
            "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a"
            "c656398d8a2ed19d2a85c8edd3ec2aef"
        ),
        gx=_hex(
            "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38"
            "5502f25dbf55296c3a545e3872760ab7"
        ),
        gy=_hex(
            "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0"
            "0a60b1ce1d7e819d7a431d7c90ea0e5f"
        ),
        order=_hex(
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
            "581a0db248b0a77aecec196accc52973"
        ),
        cofactor=1,
        field_bytes=48,
        cryptography_curve=ec.SECP384R1,
    ),
    CurveParameters(
        name="secp521r1",
        oid="1.3.132.0.35",
        p=_hex(
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "ffff"
        ),
        a=_hex(
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "fffc"
        ),
        b=_hex(
            "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1"
            "09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b50"
            "3f00"
        ),
        gx=_hex(
            "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d"
            "3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5"
            "bd66"
        ),
        gy=_hex(
            "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e"
            "662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd1"
            "6650"
        ),
        order=_hex(
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e9138"
            "6409"
        ),
        cofactor=1,
        field_bytes=66,
        cryptography_curve=ec.SECP521R1,
    ),
    CurveParameters(
        name="brainpoolP192r1",
        oid="1.3.36.3.3.2.8.1.1.3",
        p=_hex("c302f41d932a36cda7a3463093d18db78fce476de1a86297"),
        a=_hex("6a91174076b1e0e19c39c031fe8685c1cae040e5c69a28ef"),
        b=_hex("469a28ef7c28cca3dc721d044f4496bcca7ef4146fbf25c9"),
        gx=_hex("c0a0647eaab6a48753b033c56cb0f0900a2f5c4853375fd6"),
        gy=_hex("14b690866abd5bb88b5f4828c1490002e6773fa2fa299b8f"),
        order=_hex("c302f41d932a36cda7a3462f9e9e916b5be8f1029ac4acc1"),
        cofactor=1,
        field_bytes=24,
        cryptography_curve=None,
    ),
    CurveParameters(
        name="brainpoolP224r1",
        oid="1.3.36.3.3.2.8.1.1.5",
        p=_hex("d7c134aa264366862a18302575d1d787b09f075797da89f57ec8c0ff"),
        a=_hex("68a5e62ca9ce6c1c299803a6c1530b514e182ad8b0042a59cad29f43"),
        b=_hex("2580f63ccfe44138870713b1a92369e33e2135d266dbb372386c400b"),
        gx=_hex("0d9029ad2c7e5cf4340823b2a87dc68c9e4ce3174c1e6efdee12c07d"),
        gy=_hex("58aa56f772c0726f24c6b89e4ecdac24354b9e99caa3f6d3761402cd"),
        order=_hex("d7c134aa264366862a18302575d0fb98d116bc4b6ddebca3a5a7939f"),
        cofactor=1,
        field_bytes=28,
        cryptography_curve=None,
    ),
    CurveParameters(
        name="brainpoolP256r1",
        oid="1.3.36.3.3.2.8.1.1.7",
        p=_hex("a9fb57dba1eea9bc3e660a909d838d726e3bf623d52620282013481d1f6e5377"),
        a=_hex("7d5a0975fc2c3057eef67530417affe7fb8055c126dc5c6ce94a4b44f330b5d9"),
        b=_hex("26dc5c6ce94a4b44f330b5d9bbd77cbf958416295cf7e1ce6bccdc18ff8c07b6"),
        gx=_hex("8bd2aeb9cb7e57cb2c4b482ffc81b7afb9de27e1e3bd23c23a4453bd9ace3262"),
        gy=_hex("547ef835c3dac4fd97f8461a14611dc9c27745132ded8e545c1d54c72f046997"),
        order=_hex("a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7"),
        cofactor=1,
        field_bytes=32,
        cryptography_curve=ec.BrainpoolP256R1,
    ),
    CurveParameters(
        name="brainpoolP320r1",
        oid="1.3.36.3.3.2.8.1.1.9",
        p=_hex("d35e472036bc4fb7e13c785ed201e065f98fcfa6f6f40def4f92b9ec7893ec28fcd412b1f1b32e27"),
        a=_hex("3ee30b568fbab0f883ccebd46d3f3bb8a2a73513f5eb79da66190eb085ffa9f492f375a97d860eb4"),
        b=_hex("520883949dfdbc42d3ad198640688a6fe13f41349554b49acc31dccd884539816f5eb4ac8fb1f1a6"),
        gx=_hex("43bd7e9afb53d8b85289bcc48ee5bfe6f20137d10a087eb6e7871e2a10a599c710af8d0d39e20611"),
        gy=_hex("14fdd05545ec1cc8ab4093247f77275e0743ffed117182eaa9c77877aaac6ac7d35245d1692e8ee1"),
        order=_hex(
            "d35e472036bc4fb7e13c785ed201e065f98fcfa5b68f12a32d482ec7ee8658e98691555b44c59311"
        ),
        cofactor=1,
        field_bytes=40,
        cryptography_curve=None,
    ),
    CurveParameters(
        name="brainpoolP384r1",
        oid="1.3.36.3.3.2.8.1.1.11",
        p=_hex(
            "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b412b1da197fb71123"
            "acd3a729901d1a71874700133107ec53"
        ),
        a=_hex(
            "7bc382c63d8c150c3c72080ace05afa0c2bea28e4fb22787139165efba91f90f"
            "8aa5814a503ad4eb04a8c7dd22ce2826"
        ),
        b=_hex(
            "04a8c7dd22ce28268b39b55416f0447c2fb77de107dcd2a62e880ea53eeb62d5"
            "7cb4390295dbc9943ab78696fa504c11"
        ),
        gx=_hex(
            "1d1c64f068cf45ffa2a63a81b7c13f6b8847a3e77ef14fe3db7fcafe0cbd10e8"
            "e826e03436d646aaef87b2e247d4af1e"
        ),
        gy=_hex(
            "8abe1d7520f9c2a45cb1eb8e95cfd55262b70b29feec5864e19c054ff9912928"
            "0e4646217791811142820341263c5315"
        ),
        order=_hex(
            "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f166e6cac0425a7"
            "cf3ab6af6b7fc3103b883202e9046565"
        ),
        cofactor=1,
        field_bytes=48,
        cryptography_curve=ec.BrainpoolP384R1,
    ),
    CurveParameters(
        name="brainpoolP512r1",
        oid="1.3.36.3.3.2.8.1.1.13",
        p=_hex(
            "aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330871"
            "7d4d9b009bc66842aecda12ae6a380e62881ff2f2d82c68528aa6056583a48f3"
        ),
        a=_hex(
            "7830a3318b603b89e2327145ac234cc594cbdd8d3df91610a83441caea9863bc"
            "2ded5d5aa8253aa10a2ef1c98b9ac8b57f1117a72bf2c7b9e7c1ac4d77fc94ca"
        ),
        b=_hex(
            "3df91610a83441caea9863bc2ded5d5aa8253aa10a2ef1c98b9ac8b57f1117a7"
            "2bf2c7b9e7c1ac4d77fc94cadc083e67984050b75ebae5dd2809bd638016f723"
        ),
        gx=_hex(
            "81aee4bdd82ed9645a21322e9c4c6a9385ed9f70b5d916c1b43b62eef4d0098e"
            "ff3b1f78e2d0d48d50d1687b93b97d5f7c6d5047406a5e688b352209bcb9f822"
        ),
        gy=_hex(
            "7dde385d566332ecc0eabfa9cf7822fdf209f70024a57b1aa000c55b881f8111"
            "b2dcde494a5f485e5bca4bd88a2763aed1ca2b2fa8f0540678cd1e0f3ad80892"
        ),
        order=_hex(
            "aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330870"
            "553e5c414ca92619418661197fac10471db1d381085ddaddb58796829ca90069"
        ),
        cofactor=1,
        field_bytes=64,
        cryptography_curve=ec.BrainpoolP512R1,
    ),
    CurveParameters(
        name="secp192k1",
        oid="1.3.132.0.31",
        p=_hex("fffffffffffffffffffffffffffffffffffffffeffffee37"),
        a=_hex("000000000000000000000000000000000000000000000000"),
        b=_hex("000000000000000000000000000000000000000000000003"),
        gx=_hex("db4ff10ec057e9ae26b07d0280b7f4341da5d1b1eae06c7d"),
        gy=_hex("9b2f2f6d9c5628a7844163d015be86344082aa88d95e2f9d"),
        order=_hex("fffffffffffffffffffffffe26f2fc170f69466a74defd8d"),
        cofactor=1,
        field_bytes=24,
        cryptography_curve=None,
    ),
    CurveParameters(
        name="secp256k1",
        oid="1.3.132.0.10",
        p=_hex("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"),
        a=_hex("0000000000000000000000000000000000000000000000000000000000000000"),
        b=_hex("0000000000000000000000000000000000000000000000000000000000000007"),
        gx=_hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
        gy=_hex("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"),
        order=_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"),
        cofactor=1,
        field_bytes=32,
        cryptography_curve=ec.SECP256K1,
    ),
)
"""The twelve curves a SmartCard-HSM supports, in the order OpenSC lists them."""

_ALIASES: dict[str, str] = {
    "prime192v1": "secp192r1",
    "p192": "secp192r1",
    "nistp192": "secp192r1",
    "prime256v1": "secp256r1",
    "p256": "secp256r1",
    "nistp256": "secp256r1",
    "p384": "secp384r1",
    "nistp384": "secp384r1",
    "p521": "secp521r1",
    "nistp521": "secp521r1",
}


def _normalise_name(name: str) -> str:
    return "".join(character for character in name.lower() if character not in "-_ ")


_BY_NAME: dict[str, CurveParameters] = {
    _normalise_name(curve.name): curve for curve in SUPPORTED_CURVES
}
_BY_NAME.update({alias: _BY_NAME[canonical] for alias, canonical in _ALIASES.items()})
_BY_OID: dict[str, CurveParameters] = {curve.oid: curve for curve in SUPPORTED_CURVES}


def curve_by_name(name: str) -> CurveParameters:
    """Look a curve up by name, ignoring case, ``-``, ``_`` and spaces.

    Accepts the SECG/Brainpool names and the usual aliases (``prime256v1``, ``P-256``,
    ``nistp256``, …).

    :raises UnsupportedKey: the SmartCard-HSM does not support a curve of that name.
    """
    curve = _BY_NAME.get(_normalise_name(name))
    if curve is None:
        raise UnsupportedKey(f"the SmartCard-HSM does not support the curve {name!r}")
    return curve


def curve_by_oid(oid: str) -> CurveParameters:
    """Look a curve up by its dotted object identifier (e.g. ``1.3.132.0.10``).

    :raises UnsupportedKey: no supported curve has that OID.
    """
    curve = _BY_OID.get(oid.strip())
    if curve is None:
        raise UnsupportedKey(f"the SmartCard-HSM does not support the curve with OID {oid}")
    return curve


def curve_by_domain_parameters(
    *, p: int, a: int | None, b: int, generator: AffinePoint, order: int
) -> CurveParameters:
    """Recognise a curve from explicit domain parameters, as carried in a key blob.

    a and b are compared modulo p, so a = -3 and a = p - 3 are the same curve.

    ``a=None`` means the coefficient was not given (Pico HSM writes it as an empty
    field, following mbedTLS, which leaves a unset when it is -3 and zero when it is
    0): the curve is then recognised from p, b, G and the order alone, which still
    determine a, since G must satisfy y² = x³ + a·x + b.  An empty field is *not*
    a = 0: for secp521r1 the curve it stands for has a = -3.

    :raises UnsupportedKey: the parameters match none of the supported curves.
    """
    for curve in SUPPORTED_CURVES:
        if (
            curve.p == p
            and (a is None or curve.a == a % p)
            and curve.b == b % p
            and curve.generator == generator
            and curve.order == order
        ):
            return curve
    raise UnsupportedKey(
        f"the explicit curve parameters ({p.bit_length()}-bit prime field) match none of "
        "the curves a SmartCard-HSM supports"
    )


def curve_by_cryptography_curve(curve: ec.EllipticCurve) -> CurveParameters:
    """Find the parameters for a :mod:`cryptography` curve instance (e.g. ``ec.SECP256R1()``).

    :raises UnsupportedKey: the SmartCard-HSM does not support that curve.
    """
    for candidate in SUPPORTED_CURVES:
        if candidate.cryptography_curve is not None and type(curve) is candidate.cryptography_curve:
            return candidate
    found = _BY_NAME.get(_normalise_name(curve.name))
    if found is not None and found.name == curve.name:
        return found
    raise UnsupportedKey(f"the SmartCard-HSM does not support the curve {curve.name}")


# --- point arithmetic ---------------------------------------------------------------

_JacobianPoint = tuple[int, int, int]
_INFINITY: _JacobianPoint = (1, 1, 0)


def is_on_curve(curve: CurveParameters, point: AffinePoint) -> bool:
    """Whether the affine point (x, y) satisfies the curve equation, with 0 ≤ x, y < p."""
    x, y = point
    p = curve.p
    if not (0 <= x < p and 0 <= y < p):
        return False
    return (y * y - (x * x * x + curve.a * x + curve.b)) % p == 0


def _double(curve: CurveParameters, point: _JacobianPoint) -> _JacobianPoint:
    x1, y1, z1 = point
    p = curve.p
    if z1 == 0 or y1 == 0:
        return _INFINITY
    y1_squared = y1 * y1 % p
    s = 4 * x1 * y1_squared % p
    z1_squared = z1 * z1 % p
    m = (3 * x1 * x1 + curve.a * z1_squared * z1_squared) % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * y1_squared * y1_squared) % p
    z3 = 2 * y1 * z1 % p
    return (x3, y3, z3)


def _add(curve: CurveParameters, first: _JacobianPoint, second: _JacobianPoint) -> _JacobianPoint:
    x1, y1, z1 = first
    x2, y2, z2 = second
    if z1 == 0:
        return second
    if z2 == 0:
        return first
    p = curve.p
    z1_squared = z1 * z1 % p
    z2_squared = z2 * z2 % p
    u1 = x1 * z2_squared % p
    u2 = x2 * z1_squared % p
    s1 = y1 * z2_squared * z2 % p
    s2 = y2 * z1_squared * z1 % p
    if u1 == u2:
        return _double(curve, first) if s1 == s2 else _INFINITY
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    h_squared = h * h % p
    h_cubed = h_squared * h % p
    u1_h_squared = u1 * h_squared % p
    x3 = (r * r - h_cubed - 2 * u1_h_squared) % p
    y3 = (r * (u1_h_squared - x3) - s1 * h_cubed) % p
    z3 = h * z1 * z2 % p
    return (x3, y3, z3)


def _to_affine(curve: CurveParameters, point: _JacobianPoint) -> AffinePoint | None:
    x, y, z = point
    if z == 0:
        return None
    p = curve.p
    z_inverse = pow(z, -1, p)
    z_inverse_squared = z_inverse * z_inverse % p
    return (x * z_inverse_squared % p, y * z_inverse_squared * z_inverse % p)


def add_points(
    curve: CurveParameters, first: AffinePoint | None, second: AffinePoint | None
) -> AffinePoint | None:
    """Add two points of the curve (``None`` is the point at infinity)."""
    if first is None:
        return second
    if second is None:
        return first
    return _to_affine(curve, _add(curve, (*first, 1), (*second, 1)))


def scalar_multiply(curve: CurveParameters, k: int, point: AffinePoint) -> AffinePoint | None:
    """Return k·point in pure Python (``None`` is the point at infinity).

    Not constant-time: use it to check or derive public values, not to sign.

    :raises ValueError: ``k`` is negative or ``point`` is not on the curve.
    """
    if k < 0:
        raise ValueError("the scalar must not be negative")
    if not is_on_curve(curve, point):
        raise ValueError(f"the point is not on the curve {curve.name}")
    result = _INFINITY
    addend: _JacobianPoint = (*point, 1)
    for bit in bin(k)[2:]:
        result = _double(curve, result)
        if bit == "1":
            result = _add(curve, result, addend)
    return _to_affine(curve, result)


def derive_public_point(curve: CurveParameters, private_value: int) -> AffinePoint:
    """Return Q = d·G for a private value d (1 ≤ d < order).

    Uses :mod:`cryptography` when it supports the curve, the pure-Python arithmetic
    otherwise.

    :raises ValueError: ``private_value`` is out of range.
    """
    if not 1 <= private_value < curve.order:
        raise ValueError(f"a {curve.name} private value must lie between 1 and the group order")
    if curve.cryptography_curve is not None:
        try:
            key = ec.derive_private_key(private_value, curve.cryptography_curve())
        except UnsupportedAlgorithm:
            pass  # this OpenSSL build lacks the curve: fall back to pure Python
        else:
            numbers = key.public_key().public_numbers()
            return (numbers.x, numbers.y)
    point = scalar_multiply(curve, private_value, curve.generator)
    if point is None:  # impossible for 1 <= d < order on a prime-order group
        raise ValueError(f"d·G is the point at infinity on {curve.name}")
    return point


def hash_to_integer(curve: CurveParameters, message_hash: bytes) -> int:
    """The ECDSA integer of a hash: its leftmost bits, as many as the group order has."""
    value = int.from_bytes(message_hash, "big")
    excess = len(message_hash) * 8 - curve.order.bit_length()
    return value >> excess if excess > 0 else value


def ecdsa_verify(
    curve: CurveParameters, public_point: AffinePoint, message_hash: bytes, r: int, s: int
) -> bool:
    """Check an ECDSA signature ``(r, s)`` over a hash in pure Python.

    For curves :mod:`cryptography` lacks (the card's CV certificates and the
    simulator's signatures on them); not constant-time, which a check need not be.
    """
    order = curve.order
    if not (0 < r < order and 0 < s < order):
        return False
    e = hash_to_integer(curve, message_hash)
    w = pow(s, -1, order)
    total = add_points(
        curve,
        scalar_multiply(curve, e * w % order, curve.generator),
        scalar_multiply(curve, r * w % order, public_point),
    )
    return total is not None and total[0] % order == r
