"""Importers: one module per export format, all yielding the records in common.py.

detect.open_input() sniffs an input by content and returns its format and record stream;
pxprofile.ingest writes the records.
"""

from __future__ import annotations

from .common import LIMITS, Conversation, Feedback, Limits, Message, Pair, Skipped
from .detect import FORMATS, open_input

__all__ = [
    "FORMATS",
    "LIMITS",
    "Conversation",
    "Feedback",
    "Limits",
    "Message",
    "Pair",
    "Skipped",
    "open_input",
]
