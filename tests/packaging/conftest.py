"""Packaging tests run Qt offscreen (the outline icons need a QApplication)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
