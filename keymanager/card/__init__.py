"""Everything the key manager says to a SmartCard-HSM: transport, APDUs, session, PKCS#15."""
