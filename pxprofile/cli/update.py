"""`pxprofile update`, and the update that runs after `pxprofile ingest`. STUB: inference issue."""

from __future__ import annotations


def after_ingest(db, *, quiet: bool = False, model: str | None = None) -> None:
    """Called by `pxprofile ingest` unless --no-update. Must never make the ingest fail."""
    return None
