"""Helpers the CLI tests share: running ``keymanager-cli`` in-process."""

from __future__ import annotations

import pytest

from keymanager.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit status (also of a usage error, which exits), stdout and stderr of ``main``."""
    try:
        status = main(list(argv))
    except SystemExit as stop:
        assert isinstance(stop.code, int)
        status = stop.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err
