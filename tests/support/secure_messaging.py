"""Run tests with secure messaging on and off.

:func:`secure_messaging` is an autouse fixture parametrised over ``sm`` (a channel is
opened where the card offers one, the default of keymanager) and ``clear`` (turned
off): it sets ``KEYMANAGER_SECURE_MESSAGING`` for the module, so every session opened
without an explicit mode, in-process or in a CLI subprocess, runs that way.  Test ids
get ``[sm]`` or ``[clear]``.  Import it into a ``conftest.py``::

    from tests.support.secure_messaging import secure_messaging  # noqa: F401

Elsewhere the suite runs in the clear (``tests/conftest.py`` sets the variable to
``off`` for the session), so scripted-APDU tests see exactly the APDUs they script.
``KEYMANAGER_TEST_SECURE_MESSAGING=sm`` runs only the mode named.

On ``sm``, :func:`no_secret_in_the_clear` (autouse, per test) watches every simulated
card for a PIN, SO-PIN, share or key blob arriving in a plain APDU, and fails the test
that sent one.  A test that means to (a session turned off, a card without secure
messaging) says so with ``@pytest.mark.secrets_in_the_clear``; one that turns it off
through ``KEYMANAGER_SECURE_MESSAGING=off`` is not watched while the variable says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from keymanager.card.secure_messaging import MODE_VARIABLE
from keymanager.simulator.card import SmartCardHsmSimulator

_SELECTED = [
    name.strip()
    for name in os.environ.get("KEYMANAGER_TEST_SECURE_MESSAGING", "").split(",")
    if name.strip()
]
TEST_MODES = _SELECTED or ["sm", "clear"]
_SETTING = {"sm": "auto", "clear": "off"}
if set(TEST_MODES) - set(_SETTING):
    raise ValueError("KEYMANAGER_TEST_SECURE_MESSAGING takes sm and/or clear")


@pytest.fixture(autouse=True, scope="module", params=TEST_MODES)
def secure_messaging(request: pytest.FixtureRequest) -> Iterator[str]:
    """``sm`` or ``clear``: whether this module's sessions run on secure messaging."""
    name = str(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODE_VARIABLE, _SETTING[name])
        yield name


def secret_in_the_clear(apdu: bytes) -> str | None:
    """The name of the secret a plain command APDU carries, or ``None``."""
    if len(apdu) < 5 or apdu[0] & 0x0C:
        return None
    ins, p1, has_data = apdu[1], apdu[2], len(apdu) > 5
    if ins == 0x20 and has_data:
        return "a PIN (VERIFY)"
    if ins in (0x24, 0x2C) and has_data:
        return "a PIN or SO-PIN (CHANGE / RESET RETRY COUNTER)"
    if ins == 0x50:
        return "the PINs of INITIALIZE"
    if ins == 0x52 and p1 == 0x00 and has_data:
        return "a DKEK share (IMPORT DKEK SHARE)"
    if ins == 0x74 and has_data:
        return "a key blob (UNWRAP KEY)"
    if ins == 0xD7 and apdu[2:4] == b"\x2f\x10":
        return "a key blob (UPDATE BINARY 2F10)"
    return None


@pytest.fixture(autouse=True)
def no_secret_in_the_clear(
    request: pytest.FixtureRequest, secure_messaging: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """On ``sm``: fail a test whose sessions sent a secret in a plain APDU."""
    if secure_messaging != "sm" or request.node.get_closest_marker("secrets_in_the_clear"):
        yield
        return
    seen: list[str] = []
    original: Callable[[SmartCardHsmSimulator, bytes], bytes] = SmartCardHsmSimulator.process_apdu

    def watched(card: SmartCardHsmSimulator, apdu: bytes) -> bytes:
        secret = secret_in_the_clear(bytes(apdu))
        if secret is not None and os.environ.get(MODE_VARIABLE) != "off":  # not turned off
            seen.append(f"{secret}: {bytes(apdu[:4]).hex().upper()}")
        return original(card, apdu)

    monkeypatch.setattr(SmartCardHsmSimulator, "process_apdu", watched)
    yield
    assert not seen, f"sent in the clear on secure messaging: {seen}"
