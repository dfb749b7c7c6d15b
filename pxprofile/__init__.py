"""pxprofile: turn your LLM chat history into a preference profile you own, edit and carry anywhere.

The public Python API, re-exported lazily (PEP 562) so that `import pxprofile` — and with it
`pxprofile --help` — does not pay for sqlite-utils, the importers or the engine until used.
cli/ is a thin layer over it.
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"


class _SqliteUtilsWithoutNumpy:
    """sqlite-utils imports numpy and pandas when they are installed (llama-cpp-python installs
    numpy), only to map their scalar types to column types, which pxprofile never inserts: about
    0.1 s of every command's start-up. This import hook hides them while sqlite-utils loads,
    whichever module imports it first; a later `import numpy` (llama_cpp's) works as usual, and
    if numpy is already loaded nothing is hidden."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "sqlite_utils":
            return None
        sys.meta_path.remove(cls)  # once: find the real spec, then wrap its loader
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_without_numpy(module) -> None:
            hidden = [n for n in ("numpy", "pandas") if n not in sys.modules]
            for n in hidden:
                sys.modules[n] = None  # `import numpy` raises ImportError inside this block
            try:
                exec_module(module)
            finally:
                for n in hidden:
                    if sys.modules.get(n, 0) is None:
                        del sys.modules[n]

        spec.loader.exec_module = exec_without_numpy
        return spec


if "sqlite_utils" not in sys.modules:
    sys.meta_path.insert(0, _SqliteUtilsWithoutNumpy)

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
