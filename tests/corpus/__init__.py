"""The malformed-input corpus (issue 7) and the script that generates it."""
