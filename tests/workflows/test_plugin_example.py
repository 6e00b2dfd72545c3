"""The example plug-in of docs/plugins.md works as the page says.

The code block marked ``example-plugin: kcv_check.py`` is written to a temporary
directory as ``kcv_check.py`` and imported, so the page cannot drift from working code;
the ``[project.entry-points."keymanager.plugins"]`` line of the page is loaded as a real
entry point.  The action then runs against simulated cards: a matching and a
different KCV, a domain still waiting for shares, an empty slot, mistyped input, and
a card that hides the KCV until the user PIN is verified (Pico HSM behaviour).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import MessageLevel, ScriptedInteraction, ScriptExhausted
from keymanager.workflows.plugins import (
    ENTRY_POINT_GROUP,
    ActionContext,
    NodeKind,
    PluginRegistry,
    load_registry,
)

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
PIN = "648219"
SHARES = [bytes(range(32)), bytes(range(32, 64))]
WRONG = "0000 0000 0000 0001"


def _example_source() -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(r"<!-- example-plugin: kcv_check\.py -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/plugins.md lost its example plug-in"
    return match.group(1)


def _entry_point_line() -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(r'\[project\.entry-points\."keymanager\.plugins"\]\n(\S+) = "([^"]+)"', text)
    assert match, "docs/plugins.md lost its entry-point example"
    return f"{match.group(1)}={match.group(2)}"


@pytest.fixture(scope="module")
def kcv_check(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    directory = tmp_path_factory.mktemp("plugin")
    (directory / "kcv_check.py").write_text(_example_source(), encoding="utf-8")
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("kcv_check")
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop("kcv_check", None)


def _card(*, hide_kcv: bool = False) -> SmartCardHsmSimulator:
    """Domain 0 complete (two shares), domain 1 waiting for 1 of 2, domain 2 empty."""
    simulator = SmartCardHsmSimulator(seed=b"plugin example", hide_kcv_until_login=hide_kcv)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=2, key_domains=3))
    for share in SHARES:
        hsm.import_dkek_share(share, 0)
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(1, 2)
    hsm.import_dkek_share(SHARES[0], 1)
    return simulator


def _run(
    kcv_check: ModuleType, simulator: SmartCardHsmSimulator, user: ScriptedInteraction, domain: int
) -> object:
    registry = PluginRegistry()
    assert registry.register(kcv_check.PLUGIN)
    action = registry.action("kcv-check.compare")
    hsm = SmartCardHsm.open(LocalTransport(simulator))  # a new session: PIN not verified
    return action.run(ActionContext(hsm, user, NodeKind.KEY_DOMAIN, node=domain))


def _recorded() -> str:
    kcv = format_kcv(Dkek.from_shares(SHARES).kcv())
    return " ".join(kcv[i : i + 4] for i in range(0, 16, 4)).lower()  # as an auditor types it


def test_registered_on_key_domains_only(kcv_check: ModuleType) -> None:
    registry = load_registry(discover=False)
    assert registry.register(kcv_check.PLUGIN)
    assert not registry.register(kcv_check.KcvCheckPlugin())  # one name registers once
    ids = [action.id for action in registry.actions_for(NodeKind.KEY_DOMAIN)]
    assert "kcv-check.compare" in ids and "pkcs12.import" in ids
    assert "kcv-check.compare" not in [a.id for a in registry.actions_for(NodeKind.DEVICE)]


def test_the_pages_entry_point_loads(kcv_check: ModuleType) -> None:
    name, _, value = _entry_point_line().partition("=")
    entry_point = metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
    registry = PluginRegistry()
    registry.discover([entry_point])
    assert registry.problems == []
    assert [plugin.name for plugin in registry.plugins] == ["kcv-check"]
    # a broken entry point is reported, not raised
    broken = metadata.EntryPoint(name="x", value="kcv_check:NOPE", group=ENTRY_POINT_GROUP)
    registry.discover([broken])
    assert len(registry.problems) == 1 and "'x'" in registry.problems[0]


def test_matching_and_differing_kcv(kcv_check: ModuleType) -> None:
    simulator = _card()
    user = ScriptedInteraction().answer("text", _recorded())
    result = _run(kcv_check, simulator, user, 0)
    assert result.matches is True  # type: ignore[attr-defined]
    assert result.to_json()["on_card"] == format_kcv(Dkek.from_shares(SHARES).kcv())  # type: ignore[attr-defined]
    assert user.texts(MessageLevel.INFO) == [result.summary()]  # type: ignore[attr-defined]
    assert user.finished

    user = ScriptedInteraction().answer("text", WRONG)
    result = _run(kcv_check, simulator, user, 0)
    assert result.matches is False  # type: ignore[attr-defined]
    assert "DIFFERS FROM the recorded 0000000000000001" in result.summary()  # type: ignore[attr-defined]
    assert user.texts(MessageLevel.WARNING) == [result.summary()]  # type: ignore[attr-defined]


def test_refusals(kcv_check: ModuleType) -> None:
    simulator = _card()
    with pytest.raises(WorkflowError, match="waits for 1 share"):
        _run(kcv_check, simulator, ScriptedInteraction().answer("text", WRONG), 1)
    with pytest.raises(WorkflowError, match="key domain 2 is empty"):
        _run(kcv_check, simulator, ScriptedInteraction().answer("text", WRONG), 2)
    with pytest.raises(WorkflowError, match="16 hexadecimal digits"):
        _run(kcv_check, simulator, ScriptedInteraction().answer("text", "7BDE4A01"), 0)


def test_hidden_kcv_asks_for_the_pin(kcv_check: ModuleType) -> None:
    simulator = _card(hide_kcv=True)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    status = hsm.key_domain_status(0)
    assert status is not None and status.kcv is None  # hidden before VERIFY
    # without a PIN in the script the plug-in must ask for one
    with pytest.raises(ScriptExhausted):
        _run(kcv_check, simulator, ScriptedInteraction().answer("text", _recorded()), 0)
    user = ScriptedInteraction().answer("text", _recorded()).answer("secret", PIN)
    result = _run(kcv_check, simulator, user, 0)
    assert result.matches is True  # type: ignore[attr-defined]
    assert user.finished
