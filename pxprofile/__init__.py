"""pxprofile: turn your LLM chat history into a preference profile you own, edit and carry anywhere.

The public Python API is re-exported here as each piece lands; cli.py is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
