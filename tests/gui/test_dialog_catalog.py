"""The dialog catalog: every entry's factory imports, names are unique, one call adds one."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QWidget

from keymanager.gui.dialog_catalog import CATALOG, ENTRIES, DialogCatalog


@pytest.mark.parametrize("name", CATALOG.names())
def test_every_entry_imports_its_factory(name: str) -> None:
    """A module that moved shows up here, naming the dialog whose entry to fix."""
    assert callable(CATALOG.entry(name).resolve())


def test_names_are_unique_and_described() -> None:
    names = [name for name, _factory, _description in ENTRIES]
    assert len(names) == len(set(names))
    assert all(CATALOG.entry(name).description for name in names)


def test_a_dialog_is_added_with_one_call_and_built_on_the_window(qtbot, window) -> None:
    catalog = DialogCatalog(ENTRIES)

    def hello(parent: QWidget) -> QWidget:
        return QLabel("hello", parent)

    catalog.register("hello", hello, "a label")
    assert catalog.names()[-1] == "hello" and "hello" in catalog
    built = catalog.build("hello", window)
    assert isinstance(built, QLabel) and built.parent() is window
    assert "hello" not in CATALOG  # the app's catalog is not changed


def test_a_moved_module_breaks_only_its_entry() -> None:
    catalog = DialogCatalog((("gone", "keymanager.gui.no_such_module:build", "moved"),))
    catalog.register("moved", "keymanager.gui.about:NoSuchDialog", "renamed")
    with pytest.raises(ImportError):
        catalog.entry("gone").resolve()
    with pytest.raises(ImportError, match="dialog 'moved'"):
        catalog.entry("moved").resolve()
    assert catalog.names() == ["gone", "moved"]
    with pytest.raises(KeyError, match="no dialog called 'nope'"):
        catalog.entry("nope")
