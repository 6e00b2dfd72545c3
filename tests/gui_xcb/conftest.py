"""Fixtures of the tests in real X11 windows: a private Xvfb for the session.

The pytest process itself stays offscreen (one process cannot switch Qt platforms), so
these tests run their Qt code in a subprocess with ``DISPLAY=:N QT_QPA_PLATFORM=xcb``
(:func:`tests.support.xvfb.xvfb_environment`).  Without Xvfb the tests skip on a
developer's machine and FAIL under CI (``CI=true``): ``dev.sh`` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.xvfb import INSTALL_HINT, XvfbError, XvfbServer, find_xvfb, start_xvfb


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def xvfb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XvfbServer]:
    """A private Xvfb for the session (stopped at its end)."""
    if find_xvfb() is None:
        message = f"Xvfb is not installed: the xcb tests need it; {INSTALL_HINT}"
        if _under_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        server = start_xvfb(tmp_path_factory.mktemp("xvfb"))
    except XvfbError as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()
