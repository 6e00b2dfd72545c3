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
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from keymanager.card.secure_messaging import MODE_VARIABLE

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
