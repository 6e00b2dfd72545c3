"""Whether a rendered widget shows something: not one colour, not a near-empty canvas."""

from __future__ import annotations

from collections import Counter
from typing import Any

MIN_COLOURS = 8
"""Text, a frame and a button give far more than this (anti-aliased glyphs alone do)."""
MAX_BACKGROUND_SHARE = 0.985
"""The commonest colour may cover at most this share of the pixels."""


def blank_reason(image: Any) -> str | None:
    """Why ``image`` (a ``QImage``) looks blank, or ``None`` when it shows content."""
    if image.isNull() or image.width() == 0 or image.height() == 0:
        return "the image is empty"
    step = max(1, min(image.width(), image.height()) // 200)
    colours: Counter[int] = Counter(
        image.pixel(x, y)
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    )
    if len(colours) < MIN_COLOURS:
        return f"only {len(colours)} colours"
    background = colours.most_common(1)[0][1] / sum(colours.values())
    if background > MAX_BACKGROUND_SHARE:
        return f"{background:.1%} of it is one colour"
    return None
