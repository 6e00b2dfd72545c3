"""``keymanager-cli``: the key manager's workflows from a terminal, without a window."""
