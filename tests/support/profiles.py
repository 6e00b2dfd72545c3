"""Run tests under every simulator profile (``genuine`` and ``pico``).

:func:`simulator_profile` is an autouse fixture parametrised over the profiles: it sets
``KEYMANAGER_SIMULATOR_PROFILE`` for the test, so every simulator created in-process
without an explicit profile, and every CLI or ``python -m keymanager.simulator``
subprocess started with a new state file, is that profile.  Test ids get ``[genuine]``
or ``[pico]``.  Import it (and the marker registration) into a ``conftest.py``::

    from tests.support.profiles import pytest_configure, simulator_profile  # noqa: F401

``KEYMANAGER_TEST_PROFILES=pico`` (comma-separated) runs only the profiles named.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from keymanager.simulator.profiles import (
    PROFILE_ENVIRONMENT_VARIABLE,
    PROFILES,
    SimulatorProfile,
    default_profile_name,
)

_SELECTED = [
    name.strip()
    for name in os.environ.get("KEYMANAGER_TEST_PROFILES", "").split(",")
    if name.strip()
]
TEST_PROFILES = _SELECTED or ["genuine", "pico"]
unknown = sorted(set(TEST_PROFILES) - set(PROFILES))
if unknown:
    raise ValueError(f"KEYMANAGER_TEST_PROFILES names unknown profiles: {', '.join(unknown)}")


def current_profile() -> SimulatorProfile:
    """The profile a simulator created now without an explicit profile gets."""
    return PROFILES[default_profile_name()]


def pytest_configure(config: pytest.Config) -> None:
    """Nothing to register (kept so conftests can import it)."""


@pytest.fixture(autouse=True, scope="module", params=TEST_PROFILES)
def simulator_profile(request: pytest.FixtureRequest) -> Iterator[str]:
    """The simulator profile of this module's run (``KEYMANAGER_SIMULATOR_PROFILE`` is set).

    Module-scoped, so a module runs whole under one profile and then under the next, and
    module-scoped card fixtures (created after this autouse fixture) are made afresh for
    each profile.
    """
    name = str(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROFILE_ENVIRONMENT_VARIABLE, name)
        yield name
