"""A tiny, dependency-free writer of one-page, text-only PDF files (Courier).

Share ceremonies print secrets: a PaperKey sheet, or one custodian's n-of-m fragment.
Handing such text to a print dialog or a third-party PDF library would leave copies
in places nobody controls, so this module writes the PDF itself: one A4 page, the
standard Type 1 font Courier (every PDF reader has it, no embedding), the title in a
larger size, then the text line by line.  Lines longer than the page is wide are
wrapped; text that does not fit one page is refused rather than cut.

The file is written atomically with mode 0600 (it holds a secret).  Characters
outside Latin-1 are replaced by ``?`` (the sheets this module prints are ASCII).
"""

from __future__ import annotations

import os
import textwrap

from keymanager.dkek.fileio import write_private_file

PAGE_WIDTH = 595
"""A4 width in points."""
PAGE_HEIGHT = 842
"""A4 height in points."""
MARGIN = 56
FONT_SIZE = 11
TITLE_SIZE = 15
LEADING = 14
COLUMNS = 72
"""Characters per line: Courier is 0.6 em wide, 72 x 6.6 pt fits the 483 pt text width."""
MAX_LINES = (PAGE_HEIGHT - 2 * MARGIN) // LEADING - 2
"""Body lines that fit below the title."""


class PageOverflow(ValueError):
    """The text does not fit one page."""


def _escape(line: str) -> bytes:
    encoded = line.encode("latin-1", errors="replace")
    return encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _layout(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.expandtabs(4).splitlines():
        if not raw.strip():
            lines.append("")
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        lines.extend(
            textwrap.wrap(
                raw,
                COLUMNS,
                subsequent_indent=" " * indent,
                break_long_words=True,
                drop_whitespace=True,
            )
        )
    return lines


def _content_stream(title: str, lines: list[str]) -> bytes:
    top = PAGE_HEIGHT - MARGIN
    parts = [
        b"BT",
        f"/F1 {TITLE_SIZE} Tf {MARGIN} {top} Td".encode(),
        b"(" + _escape(title) + b") Tj",
        f"/F1 {FONT_SIZE} Tf {LEADING} TL 0 {-2 * LEADING} Td".encode(),
    ]
    for index, line in enumerate(lines):
        if index:
            parts.append(b"T*")
        parts.append(b"(" + _escape(line) + b") Tj")
    parts.append(b"ET")
    return b"\n".join(parts) + b"\n"


def render_text_pdf(title: str, text: str) -> bytes:
    """The bytes of a one-page PDF showing ``title`` and then ``text`` in Courier.

    :raises PageOverflow: the text needs more than :data:`MAX_LINES` lines.
    """
    lines = _layout(text)
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > MAX_LINES:
        raise PageOverflow(f"the text needs {len(lines)} lines; one page holds {MAX_LINES}")
    content = _content_stream(title.strip() or "Untitled", lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ).encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream",
        b"<< /Title (" + _escape(title.strip()) + b") /Producer (keymanager) >>",
    ]
    return _assemble(objects)


def render_document_pdf(title: str, text: str) -> bytes:
    """A PDF of as many A4 pages as ``text`` needs: ``title`` on top of each page with
    "page i of n", then the text in Courier (for reports; sheets use one page)."""
    lines = _layout(text)
    while lines and not lines[-1]:
        lines.pop()
    per_page = MAX_LINES
    pages = [lines[start : start + per_page] for start in range(0, len(lines), per_page)]
    pages = pages or [[]]
    total = len(pages)
    name = title.strip() or "Untitled"
    font_number = 3 + 2 * total
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        (
            "<< /Type /Pages /Kids ["
            + " ".join(f"{3 + 2 * index} 0 R" for index in range(total))
            + f"] /Count {total} >>"
        ).encode(),
    ]
    for index, page in enumerate(pages):
        content = _content_stream(f"{name}  (page {index + 1} of {total})", page)
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                f"/Resources << /Font << /F1 {font_number} 0 R >> >> "
                f"/Contents {4 + 2 * index} 0 R >>"
            ).encode()
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream")
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"
    )
    objects.append(b"<< /Title (" + _escape(name) + b") /Producer (keymanager) >>")
    return _assemble(objects)


def _assemble(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (numbered from 1; the last is the Info dictionary)."""
    output = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_offset = len(output)
    output += f"xref\n0 {len(objects) + 1}\n".encode()
    output += b"0000000000 65535 f \n"
    for offset in offsets:
        output += f"{offset:010d} 00000 n \n".encode()
    output += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
        f"startxref\n{xref_offset}\n%%EOF\n"
    ).encode()
    return bytes(output)


def write_text_pdf(
    path: str | os.PathLike[str], title: str, text: str, *, overwrite: bool = False
) -> None:
    """Write :func:`render_text_pdf` to ``path`` atomically with mode 0600.

    :raises FileExistsError: ``path`` exists and ``overwrite`` is false.
    :raises PageOverflow: the text does not fit one page (nothing is written).
    """
    write_private_file(path, render_text_pdf(title, text), overwrite=overwrite)
