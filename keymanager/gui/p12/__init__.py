"""The parts of the PKCS#12 import wizard (:mod:`keymanager.gui.p12_wizard`).

:mod:`.job` holds what the wizard collected and the interaction that answers the import
workflow from it (run on the card's worker); :mod:`.file_pages` the file and entries
pages; :mod:`.target_pages` the target, confirmation and progress pages.  The wizard
itself, and its installation behind the plug-in's menu entries, are in
:mod:`keymanager.gui.p12_wizard`.
"""
