"""The layering rule: lower layers import neither Qt nor pyscard, and never a higher layer.

pyscard (module ``smartcard``) belongs to ``keymanager.card.pcsc`` alone: every other
module of every layer must import with pyscard absent, and ``keymanager.card.pcsc``
must import when (and only when) pyscard is present.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keymanager"

LAYERS = ["dkek", "card", "simulator", "workflows", "cli"]
HIGHER_THAN_DKEK = tuple(
    f"keymanager.{layer}" for layer in ["card", "simulator", "workflows", "gui", "cli"]
)
PYSCARD_MODULE = "keymanager.card.pcsc"
BLOCK_PYSCARD = (
    "import sys\nsys.modules['smartcard'] = None  # any import of pyscard now raises ImportError\n"
)
_PYSCARD_IMPORT = re.compile(r"^\s*(?:import|from)\s+smartcard\b", re.MULTILINE)


def _modules_of(layer: str) -> list[str]:
    names = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_without_qt_or_pyscard(layer: str) -> None:
    modules = [name for name in _modules_of(layer) if name != PYSCARD_MODULE]
    assert modules, f"keymanager/{layer} has no modules"
    code = (
        BLOCK_PYSCARD + "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'PySide6')\n"
        "bad += sorted(\n"
        "    m for m in sys.modules if m.split('.')[0] == 'smartcard' and sys.modules[m]\n"
        ")\n"
        "print(','.join(bad))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_only_the_pcsc_module_mentions_pyscard_imports() -> None:
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "card" / "pcsc.py" and _PYSCARD_IMPORT.search(path.read_text())
    ]
    assert offenders == []


def test_pcsc_module_needs_pyscard() -> None:
    result = _run(BLOCK_PYSCARD + f"import {PYSCARD_MODULE}\n")
    assert result.returncode != 0
    assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr


def test_pcsc_module_imports_with_pyscard() -> None:
    pytest.importorskip("smartcard")
    result = _run(
        f"import sys, {PYSCARD_MODULE} as m\n"
        "print('smartcard' in sys.modules, callable(m.list_readers))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


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
