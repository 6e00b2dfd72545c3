"""The use cases of security officers, key custodians and auditors, free of Qt."""
