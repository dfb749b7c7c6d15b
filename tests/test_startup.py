"""Start-up: what the package's import hook keeps out of every command (pxprofile/__init__.py)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["pxprofile.ingest", "pxprofile.chats", "pxprofile.store"])
def test_importing_sqlite_utils_first_does_not_load_numpy(module):
    code = (
        f"import {module}, sys, sqlite_utils; "
        "assert 'numpy' not in sys.modules and 'pandas' not in sys.modules, 'numpy loaded'; "
        "import numpy; print(numpy.__name__)"  # and numpy still imports normally afterwards
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "numpy\n"
