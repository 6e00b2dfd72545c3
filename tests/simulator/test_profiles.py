"""Simulator profiles: genuine SmartCard-HSM and Pico HSM (pcsc-testing.md items 1 to 16)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from keymanager.simulator import GENUINE, PICO, PROFILES, SmartCardHsmSimulator
from keymanager.simulator.profiles import (
    PROFILE_ENVIRONMENT_VARIABLE,
    default_profile_name,
    profile_by_name,
)

# --- choosing and storing the profile -------------------------------------------------


def test_profiles_are_named_and_frozen() -> None:
    assert PROFILES == {"genuine": GENUINE, "pico": PICO}
    assert profile_by_name("pico") is PICO
    with pytest.raises(dataclasses.FrozenInstanceError):
        GENUINE.hide_kcv_until_login = True  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"unknown simulator profile 'nitro'.*genuine, pico"):
        profile_by_name("nitro")


def test_default_profile_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_ENVIRONMENT_VARIABLE, raising=False)
    assert default_profile_name() == "genuine"
    assert SmartCardHsmSimulator().profile is GENUINE
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert default_profile_name() == "pico"
    assert SmartCardHsmSimulator().profile is PICO
    assert SmartCardHsmSimulator(profile="genuine").profile is GENUINE
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "nitro")
    with pytest.raises(ValueError, match="KEYMANAGER_SIMULATOR_PROFILE='nitro'"):
        default_profile_name()
    with pytest.raises(ValueError, match="names no simulator profile"):
        SmartCardHsmSimulator()


def test_state_file_keeps_its_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert SmartCardHsmSimulator(path).profile is PICO
    assert json.loads(path.read_text())["profile"] == "pico"
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "genuine")
    assert SmartCardHsmSimulator(path).profile is PICO  # the file decides
    assert SmartCardHsmSimulator(path, profile="genuine").profile is GENUINE  # explicit wins
    assert json.loads(path.read_text())["profile"] == "genuine"
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert SmartCardHsmSimulator(path).profile is GENUINE


def test_old_state_files_load_as_genuine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.json"
    SmartCardHsmSimulator(path, profile="pico")
    data = json.loads(path.read_text())
    del data["profile"]
    path.write_text(json.dumps(data))
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, "pico")
    assert SmartCardHsmSimulator(path).profile is GENUINE


def test_hide_kcv_override_and_custom_profile() -> None:
    assert SmartCardHsmSimulator(profile="pico").hide_kcv_until_login is True
    assert (
        SmartCardHsmSimulator(profile="pico", hide_kcv_until_login=False).hide_kcv_until_login
        is False
    )
    assert SmartCardHsmSimulator(hide_kcv_until_login=True).profile is GENUINE
    faulty = dataclasses.replace(PICO, ec_unwrap_fails_after_key_file=True)
    simulator = SmartCardHsmSimulator(profile=faulty)
    assert simulator.profile is faulty and simulator.state.profile == "pico"
