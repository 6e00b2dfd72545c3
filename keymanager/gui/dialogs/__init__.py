"""The dialogs of the main window's card actions, one small module each.

* :mod:`.generate_key` - label, algorithm, key domain, allowed algorithms;
* :mod:`.delete_key` - confirm a deletion by typing the key's label;
* :mod:`.init_device` - the initialisation plan (the workflow asks the destructive
  confirmation that names the card);
* :mod:`.ceremony` - the plan of a new DKEK share and the sheet (PaperKey or n-of-m
  fragment) with print, print preview and PDF export;
* :mod:`.files` - the file dialogs of backup, restore and exports;
* :mod:`.delegating` - an :class:`~keymanager.workflows.interaction.Interaction` that
  passes every question on and lets a dialog answer some of them itself.
"""

from __future__ import annotations
