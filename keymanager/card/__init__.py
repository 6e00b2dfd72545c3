"""Everything the key manager says to a SmartCard-HSM: transport, APDUs, session, PKCS#15.

Import the modules directly (``keymanager.card.hsm``, ``keymanager.card.cvc``, …).
``keymanager.card.pcsc`` is the only one that needs pyscard; nothing here imports it,
so the package works without PC/SC (e.g. with the simulator through
:class:`keymanager.card.transport.LocalTransport`).
"""
