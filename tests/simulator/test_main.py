"""``python -m keymanager.simulator``: options and the stdin mode."""

from __future__ import annotations

import io
from pathlib import Path

from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.__main__ import build_parser, run_stdin


def test_options() -> None:
    args = build_parser().parse_args(
        ["--state", "s.json", "--seed", "00ff", "--vpcd", "--port", "35964"]
    )
    assert args.state == Path("s.json") and args.seed == b"\x00\xff"
    assert args.vpcd and args.port == 35964


def test_stdin_mode_answers_hex_apdus(tmp_path: Path) -> None:
    simulator = SmartCardHsmSimulator(tmp_path / "card.json", seed=b"cli")
    source = io.StringIO(
        "# select the applet\n00A404000BE82B0601040181C31F020100\n00200081\nzz\n8058000000\n"
    )
    sink = io.StringIO()
    assert run_stdin(simulator, source, sink) == 0
    lines = sink.getvalue().splitlines()
    assert lines[0].startswith("62") and lines[0].endswith("9000")
    assert lines[1:] == ["6A88", "error: not hexadecimal", "CC009000"]
