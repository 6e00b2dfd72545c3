"""The window's actions by area: each module pairs its dialogs with workflow calls.

An area module gives ``actions(host) -> list[MenuAction]`` (see
:mod:`keymanager.gui.areas.host`); the main window collects the tables, shows them in
the outline's context menus and in the menu bar (``MenuAction.menu``), and provides
the host.
"""
