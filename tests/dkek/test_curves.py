"""The twelve SmartCard-HSM curves: parameters, lookups and the pure-Python arithmetic."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from keymanager.dkek.curves import (
    SUPPORTED_CURVES,
    CurveParameters,
    add_points,
    curve_by_cryptography_curve,
    curve_by_domain_parameters,
    curve_by_name,
    curve_by_oid,
    derive_public_point,
    is_on_curve,
    scalar_multiply,
)
from keymanager.dkek.errors import UnsupportedKey

_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)


def is_probable_prime(candidate: int) -> bool:
    """Miller-Rabin with fixed witnesses: enough to catch a mistyped constant."""
    if candidate < 2:
        return False
    for small in _WITNESSES:
        if candidate % small == 0:
            return candidate == small
    odd_part, twos = candidate - 1, 0
    while odd_part % 2 == 0:
        odd_part //= 2
        twos += 1
    for witness in _WITNESSES:
        value = pow(witness, odd_part, candidate)
        if value in (1, candidate - 1):
            continue
        for _ in range(twos - 1):
            value = value * value % candidate
            if value == candidate - 1:
                break
        else:
            return False
    return True


EXPECTED_NAMES_AND_OIDS = {
    "secp192r1": "1.2.840.10045.3.1.1",
    "secp256r1": "1.2.840.10045.3.1.7",
    "secp384r1": "1.3.132.0.34",
    "secp521r1": "1.3.132.0.35",
    "brainpoolP192r1": "1.3.36.3.3.2.8.1.1.3",
    "brainpoolP224r1": "1.3.36.3.3.2.8.1.1.5",
    "brainpoolP256r1": "1.3.36.3.3.2.8.1.1.7",
    "brainpoolP320r1": "1.3.36.3.3.2.8.1.1.9",
    "brainpoolP384r1": "1.3.36.3.3.2.8.1.1.11",
    "brainpoolP512r1": "1.3.36.3.3.2.8.1.1.13",
    "secp192k1": "1.3.132.0.31",
    "secp256k1": "1.3.132.0.10",
}

CRYPTOGRAPHY_CURVES = {
    "secp192r1": ec.SECP192R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}

curve_ids = [curve.name for curve in SUPPORTED_CURVES]
all_curves = pytest.mark.parametrize("curve", SUPPORTED_CURVES, ids=curve_ids)
cryptography_curves = [curve for curve in SUPPORTED_CURVES if curve.cryptography_curve]


def test_the_twelve_card_curves_with_their_oids() -> None:
    assert {curve.name: curve.oid for curve in SUPPORTED_CURVES} == EXPECTED_NAMES_AND_OIDS
    assert {
        curve.name: curve.cryptography_curve
        for curve in SUPPORTED_CURVES
        if curve.cryptography_curve is not None
    } == CRYPTOGRAPHY_CURVES


@all_curves
def test_domain_parameters_are_sound(curve: CurveParameters) -> None:
    assert is_probable_prime(curve.p)
    assert is_probable_prime(curve.order)
    assert curve.cofactor == 1
    assert curve.field_bytes == (curve.p.bit_length() + 7) // 8
    assert 0 <= curve.a < curve.p and 0 < curve.b < curve.p
    assert (4 * curve.a**3 + 27 * curve.b**2) % curve.p != 0  # non-singular
    assert is_on_curve(curve, curve.generator)
    assert scalar_multiply(curve, curve.order, curve.generator) is None
    assert scalar_multiply(curve, 1, curve.generator) == curve.generator
    minus_g = scalar_multiply(curve, curve.order - 1, curve.generator)
    assert minus_g == (curve.gx, (-curve.gy) % curve.p)
    # Hasse bound: |#E - (p + 1)| <= 2 sqrt(p)
    assert (curve.order * curve.cofactor - (curve.p + 1)) ** 2 <= 4 * curve.p


@pytest.mark.parametrize("curve", cryptography_curves, ids=lambda curve: curve.name)
def test_parameters_agree_with_cryptography(curve: CurveParameters) -> None:
    assert curve.cryptography_curve is not None
    instance = curve.cryptography_curve()
    assert instance.name == curve.name
    assert instance.key_size == curve.field_bits
    generator = ec.derive_private_key(1, instance).public_key().public_numbers()
    assert (generator.x, generator.y) == curve.generator
    for scalar in (2, 3, 0xDEADBEEF, curve.order - 2, curve.order // 3):
        numbers = ec.derive_private_key(scalar, instance).public_key().public_numbers()
        assert scalar_multiply(curve, scalar, curve.generator) == (numbers.x, numbers.y)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_scalar_multiplication_matches_cryptography_for_random_scalars(data: st.DataObject) -> None:
    curve = data.draw(st.sampled_from(cryptography_curves), label="curve")
    scalar = data.draw(st.integers(min_value=1, max_value=curve.order - 1), label="scalar")
    assert curve.cryptography_curve is not None
    key = ec.derive_private_key(scalar, curve.cryptography_curve())
    numbers = key.public_key().public_numbers()
    assert scalar_multiply(curve, scalar, curve.generator) == (numbers.x, numbers.y)
    assert derive_public_point(curve, scalar) == (numbers.x, numbers.y)


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from([c for c in SUPPORTED_CURVES if c.cryptography_curve is None]),
    st.integers(min_value=1, max_value=2**200),
    st.integers(min_value=1, max_value=2**200),
)
def test_arithmetic_is_a_group_homomorphism_on_the_curves_cryptography_lacks(
    curve: CurveParameters, first: int, second: int
) -> None:
    first_point = scalar_multiply(curve, first, curve.generator)
    second_point = scalar_multiply(curve, second, curve.generator)
    assert first_point is not None and is_on_curve(curve, first_point)
    assert second_point is not None
    total = add_points(curve, first_point, second_point)
    assert total == scalar_multiply(curve, first + second, curve.generator)
    assert derive_public_point(curve, first % curve.order or 1) == scalar_multiply(
        curve, first % curve.order or 1, curve.generator
    )
    assert scalar_multiply(curve, first, second_point) == scalar_multiply(
        curve, first * second, curve.generator
    )


def test_point_addition_edge_cases() -> None:
    curve = curve_by_name("brainpoolP320r1")
    generator = curve.generator
    minus_g = (curve.gx, (-curve.gy) % curve.p)
    assert add_points(curve, None, generator) == generator
    assert add_points(curve, generator, None) == generator
    assert add_points(curve, None, None) is None
    assert add_points(curve, generator, minus_g) is None
    assert add_points(curve, generator, generator) == scalar_multiply(curve, 2, generator)
    assert scalar_multiply(curve, 0, generator) is None


def test_scalar_multiply_refuses_bad_input() -> None:
    curve = curve_by_name("secp192k1")
    with pytest.raises(ValueError, match="negative"):
        scalar_multiply(curve, -1, curve.generator)
    with pytest.raises(ValueError, match="not on the curve"):
        scalar_multiply(curve, 2, (curve.gx, curve.gy + 1))
    assert not is_on_curve(curve, (curve.gx, curve.gy + 1))
    assert not is_on_curve(curve, (curve.gx + curve.p, curve.gy))
    assert not is_on_curve(curve, (-1, curve.gy))


@pytest.mark.parametrize("value", [0, -5])
def test_derive_public_point_refuses_out_of_range_values(value: int) -> None:
    curve = curve_by_name("secp256k1")
    with pytest.raises(ValueError, match="between 1 and the group order"):
        derive_public_point(curve, value)
    with pytest.raises(ValueError):
        derive_public_point(curve, curve.order)


@all_curves
def test_point_encoding_round_trips(curve: CurveParameters) -> None:
    point = scalar_multiply(curve, 0x1234567, curve.generator)
    assert point is not None
    encoded = curve.encode_point(point)
    assert len(encoded) == 1 + 2 * curve.field_bytes and encoded[0] == 4
    assert curve.decode_point(encoded) == point
    assert curve.decode_point(bytearray(encoded)) == point


def test_decode_point_refusals() -> None:
    curve = curve_by_name("secp256r1")
    encoded = curve.encode_point(curve.generator)
    with pytest.raises(ValueError, match="65 bytes, not 64"):
        curve.decode_point(encoded[:-1])
    with pytest.raises(ValueError, match="uncompressed"):
        curve.decode_point(b"\x03" + encoded[1:])
    with pytest.raises(ValueError, match="not on the curve"):
        curve.decode_point(encoded[:-1] + bytes([encoded[-1] ^ 1]))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("secp256r1", "secp256r1"),
        ("prime256v1", "secp256r1"),
        ("P-256", "secp256r1"),
        ("nistp256", "secp256r1"),
        ("NIST P-256", "secp256r1"),
        ("prime192v1", "secp192r1"),
        ("P-192", "secp192r1"),
        ("P-384", "secp384r1"),
        ("p521", "secp521r1"),
        ("BRAINPOOLP320R1", "brainpoolP320r1"),
        ("brainpool_p256_r1", "brainpoolP256r1"),
        ("secp256k1", "secp256k1"),
        ("secp192k1", "secp192k1"),
    ],
)
def test_lookup_by_name_and_alias(name: str, expected: str) -> None:
    assert curve_by_name(name).name == expected


@pytest.mark.parametrize("name", ["secp224r1", "P-224", "ed25519", "brainpoolP256t1", ""])
def test_lookup_of_an_unsupported_name_says_which(name: str) -> None:
    with pytest.raises(UnsupportedKey, match="does not support the curve"):
        curve_by_name(name)


@all_curves
def test_lookup_by_oid_and_by_domain_parameters(curve: CurveParameters) -> None:
    assert curve_by_oid(curve.oid) is curve
    found = curve_by_domain_parameters(
        p=curve.p, a=curve.a, b=curve.b, generator=curve.generator, order=curve.order
    )
    assert found is curve
    assert curve_by_name(curve.name) is curve


def test_domain_lookup_compares_coefficients_modulo_p() -> None:
    curve = curve_by_name("secp384r1")
    assert curve.a == curve.p - 3
    assert (
        curve_by_domain_parameters(
            p=curve.p, a=-3, b=curve.b, generator=curve.generator, order=curve.order
        )
        is curve
    )


@all_curves
def test_domain_lookup_without_a_uses_the_other_parameters(curve: CurveParameters) -> None:
    """An omitted a (Pico HSM's empty field) is the curve's own a, not zero."""
    found = curve_by_domain_parameters(
        p=curve.p, a=None, b=curve.b, generator=curve.generator, order=curve.order
    )
    assert found is curve


def test_domain_lookup_refuses_a_zero_for_an_a_minus_three_curve() -> None:
    curve = curve_by_name("secp521r1")
    with pytest.raises(UnsupportedKey, match="match none"):
        curve_by_domain_parameters(
            p=curve.p, a=0, b=curve.b, generator=curve.generator, order=curve.order
        )


def test_domain_lookup_refuses_unknown_parameters() -> None:
    curve = curve_by_name("secp256k1")
    with pytest.raises(UnsupportedKey, match="match none"):
        curve_by_domain_parameters(
            p=curve.p, a=curve.a, b=5, generator=curve.generator, order=curve.order
        )
    with pytest.raises(UnsupportedKey, match="match none"):
        curve_by_domain_parameters(
            p=curve.p, a=curve.a, b=curve.b, generator=(curve.gx, 1), order=curve.order
        )


def test_lookup_of_an_unknown_oid() -> None:
    with pytest.raises(UnsupportedKey, match=r"1\.3\.132\.0\.33"):
        curve_by_oid("1.3.132.0.33")


@pytest.mark.parametrize("curve", cryptography_curves, ids=lambda curve: curve.name)
def test_lookup_by_cryptography_curve(curve: CurveParameters) -> None:
    assert curve.cryptography_curve is not None
    assert curve_by_cryptography_curve(curve.cryptography_curve()) is curve


def test_lookup_by_cryptography_curve_refuses_curves_the_card_lacks() -> None:
    with pytest.raises(UnsupportedKey, match="secp224r1"):
        curve_by_cryptography_curve(ec.SECP224R1())


def test_repr_is_short() -> None:
    assert (
        repr(curve_by_name("secp256k1")) == "CurveParameters(name='secp256k1', oid='1.3.132.0.10')"
    )
