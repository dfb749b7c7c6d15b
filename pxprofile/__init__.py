"""pxprofile: turn your LLM chat history into a preference profile you own, edit and carry anywhere.

The public Python API, re-exported lazily (PEP 562) so that `import pxprofile` — and with it
`pxprofile --help` — does not pay for sqlite-utils, the importers or the engine until used.
cli/ is a thin layer over it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Export": "export",
    "export_prompt": "export",
    "ApplyResult": "profile",
    "Change": "profile",
    "Line": "profile",
    "apply_changes": "profile",
    "current_lines": "profile",
    "export_lines": "profile",
    "IngestSummary": "ingest",
    "ingest_path": "ingest",
    "ingest_stream": "ingest",
    "UpdateResult": "infer",
    "update": "infer",
    "open_db": "store",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pxprofile' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
