"""A software SmartCard-HSM for demos and tests."""
