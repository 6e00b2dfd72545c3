"""What ``keymanager-cli`` imports: nothing of the card stack for ``--version``/``--help``.

A structural check of the start-up (``benchmarks/cli_start.py`` measures the time):
each case runs ``main`` in a fresh interpreter and lists the modules loaded by then.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY_PREFIXES = (
    "keymanager.card",
    "keymanager.workflows",
    "keymanager.dkek",
    "keymanager.simulator",
    "keymanager.diagnostics",
    "keymanager.gui",
    "cryptography",
    "PySide6",
    "smartcard",
    "importlib.metadata",
)
"""Modules the parser must not need: the card, DKEK and workflow stack and what it uses."""

PROGRAM = """
import json, sys
from keymanager.cli.main import main
try:
    status = main(json.loads(sys.argv[1]))
except SystemExit as stop:
    status = stop.code
with open(sys.argv[2], "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""


def loaded_modules(tmp_path: Path, argv: list[str]) -> tuple[object, list[str]]:
    """Run ``main(argv)`` in a new interpreter: its exit status and ``sys.modules``."""
    listing = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, json.dumps(argv), str(listing)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"XDG_STATE_HOME": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"},
    )
    assert listing.exists(), result.stderr
    data = json.loads(listing.read_text())
    return data["status"], data["modules"]


def heavy(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if any(name == prefix or name.startswith(prefix + ".") for prefix in HEAVY_PREFIXES)
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        [],
        ["keys", "--help"],
        ["share", "import", "--help"],
        ["domain", "delete", "--help"],
        ["status", "--no-such-option"],
        ["--reader", "", "status"],
        ["--reader", "X", "readers"],
    ],
    ids=lambda argv: " ".join(argv) or "no arguments",
)
def test_parsing_loads_no_card_workflow_or_crypto_module(tmp_path: Path, argv: list[str]) -> None:
    status, modules = loaded_modules(tmp_path, argv)
    assert status in (0, 2)
    assert heavy(modules) == []
    assert "keymanager.cli.main" in modules


def test_the_package_and_the_cli_package_import_nothing_else(tmp_path: Path) -> None:
    listing = tmp_path / "modules.json"
    code = (
        "import sys, json; import keymanager, keymanager.cli; "
        f"json.dump(sorted(sys.modules), open({str(listing)!r}, 'w'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    modules = json.loads(listing.read_text())
    assert [name for name in modules if name.startswith("keymanager")] == [
        "keymanager",
        "keymanager.cli",
    ]
    assert heavy(modules) == []


def test_listing_keys_on_the_simulator_loads_only_what_it_uses(tmp_path: Path) -> None:
    """``keys`` needs the card and the simulator, not Qt, PC/SC or other workflows."""
    state = tmp_path / "card.json"
    status, modules = loaded_modules(tmp_path, ["keys", "--simulator", str(state), "--json"])
    assert status == 0
    assert "keymanager.card.keystore" in modules
    assert "keymanager.simulator" in modules
    unused = (
        "PySide6",
        "smartcard",
        "keymanager.gui",
        "keymanager.card.pcsc",
        "keymanager.workflows.ceremony",
        "keymanager.workflows.import_p12",
        "keymanager.workflows.keys",
        "keymanager.workflows.device",
        "keymanager.workflows.audit",
        "keymanager.cli.interaction",
    )
    assert [
        name for name in modules if any(name == u or name.startswith(u + ".") for u in unused)
    ] == []


def test_version_names_the_installed_distribution(tmp_path: Path) -> None:
    from importlib.metadata import version

    import keymanager

    assert keymanager.__version__ == version("keymanager")
    result = subprocess.run(
        [sys.executable, "-m", "keymanager.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == f"keymanager-cli {version('keymanager')}"


def _command_names(parser: argparse.ArgumentParser) -> list[str]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(action.choices)


def test_the_command_table_names_what_each_module_registers() -> None:
    """main builds only the named command's module: its table must match the modules."""
    from keymanager.cli.main import COMMAND_MODULES, build_parser

    every = [name for names in COMMAND_MODULES.values() for name in names]
    assert _command_names(build_parser()) == every
    for module, names in COMMAND_MODULES.items():
        assert _command_names(build_parser([module])) == list(names), module


def test_an_option_value_that_looks_like_a_command_still_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--sim share keys``: "share" is the abbreviated --simulator's value, not the
    command; the parser with every command decides when the first guess fails."""
    from keymanager.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert main(["--sim", "share", "keys", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert (tmp_path / "share").is_file()
