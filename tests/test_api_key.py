"""Credentials go only where they were configured for: checked against a server on 127.0.0.1
that logs the headers of every request it gets."""

import pytest
from fake_engine import add_conversation
from standin_server import StandIn

from pxprofile.cli import app
from pxprofile.credentials import api_key_for
from pxprofile.engine import Segment, load_engine
from pxprofile.store import open_db


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    monkeypatch.delenv("PXPROFILE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _auth(srv) -> list:
    return [r["headers"].get("Authorization") for r in srv.requests]


def _ask(srv, **kw) -> None:
    eng = load_engine("standin", backend="openai", base_url=srv.url, **kw)
    eng.complete("sys", [Segment("hi")], max_tokens=8)


def test_openai_key_is_not_sent_to_another_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-1234")
    with StandIn() as srv:
        _ask(srv)
    assert _auth(srv) == [None]


def test_pxprofile_key_is_sent_to_the_configured_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-1234")
    monkeypatch.setenv("PXPROFILE_API_KEY", "px-local-key")
    with StandIn() as srv:
        _ask(srv)
    assert _auth(srv) == ["Bearer px-local-key"]


def test_api_key_option_wins_over_the_environment(monkeypatch, runner, tmp_path):
    monkeypatch.setenv("PXPROFILE_API_KEY", "px-env-key")
    path = tmp_path / "px.db"
    db = open_db(path)
    add_conversation(db, "c1", [("user", "I prefer tables over prose."), ("assistant", "Ok.")])
    db.conn.close()
    with StandIn() as srv:
        srv.content = '{"observations": []}'  # the reading step finds nothing: no merge call
        result = runner.invoke(
            app,
            ["update", "--db", str(path), "--backend", "openai", "--base-url", srv.url,
             "--model", "standin", "--api-key", "cli-key-42", "--verbose"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _auth(srv) == ["Bearer cli-key-42"]
    assert f"API key for {srv.url}: --api-key" in result.stderr
    assert "cli-key-42" not in result.output


def test_verbose_names_the_source_never_the_key(monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-1234")
    with StandIn() as srv:
        _ask(srv, verbose=True)
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY is set but is sent only to https://api.openai.com" in err
    assert "sk-openai-secret-1234" not in err


def test_openai_key_goes_to_openais_own_api_only(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    assert api_key_for("https://api.openai.com/v1") == (
        "sk-o",
        "OPENAI_API_KEY (the server is OpenAI's API)",
    )
    for url in ("http://api.openai.com/v1", "https://api.openai.com.evil.example/v1",
                "https://evil.example/api.openai.com", "http://127.0.0.1:8080/v1"):  # fmt: skip
        assert api_key_for(url)[0] is None, url


def test_engines_with_different_keys_are_not_shared(monkeypatch):
    with StandIn() as srv:
        _ask(srv, api_key="k1")
        _ask(srv, api_key="k2")
    assert _auth(srv) == ["Bearer k1", "Bearer k2"]
