"""Every CLI test runs under both simulator profiles (genuine and pico)."""

from __future__ import annotations

from tests.support.profiles import pytest_configure, simulator_profile

__all__ = ["pytest_configure", "simulator_profile"]
