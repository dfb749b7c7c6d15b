"""GGUFs in Ollama's and LM Studio's stores, used in place (pxprofile/localmodels.py).

The stores are built as those tools lay them out, around the real Gemma 3 270M GGUF (linked, not
copied): Ollama's manifests/HOST/NAMESPACE/MODEL/TAG + blobs/sha256-<hex>, LM Studio's
PUBLISHER/REPO/*.gguf. `model list`, `model info`, `model path` and a real `update` run on them.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_engine import add_conversation

from pxprofile.cli import app
from pxprofile.models import resolve_path
from pxprofile.store import open_db

OLLAMA_NAME = "ollama:gemma3:270m"
HF_NAME = "ollama:hf.co/unsloth/gemma-3-270m-it-GGUF:Q4_K_M"
LMS_NAME = "lmstudio:lmstudio-community/gemma-3-270m-GGUF"


@pytest.fixture(scope="module")
def gemma():
    """(path, sha256) of the real test GGUF (assembled once from its PyPI package)."""
    path = resolve_path("gemma3-270m")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return path, h.hexdigest()


def _place(src: Path, dst: Path) -> None:
    """Link the GGUF into a store (hard link where possible, else a symbolic link): no copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        dst.symlink_to(src)


def _manifest(store: Path, parts: tuple[str, ...], layers: list[dict]) -> Path:
    path = store / "manifests" / Path(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 485,
        },
        "layers": layers,
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def ollama(tmp_path, gemma, monkeypatch):
    """An Ollama store ($OLLAMA_MODELS) holding gemma3:270m, the same blob under hf.co/, a model
    whose blob is gone, and a cloud model without weights."""
    path, sha = gemma
    store = tmp_path / "ollama-models"
    blob = store / "blobs" / f"sha256-{sha}"
    _place(path, blob)
    model_layer = {
        "mediaType": "application/vnd.ollama.image.model",
        "digest": f"sha256:{sha}",
        "size": path.stat().st_size,
    }
    template = {
        "mediaType": "application/vnd.ollama.image.template",
        "digest": "sha256:" + "d" * 64,
        "size": 358,
    }
    _manifest(store, ("registry.ollama.ai", "library", "gemma3", "270m"), [model_layer, template])
    _manifest(store, ("hf.co", "unsloth", "gemma-3-270m-it-GGUF", "Q4_K_M"), [model_layer])
    gone = {**model_layer, "digest": "sha256:" + "e" * 64}
    _manifest(store, ("registry.ollama.ai", "library", "gone", "latest"), [gone])
    _manifest(store, ("registry.ollama.ai", "library", "cloudy", "latest"), [template])
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no LM Studio models
    return blob


@pytest.fixture
def lmstudio(tmp_path, gemma, monkeypatch):
    """~/.lmstudio/models with one model (and its vision projector), one folder with two
    quantizations, and a model in the older ~/.cache/lm-studio/models."""
    path, _ = gemma
    home = tmp_path / "home"
    models = home / ".lmstudio" / "models"
    _place(path, models / "lmstudio-community" / "gemma-3-270m-GGUF" / "gemma-3-270m-Q4_K_M.gguf")
    _place(path, models / "lmstudio-community" / "gemma-3-270m-GGUF" / "mmproj-gemma-F16.gguf")
    for quant in ("Q4_K_M", "Q8_0"):
        _place(path, models / "bartowski" / "two-quants-GGUF" / f"two-quants-{quant}.gguf")
    _place(path, home / ".cache" / "lm-studio" / "models" / "old" / "legacy-GGUF" / "legacy.gguf")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-ollama"))
    return models


def _rows(runner) -> dict[str, dict]:
    r = runner.invoke(app, ["model", "list", "--json"])
    assert r.exit_code == 0, r.stderr
    return {row["name"]: row for row in json.loads(r.stdout)}


def test_model_list_shows_ollama_models_in_place(runner, ollama, gemma):
    rows = _rows(runner)
    local = {n: r for n, r in rows.items() if r["source"] == "ollama"}
    assert sorted(local) == [OLLAMA_NAME, HF_NAME]  # the gone and the cloud model are left out
    for row in local.values():
        assert row["path"] == str(ollama) and row["status"] == "downloaded"
        assert row["size"] == gemma[0].stat().st_size
    assert {"qwen3-4b", "gemma3-270m"} <= set(rows)  # the registry is still listed
    table = runner.invoke(app, ["model", "list"], env={"COLUMNS": "250"}).stdout
    assert OLLAMA_NAME in table and "sha256-" in table


def test_model_info_and_path_read_the_blob_where_it_is(ollama, tmp_path):
    env = {**os.environ, "PXPROFILE_HOME": str(tmp_path / "px")}
    out = subprocess.run(
        [sys.executable, "-m", "pxprofile", "model", "info", OLLAMA_NAME, "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["path"] == str(ollama) and info["source"] == "ollama"
    assert info["gguf"]["architecture"] == "gemma3" and info["gguf"]["quantization"] == "Q4_K_M"
    out = subprocess.run(
        [sys.executable, "-m", "pxprofile", "model", "path", HF_NAME],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert (out.returncode, out.stdout) == (0, f"{ollama}\n")
    assert not (tmp_path / "px" / "models").exists() or not any(
        (tmp_path / "px" / "models").iterdir()
    )


@pytest.mark.model
def test_update_runs_an_ollama_model_in_place(ollama, tmp_path):
    """A real `pxprofile update --model ollama:gemma3:270m`: llama.cpp loads Ollama's blob."""
    db_path = tmp_path / "px.db"
    db = open_db(db_path)
    add_conversation(db, "c1", [("user", "I prefer short answers in British English."), ("assistant", "Sure.")])  # fmt: skip
    db.conn.close()
    inode = ollama.stat().st_ino
    env = {**os.environ, "PXPROFILE_HOME": str(tmp_path / "px")}
    cmd = [
        sys.executable, "-m", "pxprofile", "update", "--model", OLLAMA_NAME, "--db", str(db_path),
        "--ctx", "2048", "--threads", "1", "--json",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    result = json.loads(out.stdout)
    assert result["model"] == OLLAMA_NAME
    assert result["status"] in ("ok", "noop", "failed")
    assert result["messages_read"] >= 1 or result["status"] == "failed"
    assert out.returncode == (1 if result["status"] == "failed" else 0), out.stderr
    row = open_db(db_path).execute("select model from updates").fetchone()
    assert row[0] == OLLAMA_NAME
    assert ollama.stat().st_ino == inode  # used in place: the store is untouched


def test_ollama_errors_name_what_exists(runner, ollama):
    r = runner.invoke(app, ["model", "path", "ollama:gemma3"])  # tag latest: not pulled
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: No Ollama model gemma3 in ")
    assert f"Ollama models here: {OLLAMA_NAME}, {HF_NAME}." in r.stderr
    assert "`ollama pull gemma3`" in r.stderr
    r = runner.invoke(app, ["model", "path", "ollama:gone"])
    assert r.exit_code == 1 and "are missing from Ollama's store" in r.stderr
    r = runner.invoke(app, ["model", "path", "ollama:cloudy"])
    assert r.exit_code == 1 and "has no local GGUF weights" in r.stderr
    for bad in ("ollama:../../etc/passwd", "ollama:a/b/c/d:1", "ollama:"):
        r = runner.invoke(app, ["model", "path", bad])
        assert r.exit_code == 1 and "is not an Ollama model name" in r.stderr, bad
        assert "Traceback" not in r.stderr


def test_rm_refuses_and_use_selects_an_ollama_model(runner, ollama):
    r = runner.invoke(app, ["model", "rm", OLLAMA_NAME])
    assert r.exit_code == 1 and "belongs to ollama" in r.stderr
    assert ollama.is_file()
    r = runner.invoke(app, ["model", "use", OLLAMA_NAME])
    assert (r.exit_code, r.stderr) == (0, f"Default model: {OLLAMA_NAME}.\n")
    assert _rows(runner)[OLLAMA_NAME]["default"] is True


def test_lmstudio_models(runner, lmstudio, gemma):
    rows = {n: r for n, r in _rows(runner).items() if r["source"] == "lmstudio"}
    assert sorted(rows) == [
        "lmstudio:bartowski/two-quants-GGUF/two-quants-Q4_K_M.gguf",
        "lmstudio:bartowski/two-quants-GGUF/two-quants-Q8_0.gguf",
        LMS_NAME,
        "lmstudio:old/legacy-GGUF",
    ]  # no projector
    assert rows[LMS_NAME]["path"] == str(
        lmstudio / "lmstudio-community" / "gemma-3-270m-GGUF" / "gemma-3-270m-Q4_K_M.gguf"
    )
    r = runner.invoke(app, ["model", "path", LMS_NAME])
    assert (r.exit_code, r.stdout) == (0, rows[LMS_NAME]["path"] + "\n")
    r = runner.invoke(app, ["model", "info", "lmstudio:old/legacy-GGUF", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["gguf"]["architecture"] == "gemma3"
    r = runner.invoke(app, ["model", "path", "lmstudio:bartowski/two-quants-GGUF"])
    assert r.exit_code == 1
    assert "holds 2 GGUF files. Name one: " in r.stderr
    assert "lmstudio:bartowski/two-quants-GGUF/two-quants-Q8_0.gguf" in r.stderr
    r = runner.invoke(app, ["model", "path", "lmstudio:nobody/nothing"])
    assert r.exit_code == 1 and r.stderr.startswith("Error: No LM Studio model nobody/nothing in ")
    r = runner.invoke(app, ["model", "path", "lmstudio:../x"])
    assert r.exit_code == 1 and "is not an LM Studio model name" in r.stderr


def test_lmstudio_downloads_folder_setting(runner, tmp_path, gemma, monkeypatch):
    home = tmp_path / "home"
    elsewhere = tmp_path / "big-disk" / "models"
    _place(gemma[0], elsewhere / "pub" / "moved-GGUF" / "moved.gguf")
    (home / ".lmstudio").mkdir(parents=True)
    (home / ".lmstudio" / "settings.json").write_text(
        json.dumps({"downloadsFolder": str(elsewhere)})
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "none"))
    rows = _rows(runner)
    assert rows["lmstudio:pub/moved-GGUF"]["path"] == str(
        elsewhere / "pub" / "moved-GGUF" / "moved.gguf"
    )
