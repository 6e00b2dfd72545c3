"""Key backup containers (.wky): the real-device file, round trips, tolerance and refusals."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keymanager.dkek.dkek import Dkek
from keymanager.dkek.errors import BackupFileError
from keymanager.dkek.keyblob import KeyType, decode_key
from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from keymanager.dkek.wky import KeyBackup, parse_backup, read_backup_file, write_backup_file

VECTORS_PATH = (
    Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "dkek-vectors.json"
)

PRKD = bytes.fromhex("a01e30060c047465737430080401010303072080a10a30083002040002020100")
CV_REQUEST = encode_tlv(0x67, encode_tlv(0x7F21, bytes(10)))
X509 = encode_tlv(0x30, encode_tlv(0x30, bytes(20)) + encode_tlv(0x03, bytes(8)))


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    assert VECTORS_PATH.is_file(), (
        f"the published DKEK test vectors are missing: expected them at {VECTORS_PATH} "
        "(the shared folder beside the repository checkout)"
    )
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text())["wrapped_key_file"]
    return data


@pytest.fixture(scope="module")
def container(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["wky_hex"])


def test_real_device_container_parses(vector: dict[str, Any], container: bytes) -> None:
    assert len(container) == 926
    backup = parse_backup(container)
    assert len(backup.blob) == 363
    assert backup.blob[:8].hex() == vector["expected"]["kcv_hex"]
    assert backup.prkd is not None and backup.prkd[0] == 0xA0  # an OpenSC ECC PRKD
    assert b"btc-test" in backup.prkd
    label = read_tlv(read_tlv(backup.prkd).value).value  # SEQUENCE { UTF8String label }
    assert read_tlv(label).value == b"btc-test"
    assert backup.certificate is not None and backup.certificate[0] == 0x67
    assert backup.has_cv_request
    # the CV request holds the key's public point (tag 86), the same one as the blob
    assert bytes.fromhex("8641" + vector["expected"]["public_point_hex"]) in backup.certificate
    assert backup.to_der() == container


def test_real_device_blob_from_the_container_decodes(
    vector: dict[str, Any], container: bytes
) -> None:
    backup = parse_backup(container)
    decoded = decode_key(Dkek.from_value(bytes.fromhex(vector["dkek_hex"])), backup.blob)
    assert decoded.key_type is KeyType.EC


def test_sc_hsm_tool_container_with_blob_only() -> None:
    data = bytes.fromhex("3005 0403 aabbcc")
    backup = parse_backup(data)
    assert backup == KeyBackup(bytes.fromhex("aabbcc"))
    assert backup.prkd is None and backup.certificate is None
    assert not backup.has_cv_request
    assert backup.to_der() == data


def test_container_with_prkd_only_and_with_x509() -> None:
    blob = bytes(range(49))
    with_prkd = KeyBackup(blob, PRKD)
    assert parse_backup(with_prkd.to_der()) == with_prkd
    full = KeyBackup(blob, PRKD, X509)
    parsed = parse_backup(full.to_der())
    assert parsed == full and not parsed.has_cv_request


def test_elements_are_taken_by_position_whatever_their_tags() -> None:
    odd_prkd = encode_tlv(0xA8, b"\x30\x00")  # an AES key description
    odd_certificate = encode_tlv(0x04, b"not really a certificate")
    data = encode_tlv(0x30, encode_tlv(0x04, b"blob") + odd_prkd + odd_certificate)
    backup = parse_backup(data)
    assert backup.prkd == odd_prkd
    assert backup.certificate == odd_certificate
    x509_alone = encode_tlv(0x30, encode_tlv(0x04, b"blob") + X509)
    assert parse_backup(x509_alone).prkd == X509  # second position is the PRKD slot


def test_a_cv_request_right_after_the_blob_is_the_certificate() -> None:
    data = encode_tlv(0x30, encode_tlv(0x04, b"blob") + CV_REQUEST)
    backup = parse_backup(data)
    assert backup.prkd is None
    assert backup.certificate == CV_REQUEST
    assert backup.to_der() == data


def test_non_minimal_ber_lengths_are_accepted(container: bytes) -> None:
    inner = bytes.fromhex("0483000003 aabbcc") + PRKD
    data = bytes.fromhex("3084") + len(inner).to_bytes(4, "big") + inner
    backup = parse_backup(data)
    assert backup.blob == bytes.fromhex("aabbcc") and backup.prkd == PRKD
    assert backup.to_der() == encode_tlv(0x30, encode_tlv(0x04, backup.blob) + PRKD)


def test_bytes_after_the_sequence_are_ignored(container: bytes) -> None:
    assert parse_backup(container + b"\x00\x00garbage") == parse_backup(container)


def test_every_truncation_is_refused(container: bytes) -> None:
    for length in range(len(container)):
        with pytest.raises(BackupFileError):
            parse_backup(container[:length])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "empty"),
        ("3100", r"not a key backup: .* SEQUENCE \(tag 30\) but with tag 31"),
        ("0403aabbcc", r"SEQUENCE \(tag 30\) but with tag 04"),
        ("3080 0400 0000", "indefinite length"),
        ("3085 0100000000", "length overflow"),
        ("3005 0406aabbcc", "truncated"),
        ("3000", "SEQUENCE is empty"),
        ("3005 0203010001", r"not an OCTET STRING \(tag 04\).*tag 02"),
        ("3007 2405 0403aabbcc", r"not an OCTET STRING \(tag 04\).*tag 24"),
        ("3002 0400", "key blob is empty"),
        ("300b 0401aa 0400 0400 0400 0400", "5 elements"),
        ("3005 0401aa 0401", "contents are damaged"),
        ("3004 0401aa 00", "contents are damaged"),
    ],
)
def test_refusals_say_why(data: str, message: str) -> None:
    with pytest.raises(BackupFileError, match=message):
        parse_backup(bytes.fromhex(data))


def test_backup_contents_are_checked() -> None:
    with pytest.raises(BackupFileError, match="empty"):
        KeyBackup(b"")
    with pytest.raises(BackupFileError, match=r"PRKD.*not a well-formed TLV"):
        KeyBackup(b"blob", PRKD[:-1])
    with pytest.raises(BackupFileError, match="2 bytes after its TLV"):
        KeyBackup(b"blob", PRKD, X509 + b"\x00\x00")
    with pytest.raises(BackupFileError, match="without a PRKD"):
        KeyBackup(b"blob", None, X509)
    with pytest.raises(BackupFileError, match=r"CV request \(tag 67\) cannot be the PRKD"):
        KeyBackup(b"blob", CV_REQUEST, X509)
    with pytest.raises(BackupFileError, match="cannot be the PRKD"):
        parse_backup(encode_tlv(0x30, encode_tlv(0x04, b"blob") + CV_REQUEST + X509))
    assert KeyBackup(bytearray(b"blob"), bytearray(PRKD)).prkd == PRKD


prkds = st.one_of(
    st.none(), st.builds(encode_tlv, st.sampled_from([0x30, 0xA0, 0xA8]), st.binary(max_size=300))
)
certificates = st.one_of(
    st.none(), st.builds(encode_tlv, st.sampled_from([0x30, 0x67]), st.binary(max_size=300))
)


@given(st.binary(min_size=1, max_size=2000), prkds, certificates)
def test_round_trip(blob: bytes, prkd: bytes | None, certificate: bytes | None) -> None:
    if prkd is None and certificate is not None and certificate[0] != 0x67:
        prkd = PRKD
    backup = KeyBackup(blob, prkd, certificate)
    encoded = backup.to_der()
    assert parse_backup(encoded) == backup
    first_element = next(iter_tlvs(read_tlv(encoded, der=True).value, der=True))
    assert first_element.tag == b"\x04"


def test_write_backup_file_is_private_and_atomic(tmp_path: Path, container: bytes) -> None:
    backup = parse_backup(container)
    target = tmp_path / "key.wky"
    old_umask = os.umask(0)
    try:
        write_backup_file(target, backup)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == container
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert read_backup_file(target) == backup
    assert sorted(path.name for path in tmp_path.iterdir()) == ["key.wky"]


def test_write_backup_file_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "key.wky"
    target.write_bytes(b"old contents")
    target.chmod(0o644)
    backup = KeyBackup(b"new blob", PRKD)
    write_backup_file(str(target), backup)
    assert target.read_bytes() == backup.to_der()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_backup_file(target, backup, overwrite=False)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "key.wky"
    target.write_bytes(b"old contents")

    def failing_fsync(descriptor: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_backup_file(target, KeyBackup(b"new blob"))
    assert target.read_bytes() == b"old contents"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["key.wky"]


def test_read_backup_file_reports_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-backup.wky"
    path.write_bytes(b"hello")
    with pytest.raises(BackupFileError):
        read_backup_file(path)
