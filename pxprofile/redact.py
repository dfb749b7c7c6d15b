"""Redaction of secrets and PII (offline, idempotent). STUB: the privacy issue fills this in.

CONTRACT: redact(text) -> text with secrets/PII replaced by placeholders such as
``[REDACTED:aws-key]``; redact(redact(x)) == redact(x). Ingest stores the result in
messages.redacted when it differs from the text; everything shown to a model or written to the
profile uses coalesce(redacted, text).
"""

from __future__ import annotations


def redact(text: str) -> str:
    return text
