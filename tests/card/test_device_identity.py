"""Device identity: which PKI a device certificate chain belongs to, and the words for it.

Real Pico HSM chains (``tests/card/vectors/README.md``) verify device → DV; Pico's root
CVCAs are not shipped (not found in Pico's public sources), so the root step is tested
with a root built here and injected into ``roots.PICO_ROOTS`` for the test only.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from keymanager.card import roots
from keymanager.card.cvc import (
    DeviceCertificate,
    DeviceIdentity,
    Genuineness,
    unreadable_identity_text,
)
from keymanager.dkek.curves import CurveParameters, curve_by_name
from tests.card.scripted import unhex
from tests.card.test_cvc import _certificate, _ec_key_template, _ecdsa_sign_plain, _flip

VECTORS = Path(__file__).parent / "vectors"
NITROKEY = unhex((VECTORS / "nitrokey-hsm2-ef2f02.hex").read_text())
PICO_DV1 = unhex((VECTORS / "pico-hsm-ef2f02-dv00001.hex").read_text())
PICO_DV2 = unhex((VECTORS / "pico-hsm-ef2f02-dv00002.hex").read_text())

PICO_TEXT = "Pico HSM (device certificate from Pico's PKI)"


def _key(curve: CurveParameters) -> int:
    return secrets.randbelow(curve.order - 1) + 1


def _chain(
    curve: CurveParameters, root_car: str, dv_chr: str, device_chr: str, *, full_root: bool = True
) -> tuple[bytes, bytes, bytes]:
    """(root CVC, device CVC, DV CVC) of a fresh three-level chain on ``curve``."""
    root_d, dv_d, device_d = _key(curve), _key(curve), _key(curve)
    root = _certificate(
        root_car,
        root_car,
        _ec_key_template(curve, root_d, domain=full_root),
        lambda body: _ecdsa_sign_plain(curve, root_d, body),
    )
    dv = _certificate(
        root_car,
        dv_chr,
        _ec_key_template(curve, dv_d, domain=False),
        lambda body: _ecdsa_sign_plain(curve, root_d, body),
    )
    device = _certificate(
        dv_chr,
        device_chr,
        _ec_key_template(curve, device_d, domain=False),
        lambda body: _ecdsa_sign_plain(curve, dv_d, body),
    )
    return root, device, dv


# --- real Pico HSM chains -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "device_chr", "dv", "curve"),
    [
        (PICO_DV1, "ESPICOHSMTRJZX1J", "ESPICOHSMDV00001", "secp256r1"),
        (PICO_DV2, "ESPICOHSMTRLRA4C", "ESPICOHSMDV00002", "secp256k1"),
    ],
)
def test_real_pico_chains_verify_as_pico(data: bytes, device_chr: str, dv: str, curve: str) -> None:
    chain = DeviceCertificate.parse(data)
    assert chain.chr == device_chr
    assert chain.serial == device_chr[:-5]
    assert chain.issuer is not None and chain.issuer.chr == dv
    assert chain.issuer.raw == roots.PICO_DVS[dv][0]
    identity = chain.identity()
    assert identity.verdict is Genuineness.PICO_HSM
    assert identity.issuer == dv.replace("DV", "CA")
    assert identity.text == PICO_TEXT
    assert identity.short == "Pico HSM"
    assert chain.device_domain() == curve_by_name(curve)


def test_no_pico_root_certificate_ships() -> None:
    # not found in Pico's public sources: the anchors are the DVs, nothing pretends more
    assert roots.PICO_ROOTS == {}
    assert set(roots.PICO_ROOT_CHRS) == {"ESPICOHSMCA00001", "ESPICOHSMCA00002"}


def test_a_tampered_pico_device_certificate_fails() -> None:
    signature_at = PICO_DV2.index(b"\x5f\x37\x40") + 3
    chain = DeviceCertificate.parse(_flip(PICO_DV2, signature_at + 5))
    identity = chain.identity()
    assert identity.verdict is Genuineness.PICO_FAILED
    assert identity.text == (
        "Pico HSM chain FAILS: the device certificate claims Pico's PKI "
        "(issuer ESPICOHSMCA00002) but does not verify"
    )
    assert identity.short == "Pico HSM chain FAILS"
    assert "NOT GENUINE" not in identity.text


def test_a_changed_pico_device_key_fails() -> None:
    point_at = PICO_DV2.index(b"\x86\x41\x04") + 3
    chain = DeviceCertificate.parse(_flip(PICO_DV2, point_at + 9))
    assert chain.verify_chain() is Genuineness.PICO_FAILED


def test_a_dv_that_differs_from_the_anchored_one_fails() -> None:
    dv_signature_at = PICO_DV2.rindex(b"\x5f\x37\x40") + 3
    chain = DeviceCertificate.parse(_flip(PICO_DV2, dv_signature_at + 20))
    assert chain.verify_chain() is Genuineness.PICO_FAILED


def test_a_device_certificate_signed_by_an_anchored_dv_verifies_alone() -> None:
    length = PICO_DV2[3] + 4  # 7F21 81 E5 …
    chain = DeviceCertificate.parse(PICO_DV2[:length])
    assert chain.issuer is None
    assert chain.verify_chain() is Genuineness.PICO_HSM
    assert chain.device_domain() == curve_by_name("secp256k1")


def test_a_pico_device_under_a_foreign_dv_key_claiming_pico_fails() -> None:
    curve = curve_by_name("secp256k1")
    _, device, dv = _chain(curve, "ESPICOHSMCA00002", "ESPICOHSMDV00002", "ESPICOHSMTRFAKE1")
    assert DeviceCertificate.parse(device + dv).verify_chain() is Genuineness.PICO_FAILED


# --- Pico chains under an injected test root ------------------------------------------------


def test_a_pico_chain_verifies_in_full_under_a_root_in_pico_roots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    curve = curve_by_name("secp256k1")
    root, device, dv = _chain(curve, "ESPICOHSMCA00001", "ESPICOHSMDV00009", "ESPICOHSMTRTEST1")
    chain = DeviceCertificate.parse(device + dv)
    # without the root: a Pico root by name, but no key to check the DV against
    identity = chain.identity()
    assert identity.verdict is Genuineness.UNVERIFIED
    assert identity.known_pico_root
    assert identity.text == (
        "unverified device (issuer ESPICOHSMCA00001: a Pico HSM root whose key "
        "keymanager does not have)"
    )
    monkeypatch.setitem(roots.PICO_ROOTS, "ESPICOHSMCA00001", root)
    assert chain.identity() == DeviceIdentity(Genuineness.PICO_HSM, "ESPICOHSMCA00001")
    assert chain.device_domain() == curve
    forged_dv = DeviceCertificate.parse(device + _flip(dv, len(dv) - 4))
    assert forged_dv.verify_chain() is Genuineness.PICO_FAILED
    signature_at = device.index(b"\x5f\x37") + 3
    forged_device = DeviceCertificate.parse(_flip(device, signature_at) + dv)
    assert forged_device.verify_chain() is Genuineness.PICO_FAILED


# --- unknown roots and CardContact's ----------------------------------------------------------


def test_a_chain_to_an_unknown_root_is_unverified_with_the_issuer_named() -> None:
    curve = curve_by_name("brainpoolP256r1")
    _, device, dv = _chain(curve, "XXOTHERCA00001", "XXOTHERDV00001", "XXDEVICE12300001")
    identity = DeviceCertificate.parse(device + dv).identity()
    assert identity.verdict is Genuineness.UNVERIFIED
    assert identity.issuer == "XXOTHERCA00001"
    assert identity.text == "unverified device (issuer XXOTHERCA00001: no root keymanager knows)"
    assert identity.short == "unverified device"


def test_a_chain_claiming_cardcontacts_root_that_fails_is_not_genuine() -> None:
    curve = curve_by_name("brainpoolP256r1")
    _, device, dica = _chain(curve, "DESRCACC100001", "DEDICA99900001", "DEXX999999900001")
    identity = DeviceCertificate.parse(device + dica).identity()
    assert identity.verdict is Genuineness.NOT_GENUINE
    assert identity.text == "NOT GENUINE: the device certificate does not verify"
    assert identity.short == "NOT GENUINE"


def test_a_tampered_nitrokey_chain_is_not_genuine_and_the_real_one_genuine() -> None:
    assert DeviceCertificate.parse(NITROKEY).identity().text == "genuine"
    signature_at = NITROKEY.index(b"\x5f\x37\x40") + 3
    tampered = DeviceCertificate.parse(_flip(NITROKEY, signature_at + 7))
    assert tampered.identity().verdict is Genuineness.NOT_GENUINE


def test_a_device_certificate_naming_a_cardcontact_dica_alone_is_not_genuine() -> None:
    device_only = NITROKEY[: 4 + NITROKEY[3]]
    identity = DeviceCertificate.parse(device_only).identity()
    assert identity.verdict is Genuineness.NOT_GENUINE
    assert identity.issuer == "DEDINK0400001"


# --- the words ------------------------------------------------------------------------------


def test_every_verdict_has_words_and_the_json_values_are_stable() -> None:
    assert {verdict.value for verdict in Genuineness} == {
        "genuine",
        "pico hsm",
        "unverified (simulator)",
        "unverified",
        "pico hsm chain fails",
        "not genuine",
    }
    for verdict in Genuineness:
        identity = DeviceIdentity(verdict, "ISSUER")
        assert identity.text and identity.short
    assert DeviceIdentity(Genuineness.UNVERIFIED_SIMULATOR).text == "unverified (simulator)"
    assert [v for v in Genuineness if v.verified] == [
        Genuineness.GENUINE,
        Genuineness.PICO_HSM,
        Genuineness.UNVERIFIED_SIMULATOR,
    ]
    assert unreadable_identity_text("6A82") == (
        "unknown: the device certificate could not be read (6A82)"
    )
