"""Every workflow test runs under both simulator profiles (genuine and pico), with
secure messaging on and off ([genuine|pico] x [sm|clear])."""

from __future__ import annotations

from tests.support.profiles import pytest_configure, simulator_profile
from tests.support.secure_messaging import no_secret_in_the_clear, secure_messaging

__all__ = ["no_secret_in_the_clear", "pytest_configure", "secure_messaging", "simulator_profile"]
