"""gguf_header.py: the header of the real test model, and files that are not GGUF."""

import pytest

from pxprofile import models
from pxprofile.errors import ModelError
from pxprofile.gguf_header import gguf_metadata, is_gguf, summarize_metadata


def test_gguf_metadata_of_the_test_model():
    meta = gguf_metadata(models.resolve_path("gemma3-270m"))
    assert meta["general.architecture"] == "gemma3"
    assert meta["tokenizer.ggml.tokens"] == {"array_length": 262144}
    assert summarize_metadata(meta) == {
        "architecture": "gemma3",
        "model_name": "Gemma 3 270m",
        "context_length": 32768,
        "layers": 18,
        "quantization": "Q4_K_M",
        "chat_template": False,
    }


def test_gguf_metadata_rejects_other_files(tmp_path):
    html = tmp_path / "x.gguf"
    html.write_text("<html>rate limited</html>")
    with pytest.raises(ModelError, match="is not a GGUF file"):
        gguf_metadata(html)
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF\x03\x00\x00\x00\x00")
    with pytest.raises(ModelError, match="is a damaged GGUF file"):
        gguf_metadata(short)
    with pytest.raises(ModelError, match="Cannot read"):
        gguf_metadata(tmp_path / "absent.gguf")


def test_is_gguf_and_models_keeps_the_thin_names(tmp_path):
    assert is_gguf(models.resolve_path("gemma3-270m"))
    assert not is_gguf(tmp_path / "absent.gguf")
    assert models.gguf_metadata is gguf_metadata  # others call it through models
