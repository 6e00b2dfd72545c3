"""The layering rule: lower layers import neither Qt nor pyscard, and never a higher layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keymanager"

LAYERS = ["dkek", "card", "simulator", "workflows", "cli"]
HIGHER_THAN_DKEK = tuple(
    f"keymanager.{layer}" for layer in ["card", "simulator", "workflows", "gui", "cli"]
)


def _modules_of(layer: str) -> list[str]:
    names = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_without_qt_or_pyscard(layer: str) -> None:
    modules = _modules_of(layer)
    assert modules, f"keymanager/{layer} has no modules"
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'smartcard'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_dkek_does_not_import_higher_layers() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_modules_of('dkek')!r}:\n"
        "    importlib.import_module(name)\n"
        f"higher = {HIGHER_THAN_DKEK!r}\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(higher))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
