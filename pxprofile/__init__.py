"""pxprofile: turn your LLM chat history into a preference profile you own, edit and carry anywhere.

The public Python API is re-exported here as each piece lands; cli.py is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .export import Export, export_prompt
from .profile import ApplyResult, Change, Line, apply_changes, current_lines, export_lines
from .ingest import IngestSummary, ingest_path, ingest_stream
from .infer import UpdateResult, update

__all__ = [
    "__version__",
    "ApplyResult",
    "Change",
    "Line",
    "apply_changes",
    "current_lines",
    "export_lines",
    "Export",
    "export_prompt",
    "IngestSummary",
    "ingest_path",
    "ingest_stream",
    "UpdateResult",
    "update",
]
