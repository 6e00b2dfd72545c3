"""docs/reference.md matches keymanager-cli's parser: every command is documented with
its options, and the reference names no option a command does not take."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from keymanager.cli.main import build_parser

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
CARD_OPTIONS = {
    "--reader",
    "--simulator",
    "--no-secure-messaging",
    "--pka-custodian",
    "--custodian-pin-env",
}
"""How to reach the card: written ``[card]`` in the reference (see its Commands)."""


def commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command that runs something, as ``domain create`` and its parser."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield prefix.strip(), parser
        return
    for name, sub in subparsers[0].choices.items():
        yield from commands(sub, f"{prefix} {name}")


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def reference_entry(name: str) -> tuple[str, str]:
    """The synopsis of ``name`` (the code span that starts with it) in the Commands
    section, and the whole entry: its table row or paragraph."""
    text = REFERENCE.read_text()
    section = text[text.index("### Commands") : text.index("### JSON output")]
    found = re.search(rf"`({re.escape(name)} [^`]*)`", section)
    assert found is not None, f"docs/reference.md documents no `{name} …`"
    start = section.rfind("\n", 0, found.start()) + 1
    end = section.find("\n|" if section[start] == "|" else "\n\n", found.end())
    return found.group(1), section[start:end]


PARSER = build_parser()
COMMANDS = dict(commands(PARSER))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_reference_documents_each_command_with_its_options(name: str) -> None:
    synopsis, entry = reference_entry(name)
    parser_options = options(COMMANDS[name])
    missing = sorted(
        option
        for option in parser_options - CARD_OPTIONS
        if not re.search(rf"{re.escape(option)}(?![\w-])", entry)
    )
    assert not missing, f"{name}: not in docs/reference.md: {missing}"
    if parser_options & CARD_OPTIONS:
        assert "[card]" in synopsis or "--reader NAME" in synopsis, synopsis
    documented = set(re.findall(r"--[a-z0-9][a-z0-9-]*", synopsis))
    stale = sorted(documented - parser_options)
    assert not stale, f"{name}: docs/reference.md names options it does not take: {stale}"
