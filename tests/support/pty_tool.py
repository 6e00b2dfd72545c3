"""Run an interactive command-line tool in a pseudo-terminal and answer its prompts."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

Responder = Callable[[str], "str | None"]
"""Given all output so far, return text to type (or None to keep waiting)."""


def run_in_pty(
    argv: Sequence[str],
    respond: Responder,
    *,
    timeout: float = 120.0,
    idle: float = 0.5,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal; ``respond`` is asked after each quiet spell.

    Returns the exit status and everything the program wrote.
    """
    controller, terminal = pty.openpty()
    environment = dict(os.environ if env is None else env)
    environment.setdefault("TERM", "dumb")
    process = subprocess.Popen(
        list(argv),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=environment,
        close_fds=True,
        start_new_session=True,
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    last_output = time.monotonic()
    answered_at = -1
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                output += chunk
                last_output = time.monotonic()
                continue
            if process.poll() is not None:
                break
            if time.monotonic() - last_output >= idle and answered_at != len(output):
                text = output.decode(errors="replace")
                answer = respond(text)
                answered_at = len(output)
                if answer is not None:
                    os.write(controller, answer.encode())
        else:
            os.killpg(process.pid, signal.SIGKILL)
            raise TimeoutError(
                f"{argv[0]} did not finish in {timeout} s:\n{output.decode(errors='replace')}"
            )
        status = process.wait(timeout=30)
    finally:
        os.close(controller)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return status, output.decode(errors="replace")
