"""The wheel ships models.toml in the package; an installed (non-editable) pxprofile finds it."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("pxprofile-*.whl")
    return whl


def test_wheel_contains_models_toml(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "pxprofile/models.toml" in names
        assert z.read("pxprofile/models.toml") == (ROOT / "models.toml").read_bytes()
        assert "pxprofile/py.typed" in names
        assert "pxprofile/cli/model.py" in names


def test_installed_wheel_finds_its_registry(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run(
        [sys.executable, "-c", "from pxprofile import models; print(models.registry_path())"],
        capture_output=True, text=True, cwd=elsewhere, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(site / "pxprofile" / "models.toml")
    r = subprocess.run(
        [sys.executable, "-m", "pxprofile", "model", "list", "--json"],
        capture_output=True, text=True, cwd=elsewhere, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "gemma3-270m" in [row["name"] for row in json.loads(r.stdout)]
