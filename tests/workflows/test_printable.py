"""The one-page text PDF writer: a structurally valid PDF that carries the text."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from keymanager.workflows.printable import (
    COLUMNS,
    MAX_LINES,
    PageOverflow,
    render_text_pdf,
    write_text_pdf,
)


def shown_lines(pdf: bytes) -> list[str]:
    """The strings the content stream shows with Tj, unescaped (read independently here)."""
    stream = re.search(rb"stream\n(.*?)endstream", pdf, re.S)
    assert stream is not None
    out = []
    for match in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", stream.group(1)):
        out.append(re.sub(rb"\\(.)", rb"\1", match.group(1)).decode("latin-1"))
    return out


def check_structure(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.findall(rb"startxref\n(\d+)\n%%EOF", pdf)[-1])
    assert pdf[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", pdf[startxref:])
    assert header is not None
    count = int(header.group(1))
    entries = pdf[startxref + header.end() :].split(b"\n")[:count]
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry[:10])
        assert entry.endswith(b" 00000 n "), entry
        assert pdf[offset:].startswith(f"{number} 0 obj".encode()), number
    trailer = re.search(rb"trailer\n<< /Size (\d+) /Root 1 0 R", pdf)
    assert trailer is not None and int(trailer.group(1)) == count
    # the stream's /Length is its exact byte count
    match = re.search(rb"<< /Length (\d+) >>\nstream\n", pdf)
    assert match is not None
    length = int(match.group(1))
    assert pdf[match.end() + length :].startswith(b"endstream")
    assert b"/BaseFont /Courier" in pdf and b"/Count 1" in pdf


def test_pdf_is_well_formed_and_carries_every_line() -> None:
    text = "1: ABCDE9 FGHJK2 MNPQR7\nA (parenthesised) back\\slash\n\nlast line"
    pdf = render_text_pdf("DKEK share (test)", text)
    check_structure(pdf)
    lines = shown_lines(pdf)
    assert lines[0] == "DKEK share (test)"
    assert lines[1:] == [
        "1: ABCDE9 FGHJK2 MNPQR7",
        "A (parenthesised) back\\slash",
        "",
        "last line",
    ]


def test_long_lines_wrap_and_too_much_text_is_refused() -> None:
    pdf = render_text_pdf("t", "word " * 40)
    body = shown_lines(pdf)[1:]
    assert len(body) > 1 and all(len(line) <= COLUMNS for line in body)
    assert " ".join(body).split() == ["word"] * 40
    with pytest.raises(PageOverflow):
        render_text_pdf("t", "\n".join(f"line {i}" for i in range(MAX_LINES + 1)))
    check_structure(render_text_pdf("t", "\n".join(f"line {i}" for i in range(MAX_LINES))))


def test_write_is_private_and_does_not_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "sheet.pdf"
    write_text_pdf(target, "Title", "secret line")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    check_structure(target.read_bytes())
    with pytest.raises(FileExistsError):
        write_text_pdf(target, "Title", "other")
    assert shown_lines(target.read_bytes())[1] == "secret line"
    write_text_pdf(target, "Title", "other", overwrite=True)
    assert shown_lines(target.read_bytes())[1] == "other"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext not installed")
def test_pdftotext_reads_it(tmp_path: Path) -> None:  # pragma: no cover - optional tool
    target = tmp_path / "sheet.pdf"
    write_text_pdf(target, "Title", "2: KLMNP4 QRSTV5 WXYZ06")
    out = subprocess.run(
        ["pdftotext", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "2: KLMNP4 QRSTV5 WXYZ06" in out
