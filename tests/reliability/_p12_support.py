"""Malformed PKCS#12 inputs for issue 7, built deterministically at test time.

Keys come from a fixed seed (:func:`seeded_rsa`, :func:`seeded_dsa`, EC / Edwards
scalars from a hash), certificates are signed by a fixed Ed25519 test CA with fixed
dates, so every file has the same keys, certificates and layout on every run (only
the salts and IVs :mod:`cryptography` draws for the encryption differ).  Files
:mod:`cryptography` refuses to write (X25519 keys, curves it lacks, an empty file, a
certificate that does not match its key, two keys) are put together by hand with
:func:`build_pfx` (unencrypted bags, SHA-256 MAC made with the PKCS#12 key derivation
of RFC 7292 appendix B).  The RSA 8192 file is a committed fixture
(``tests/corpus/p12/rsa8192.p12``, see the README there): its key takes a minute to
generate.

:func:`build_cases` writes every case into a directory and returns them with the
error each must produce (``None``: the file must open, and ``check`` says what it
must hold).  :func:`open_case` is the pipeline both import workflows start with:
open the file with its password, then check that something can go onto the card.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    NoEncryption,
    pkcs12,
)
from cryptography.x509.oid import NameOID

from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from keymanager.workflows.pkcs12 import (
    MAX_ITERATIONS,
    MAX_PKCS12_SIZE,
    NothingToImport,
    Pkcs12Contents,
    Pkcs12Corrupt,
    Pkcs12Empty,
    Pkcs12Error,
    Pkcs12IntegrityError,
    Pkcs12TooLarge,
    Pkcs12Unreadable,
    Pkcs12UnsupportedContent,
    Pkcs12WrongPassword,
    open_pkcs12,
)

SEED = b"keymanager issue 7 pkcs12 corpus"
PASSWORD = "Corpus p12 passphrase 7"
FIXTURE_DIRECTORY = Path(__file__).resolve().parents[1] / "corpus" / "p12"
RSA8192_FIXTURE = FIXTURE_DIRECTORY / "rsa8192.p12"
DSA_FIXTURE = FIXTURE_DIRECTORY / "dsa2048.p12"
NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2044, 1, 1, tzinfo=datetime.UTC)


# --- deterministic keys -------------------------------------------------------------------


def _random(label: str) -> random.Random:
    """A PRNG for ``label`` (test data only: never for real keys)."""
    return random.Random(hashlib.sha256(SEED + label.encode()).digest())


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _probably_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random, *, top_two: bool = True) -> int:
    while True:
        candidate = rng.getrandbits(bits) | 1 | (1 << (bits - 1))
        if top_two:
            candidate |= 1 << (bits - 2)
        if _probably_prime(candidate, rng):
            return candidate


def seeded_rsa(bits: int, label: str = "") -> rsa.RSAPrivateKey:
    """An RSA key of exactly ``bits`` bits made from the seed (e = 65537)."""
    rng = _random(f"rsa {bits} {label}")
    while True:
        p = _prime((bits + 1) // 2, rng)
        q = _prime(bits // 2, rng)
        n = p * q
        phi = (p - 1) * (q - 1)
        if p != q and n.bit_length() == bits and phi % 65537:
            break
    d = pow(65537, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(65537, n),
    )
    return numbers.private_key()


def seeded_dsa(label: str = "") -> dsa.DSAPrivateKey:
    """A DSA key (L = 2048, N = 256) made from the seed (slow: about 13 s)."""
    rng = _random(f"dsa {label}")
    q = _prime(256, rng, top_two=False)
    while True:
        k = rng.getrandbits(2048 - 256) | (1 << (2048 - 256 - 1))
        p = k * 2 * q + 1
        if p.bit_length() == 2048 and _probably_prime(p, rng, rounds=8):
            break
    h = 2
    while (g := pow(h, (p - 1) // q, p)) == 1:
        h += 1
    x = rng.randrange(1, q)
    parameters = dsa.DSAParameterNumbers(p, q, g)
    return dsa.DSAPrivateNumbers(x, dsa.DSAPublicNumbers(pow(g, x, p), parameters)).private_key()


def _scalar(label: str, length: int) -> bytes:
    return hashlib.shake_256(SEED + label.encode()).digest(length)


def seeded_ec(curve: ec.EllipticCurve, label: str = "") -> ec.EllipticCurvePrivateKey:
    value = int.from_bytes(_scalar(f"ec {curve.name} {label}", 64), "big")
    return ec.derive_private_key(value % (2 ** (curve.key_size - 2)) + 1, curve)


def seeded_ed25519(label: str = "") -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(_scalar(f"ed25519 {label}", 32))


def seeded_ed448(label: str = "") -> ed448.Ed448PrivateKey:
    return ed448.Ed448PrivateKey.from_private_bytes(_scalar(f"ed448 {label}", 57))


def seeded_x25519(label: str = "") -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(_scalar(f"x25519 {label}", 32))


CA_KEY = seeded_ed25519("test CA")


def certificate(
    common_name: str, public_key: object, *, ca: bool = False, serial: int = 1
) -> x509.Certificate:
    """A certificate for ``public_key`` issued by the fixed Ed25519 test CA (deterministic)."""
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corpus Test CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(CA_KEY, None)
    )


def ca_certificates() -> list[x509.Certificate]:
    """Two CA certificates (a chain without its end entity)."""
    return [
        certificate("Corpus Root CA", CA_KEY.public_key(), ca=True, serial=2),
        certificate(
            "Corpus Intermediate CA",
            seeded_ec(ec.SECP256R1(), "ca").public_key(),
            ca=True,
            serial=3,
        ),
    ]


def standard_p12(
    key: PrivateKeyTypes | None,
    *,
    common_name: str | None = "Corpus key",
    cas: list[x509.Certificate] | None = None,
    password: str | None = PASSWORD,
) -> bytes:
    """A PKCS#12 file as :mod:`cryptography` writes it (AES-256, SHA-256 MAC)."""
    cert = None
    if key is not None and common_name is not None:
        cert = certificate(common_name, key.public_key())
    encryption = NoEncryption() if password is None else BestAvailableEncryption(password.encode())
    return pkcs12.serialize_key_and_certificates(
        b"corpus",
        key,  # type: ignore[arg-type]
        cert,
        cas,
        encryption,
    )


# --- a hand-made PFX (RFC 7292), for what cryptography will not write --------------------


def _tlv(tag: int, value: bytes) -> bytes:
    length = len(value)
    if length < 0x80:
        return bytes([tag, length]) + value
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + value


def _sequence(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, body)


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _octets(value: bytes) -> bytes:
    return _tlv(0x04, value)


def _explicit(value: bytes) -> bytes:
    return _tlv(0xA0, value)


DATA_OID = "1.2.840.113549.1.7.1"
LOCAL_KEY_ID_OID = "1.2.840.113549.1.9.21"


def _attributes(local_key_id: bytes | None) -> list[bytes]:
    if local_key_id is None:
        return []
    attribute = _sequence(_oid(LOCAL_KEY_ID_OID), _tlv(0x31, _octets(local_key_id)))
    return [_tlv(0x31, attribute)]


def key_bag(pkcs8: bytes, local_key_id: bytes | None = None) -> bytes:
    """An unencrypted keyBag holding a PKCS#8 PrivateKeyInfo."""
    return _sequence(
        _oid("1.2.840.113549.1.12.10.1.1"), _explicit(pkcs8), *_attributes(local_key_id)
    )


def certificate_bag(der: bytes, local_key_id: bytes | None = None) -> bytes:
    value = _sequence(_oid("1.2.840.113549.1.9.22.1"), _explicit(_octets(der)))
    return _sequence(
        _oid("1.2.840.113549.1.12.10.1.3"), _explicit(value), *_attributes(local_key_id)
    )


def pkcs12_mac_key(password: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 7292 B.2 key derivation with SHA-256 for the MAC (ID 3), 32 bytes."""
    block = 64
    diversifier = bytes([3]) * block
    bmp = (password.decode() + "\0").encode("utf-16-be")

    def stretched(value: bytes) -> bytes:
        size = block * -(-len(value) // block)
        return (value * (size // len(value) + 1))[:size] if value else b""

    digest = hashlib.sha256(diversifier + stretched(salt) + stretched(bmp)).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return digest


def build_pfx(
    safes: list[list[bytes]],
    password: str = PASSWORD,
    *,
    salt: bytes = b"corpus-salt-7",
    iterations: int = 2048,
) -> bytes:
    """A PFX whose authenticated safe holds one plain SafeContents per list of bags."""
    safe_infos = [_sequence(_oid(DATA_OID), _explicit(_octets(_sequence(*bags)))) for bags in safes]
    authenticated_safe = _sequence(*safe_infos)
    mac = hmac.new(
        pkcs12_mac_key(password.encode(), salt, iterations), authenticated_safe, hashlib.sha256
    ).digest()
    algorithm = _sequence(_oid("2.16.840.1.101.3.4.2.1"), _tlv(0x05, b""))
    mac_data = _sequence(_sequence(algorithm, _octets(mac)), _octets(salt), _integer(iterations))
    return _sequence(
        _integer(3), _sequence(_oid(DATA_OID), _explicit(_octets(authenticated_safe))), mac_data
    )


def pkcs8(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, NoEncryption()
    )


def ec_pkcs8(curve_oid: str, scalar: bytes) -> bytes:
    """A PKCS#8 EC key on a named curve given by OID (any curve, known or not)."""
    ec_private_key = _sequence(_integer(1), _octets(scalar))
    algorithm = _sequence(_oid("1.2.840.10045.2.1"), _oid(curve_oid))
    return _sequence(_integer(0), algorithm, _octets(ec_private_key))


# --- locating the MAC in a DER PFX ---------------------------------------------------------


def _read_header(data: bytes, offset: int) -> tuple[int, int]:
    """(offset of the value, its length) of the TLV at ``offset`` (DER, one-byte tags)."""
    first = data[offset + 1]
    if first < 0x80:
        return offset + 2, first
    count = first & 0x7F
    return offset + 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")


def with_mac_iterations(data: bytes, iterations: int) -> bytes:
    """``data`` (a DER PFX with MacData) with its MAC iteration count replaced."""
    version, auth_safe, mac_data = iter_tlvs(read_tlv(data, 0, der=True).value, der=True)
    digest_info, salt, _count = iter_tlvs(mac_data.value, der=True)
    new_mac_data = _sequence(
        encode_tlv(digest_info.tag, digest_info.value),
        encode_tlv(salt.tag, salt.value),
        _integer(iterations),
    )
    return _sequence(
        encode_tlv(version.tag, version.value),
        encode_tlv(auth_safe.tag, auth_safe.value),
        new_mac_data,
    )


def mac_offsets(data: bytes) -> tuple[int, int, int]:
    """Offsets of the MAC digest's first byte, the MAC salt's first byte and the
    iteration count's last byte in a DER PFX."""
    start, length = _read_header(data, 0)
    end = start + length
    offset = start
    elements = []
    while offset < end:
        value, size = _read_header(data, offset)
        elements.append((offset, value, size))
        offset = value + size
    _mac_offset, mac_value, _mac_size = elements[2]
    digest_info_value, digest_info_size = _read_header(data, mac_value)
    algorithm_value, algorithm_size = _read_header(data, digest_info_value)
    digest_value, _ = _read_header(data, algorithm_value + algorithm_size)
    salt_value, salt_size = _read_header(data, digest_info_value + digest_info_size)
    iterations_value, iterations_size = _read_header(data, salt_value + salt_size)
    return digest_value, salt_value, iterations_value + iterations_size - 1


def flipped(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x01
    return bytes(changed)


def fixture_key(path: Path) -> PrivateKeyTypes:
    """The private key of a committed fixture (see tests/corpus/p12/README.md)."""
    key = pkcs12.load_pkcs12(path.read_bytes(), PASSWORD.encode()).key
    assert key is not None
    return key


# --- the cases -----------------------------------------------------------------------------


@dataclass
class P12Case:
    """One input: where it is, the password the user types, and what must happen.

    :param family: the figure row it counts in (for a reader of docs/reliability.md).
    :param expect: the exact error class; ``None``: the file must open.
    :param fragment: text the error message must contain.
    :param check: for accepted files, what the contents must be (``None``: fine).
    """

    name: str
    family: str
    path: Path
    password: str | None
    expect: type[Pkcs12Error] | None
    fragment: str = ""
    check: Callable[[Pkcs12Contents], str | None] | None = field(default=None, repr=False)


def open_case(case: P12Case) -> Pkcs12Contents:
    """What both import workflows do first: open the file, check it holds something usable."""
    password = None if case.password is None else bytearray(case.password.encode())
    contents = open_pkcs12(case.path, password)
    contents.check_importable()
    return contents


def _expect_keys(
    keys: int, certificates: int, warning: str | None = None, certificate: bool = True
) -> Callable[[Pkcs12Contents], str | None]:
    def check(contents: Pkcs12Contents) -> str | None:
        if (len(contents.keys), len(contents.certificates)) != (keys, certificates):
            return f"{len(contents.keys)} keys, {len(contents.certificates)} certificates"
        for entry in contents.keys:
            if entry.unsupported is not None:
                return f"key refused: {entry.unsupported}"
            if (entry.certificate is not None) != certificate:
                return f"certificate of the key: {entry.certificate}"
            if warning is None and entry.warning is not None:
                return f"unexpected warning {entry.warning!r}"
            if warning is not None and (entry.warning is None or warning not in entry.warning):
                return f"warning {entry.warning!r} lacks {warning!r}"
            if warning is not None and warning not in entry.detail():
                return "the warning is not shown in the entry's detail"
        return None

    return check


TRUNCATION_LENGTHS = (1, 2, 3, 4, 8, 16, 32, 64, 128, 256)
"""Absolute truncation lengths; relative ones (¼, ½, ¾, end - 32, end - 1) are added."""


def build_cases(directory: Path) -> list[P12Case]:
    """Write every PKCS#12 case into ``directory`` (deterministic contents)."""
    directory.mkdir(parents=True, exist_ok=True)
    cases: list[P12Case] = []

    def add(
        name: str,
        family: str,
        data: bytes | None,
        expect: type[Pkcs12Error] | None,
        fragment: str = "",
        *,
        password: str | None = PASSWORD,
        check: Callable[[Pkcs12Contents], str | None] | None = None,
        path: Path | None = None,
    ) -> None:
        if path is None:
            path = directory / f"{name}.p12"
            assert data is not None
            path.write_bytes(data)
        cases.append(P12Case(name, family, path, password, expect, fragment, check))

    p256 = seeded_ec(ec.SECP256R1(), "p256")
    good = standard_p12(p256, cas=ca_certificates())

    # controls: files that must open
    add("control-p256-chain", "Controls (must open)", good, None, check=_expect_keys(1, 2))
    add(
        "control-rsa2048-no-certificate",
        "Controls (must open)",
        standard_p12(seeded_rsa(2048, "control"), common_name=None),
        None,
        check=_expect_keys(1, 0, certificate=False),
    )
    add(
        "control-no-password",
        "Controls (must open)",
        standard_p12(seeded_ec(ec.SECP384R1(), "nopw"), password=None),
        None,
        password="",
        check=_expect_keys(1, 0),
    )
    add(
        "control-no-password-none",
        "Controls (must open)",
        standard_p12(seeded_ec(ec.SECP384R1(), "nopw"), password=None),
        None,
        password=None,
        check=_expect_keys(1, 0),
    )
    # Bytes after the PFX are ignored (as OpenSSL does); the MAC still covers the contents.
    add("control-trailing-bytes", "Controls (must open)", good + b"\x00junk", None,
        check=_expect_keys(1, 2))  # fmt: skip
    add(
        "control-hand-made",
        "Controls (must open)",
        build_pfx([[key_bag(pkcs8(p256))]]),
        None,
        check=_expect_keys(1, 0, certificate=False),
    )

    # passwords
    wrong = "PKCS#12 password is wrong"
    for name, typed in (
        ("wrong-password", "not the corpus password"),
        ("wrong-password-case", PASSWORD.upper()),
        ("wrong-password-prefix", PASSWORD[:-1]),
        ("wrong-password-trailing-space", PASSWORD + " "),
    ):
        add(name, "Wrong password", good, Pkcs12WrongPassword, wrong, password=typed)
    nothing_typed: tuple[tuple[str, str | None], ...] = (
        ("no-password-empty", ""),
        ("no-password-none", None),
    )
    for name, nothing in nothing_typed:
        add(name, "Wrong password", good, Pkcs12WrongPassword, "none was given", password=nothing)

    # truncated and not PKCS#12 at all
    lengths = sorted(
        {
            *TRUNCATION_LENGTHS,
            len(good) // 4,
            len(good) // 2,
            3 * len(good) // 4,
            len(good) - 32,
            len(good) - 1,
        }
    )
    for length in lengths:
        add(
            f"truncated-{length}",
            "Truncated",
            good[:length],
            Pkcs12Corrupt,
            "not a readable PKCS#12",
        )
    not_pkcs12 = {
        "empty-file": b"",
        "text": b"This is not a PKCS#12 file.\n" * 4,
        "zeros": bytes(4096),
        "random": _random("random").randbytes(2048),
        "pem-armoured-p12": b"-----BEGIN PKCS12-----\n" + good.hex().encode() + b"\n",
        "pem-private-key": p256.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NoEncryption()
        ),
        "der-private-key": pkcs8(p256),
        "der-certificate": ca_certificates()[0].public_bytes(serialization.Encoding.DER),
        "sequence-of-nothing": b"\x30\x00",
        "outer-length-overrun": b"\x30\x84\x7f\xff\xff\xff" + good[4:],
    }
    for name, data in not_pkcs12.items():
        add(f"not-pkcs12-{name}", "Not PKCS#12", data, Pkcs12Corrupt, "not a readable PKCS#12")

    # integrity: the password is right but the MAC fails
    digest, salt, iterations = mac_offsets(good)
    integrity = "integrity check (MAC) fails"
    altered = "Altered: password right, MAC fails"
    add("mac-digest-first-byte", altered, flipped(good, digest), Pkcs12IntegrityError, integrity)
    add("mac-digest-last-byte", altered, flipped(good, digest + 31), Pkcs12IntegrityError,
        integrity)  # fmt: skip
    add("mac-salt", altered, flipped(good, salt), Pkcs12IntegrityError, integrity)
    add("mac-iterations", altered, flipped(good, iterations), Pkcs12IntegrityError, integrity)
    # an absurd count is refused before any derivation (2**31 rounds would take minutes)
    for count in (MAX_ITERATIONS + 1, 2**31 - 1, 2**63):
        add(f"mac-iterations-{count}", "Absurd iteration count", with_mac_iterations(good, count),
            Pkcs12Corrupt, "key-derivation iterations")  # fmt: skip
    # cryptography writes the shrouded key bag last, with its attributes in the clear:
    # its friendly name ("corpus" in UTF-16) and, just before the attributes' SET, the
    # last bytes of the encrypted key.
    name_at = good.rindex("corpus".encode("utf-16-be"))
    add("key-friendly-name-altered", altered, flipped(good, name_at + 1),
        Pkcs12IntegrityError, integrity)  # fmt: skip
    attributes_at = good.rindex(bytes.fromhex("06092a864886f70d010914")) - 4
    # An altered ciphertext no longer decrypts with the right password either: that is
    # exactly what a wrong password looks like, and the message says both.
    add("key-ciphertext-altered", "Wrong password", flipped(good, attributes_at - 40),
        Pkcs12WrongPassword, "or the file was altered")  # fmt: skip

    # nothing in it, or nothing the card can hold
    add("empty-pfx", "Empty", build_pfx([]), Pkcs12Empty, "neither a private key")
    add("empty-safe-contents", "Empty", build_pfx([[]]), Pkcs12Empty, "neither a private key")
    unsupported: dict[str, tuple[PrivateKeyTypes, str]] = {
        "ed25519": (seeded_ed25519("key"), "cannot hold Ed25519 keys"),
        "ed448": (seeded_ed448("key"), "cannot hold Ed448 keys"),
        "dsa-2048": (fixture_key(DSA_FIXTURE), "cannot hold DSA keys"),
        "rsa-1031": (seeded_rsa(1031, "odd"), "1031-bit RSA key"),
        "ec-secp224r1": (seeded_ec(ec.SECP224R1(), "key"), "secp224r1"),
    }
    for name, (key, fragment) in unsupported.items():
        add(f"key-{name}", "Key the card cannot hold", standard_p12(key), NothingToImport, fragment)
        add(
            f"key-{name}-no-certificate",
            "Key the card cannot hold",
            standard_p12(key, common_name=None),
            NothingToImport,
            fragment,
        )
    add(
        "key-rsa-8192",
        "Key the card cannot hold",
        RSA8192_FIXTURE.read_bytes(),
        NothingToImport,
        "8192-bit RSA key",
    )
    hand_made = {
        "x25519": (pkcs8(seeded_x25519("key")), "such as X25519"),
        "ec-secp224k1": (
            ec_pkcs8("1.3.132.0.32", _scalar("secp224k1", 28)),
            "secp224k1: the SmartCard-HSM cannot hold",
        ),
        "ec-sect283k1": (
            ec_pkcs8("1.3.132.0.16", _scalar("sect283k1", 36)),
            "sect283k1: the SmartCard-HSM cannot hold",
        ),
        "ec-brainpoolP320r1": (
            ec_pkcs8("1.3.36.3.3.2.8.1.1.9", _scalar("bp320", 40)),
            "brainpoolP320r1: the SmartCard-HSM could hold it",
        ),
    }
    for name, (key_info, fragment) in hand_made.items():
        add(
            f"key-{name}",
            "Key this program cannot read",
            build_pfx([[key_bag(key_info)]]),
            Pkcs12UnsupportedContent,
            fragment,
        )

    # accepted with a warning, or certificates only
    stranger = certificate("Somebody else", seeded_ec(ec.SECP256R1(), "stranger").public_key())
    der = serialization.Encoding.DER
    add(
        "certificate-of-another-key",
        "Accepted with a warning",
        build_pfx(
            [[key_bag(pkcs8(p256), b"\x01"), certificate_bag(stranger.public_bytes(der), b"\x01")]]
        ),
        None,
        check=_expect_keys(1, 1, "does not match this key", certificate=False),
    )
    add(
        "two-keys",
        "Controls (must open)",
        build_pfx([[key_bag(pkcs8(p256)), key_bag(pkcs8(seeded_ec(ec.SECP256R1(), "two")))]]),
        None,
        check=_expect_keys(2, 0, certificate=False),
    )
    add(
        "certificates-only",
        "Certificates without a key (CA import)",
        standard_p12(None, cas=ca_certificates()),
        None,
        check=_expect_keys(0, 2),
    )

    # size and path
    add(
        "size-1-MiB-plus-1",
        "Too large",
        good + bytes(MAX_PKCS12_SIZE + 1 - len(good)),
        Pkcs12TooLarge,
        f"above {MAX_PKCS12_SIZE} bytes",
    )
    add(
        "size-10-MB",
        "Too large",
        good + bytes(10_000_000 - len(good)),
        Pkcs12TooLarge,
        "has 10000000 bytes",
    )
    add(
        "path-is-a-directory",
        "Unreadable path",
        None,
        Pkcs12Unreadable,
        "Is a directory",
        path=directory,
    )
    add(
        "path-missing",
        "Unreadable path",
        None,
        Pkcs12Unreadable,
        "No such file",
        path=directory / "missing.p12",
    )
    add(
        "path-through-a-file",
        "Unreadable path",
        None,
        Pkcs12Unreadable,
        "Not a directory",
        path=directory / "control-p256-chain.p12" / "inner.p12",
    )
    dangling = directory / "dangling.p12"
    dangling.symlink_to(directory / "nowhere.p12")
    add(
        "path-dangling-symlink",
        "Unreadable path",
        None,
        Pkcs12Unreadable,
        "No such file",
        path=dangling,
    )
    return cases
