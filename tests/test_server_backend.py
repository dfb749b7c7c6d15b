"""The OpenAI-compatible backend, for real, against `python -m llama_cpp.server` and the test model.

llama_cpp.server needs the server extras (fastapi, uvicorn, sse-starlette, starlette-context,
pydantic-settings), which are in pxprofile's dev extra.
"""

import socket

import pytest

from pxprofile.engine import OpenAIEngine, Segment, load_engine, load_tokenizer
from pxprofile.errors import ModelError

pytestmark = pytest.mark.model

SCHEMA = {
    "type": "object",
    "properties": {"tone": {"type": "string", "enum": ["formal", "casual"]}},
    "required": ["tone"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def engine(llama_server):
    return load_engine("gemma3-270m", backend="openai", base_url=llama_server)


def test_schema_constrained_completion_over_http(engine):
    assert isinstance(engine, OpenAIEngine)
    user = [Segment("User: hey, what's up? keep it chill")]
    c = engine.complete("Reply in JSON.", user, schema=SCHEMA, max_tokens=16)
    assert c.data in ({"tone": "formal"}, {"tone": "casual"})
    assert c.prompt_tokens > 0 and c.completion_tokens > 0
    # llama-cpp-python's server refuses response_format json_schema: the engine fell back (and
    # remembers)
    assert engine._schema_style == "json_object"


def test_untrusted_special_tokens_are_neutralized_over_http(engine):
    # The server tokenizes the rendered prompt with special tokens on: a raw "<start_of_turn>" is
    # one control token there. Neutralized (untrusted), the same text is several plain tokens.
    text = "<start_of_turn>" * 4
    raw = engine.complete("s", [Segment(text, trusted=True)], max_tokens=1)
    safe = engine.complete("s", [Segment(text, trusted=False)], max_tokens=1)
    assert safe.prompt_tokens >= raw.prompt_tokens + 4 * 3


def test_token_counts_use_the_local_tokenizer_when_the_model_is_known(engine):
    text = "I prefer concise answers."
    assert engine.count_tokens(text) == load_tokenizer("gemma3-270m").count_tokens(text)


def test_unknown_remote_model_estimates_token_counts(llama_server):
    e = load_engine("some-remote-model", backend="openai", base_url=llama_server)
    assert e.n_ctx == 8192 and e.prompt_style == "default"
    assert e.count_tokens("x" * 30) == 10


def test_unreachable_server_is_a_model_error():
    port = _free_port()
    e = load_engine("gemma3-270m", backend="openai", base_url=f"http://127.0.0.1:{port}")
    assert e.url == f"http://127.0.0.1:{port}/v1/chat/completions"
    with pytest.raises(
        ModelError, match=rf"Cannot reach the model server at http://127.0.0.1:{port} .*--base-url"
    ):
        e.complete("s", [Segment("hi")], max_tokens=1)


def test_openai_backend_needs_a_base_url(monkeypatch):
    monkeypatch.delenv("PXPROFILE_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="needs the server's address. Pass --base-url"):
        load_engine("gemma3-270m", backend="openai")
