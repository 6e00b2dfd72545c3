"""The PC/SC transport's error mapping, tested without a running pcscd.

pcsc-lite's client library finds pcscd through the socket named by
``PCSCLITE_CSOCK_NAME``; pointing it at a path where nothing listens makes every
PC/SC call fail the way it does on a machine without pcscd.  The variable is read
when the library loads, so those checks run in a subprocess.  (Talking to a real
pcscd with a virtual card is covered by the pcscd + vpcd harness in tests/pcsc.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("smartcard")

from keymanager.card import errors
from keymanager.card.pcsc import (
    CARD_IN_USE,
    SCARD_E_NO_READERS_AVAILABLE,
    SCARD_E_NO_SERVICE,
    SCARD_E_NO_SMARTCARD,
    SCARD_E_SERVICE_STOPPED,
    SCARD_E_SHARING_VIOLATION,
    SCARD_E_UNKNOWN_READER,
    SCARD_F_COMM_ERROR,
    SCARD_W_REMOVED_CARD,
    SCARD_W_RESET_CARD,
    SCARD_W_UNPOWERED_CARD,
    error_for_pcsc,
)

REPOSITORY = Path(__file__).resolve().parents[2]


def _run_without_pcscd(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PCSCLITE_CSOCK_NAME"] = str(tmp_path / "no-pcscd-here.comm")
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPOSITORY,
        timeout=60,
        check=False,
    )


def test_list_readers_without_pcscd_raises_pcsc_unavailable(tmp_path: Path) -> None:
    result = _run_without_pcscd(
        "from keymanager.card.pcsc import list_readers\n"
        "from keymanager.card.errors import PcscUnavailable\n"
        "try:\n"
        "    list_readers()\n"
        "except PcscUnavailable as error:\n"
        "    print('PcscUnavailable:', error)\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PcscUnavailable:")
    assert "pcscd is not running" in result.stdout


def test_opening_a_reader_without_pcscd_raises_pcsc_unavailable(tmp_path: Path) -> None:
    result = _run_without_pcscd(
        "from keymanager.card.pcsc import PcscTransport\n"
        "from keymanager.card.errors import PcscUnavailable, TransportError\n"
        "try:\n"
        "    PcscTransport('Virtual PCD 00 00')\n"
        "except PcscUnavailable as error:\n"
        "    print(type(error).__name__, isinstance(error, TransportError))\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PcscUnavailable", "True"]


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (SCARD_E_NO_SERVICE, errors.PcscUnavailable),
        (SCARD_E_SERVICE_STOPPED, errors.PcscUnavailable),
        (SCARD_E_NO_READERS_AVAILABLE, errors.NoReader),
        (SCARD_E_UNKNOWN_READER, errors.NoReader),
        (SCARD_E_NO_SMARTCARD, errors.NoCard),
        (SCARD_W_REMOVED_CARD, errors.CardRemoved),
        (SCARD_W_UNPOWERED_CARD, errors.CardRemoved),
        (SCARD_W_RESET_CARD, errors.CardReset),
        (SCARD_E_SHARING_VIOLATION, errors.CardInUse),
        (SCARD_F_COMM_ERROR, errors.TransportError),
    ],
)
def test_pcsc_codes_map_to_the_typed_tree(code: int, cls: type[errors.TransportError]) -> None:
    error = error_for_pcsc(code, "reader X")
    assert type(error) is cls
    assert str(error).startswith("reader X: ")


def test_negative_codes_from_pyscard_are_normalised() -> None:
    signed = SCARD_W_REMOVED_CARD - (1 << 32)
    assert type(error_for_pcsc(signed, "r")) is errors.CardRemoved


def test_card_in_use_names_the_usual_culprit() -> None:
    text = str(error_for_pcsc(SCARD_E_SHARING_VIOLATION, "Reader 0"))
    assert CARD_IN_USE in text
    assert "scdaemon" in text
