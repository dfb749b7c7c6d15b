"""Model replies are untrusted: every reply is checked against the schema that was asked for.

The schema checker on its own, then the real OpenAIEngine against a stand-in server on
127.0.0.1 sending malformed replies, then a whole `pxprofile update` that must change nothing.
"""

import json

import pytest
from fake_engine import add_conversation
from standin_server import StandIn

from pxprofile import prompts
from pxprofile.cli import app
from pxprofile.engine import Segment, load_engine
from pxprofile.errors import InferenceError, ModelError, PxprofileError
from pxprofile.replies import MAX_DEPTH, check_usage, validate
from pxprofile.store import open_db

SCHEMA = prompts.merge_schema(["Communication style"], 2, ["E1", "E2"], max_ops=6)


def op(**kw):
    base = {"op": "add", "section": "Communication style", "line": 0, "text": "x",
            "evidence": ["E1"]}  # fmt: skip
    base.update(kw)
    return base


def test_a_valid_reply_passes():
    validate({"operations": [op(), op(op="retire", line=2)]}, SCHEMA)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "expected object"),
        ({"operations": "none"}, "expected array"),
        ({}, "'operations' is missing"),
        ({"operations": [], "extra": 1}, "unexpected field 'extra'"),
        ({"operations": [op()] * 78}, "78 items where at most 6"),
        ({"operations": [op(op="delete_all")]}, "not one of the allowed values"),
        ({"operations": [op(section="Evil")]}, "not one of the allowed values"),
        ({"operations": [op(line=3)]}, "not one of the allowed values"),
        ({"operations": [op(line=-1)]}, "not one of the allowed values"),
        ({"operations": [op(line=1.5)]}, "expected integer"),
        ({"operations": [op(line=True)]}, "expected integer"),
        ({"operations": [op(text=7)]}, "expected string"),
        ({"operations": [op(text="a" * 201)]}, "at most 200"),
        ({"operations": [op(text="bad \ud800 surrogate")]}, "lone surrogate"),
        ({"operations": [op(evidence=["E9"])]}, "not one of the allowed values"),
        ({"operations": [op(evidence=["E1"] * 9)]}, "items where at most"),
        ({"operations": [op(evil=1)]}, "unexpected field 'evil'"),
    ],
)
def test_a_reply_off_the_schema_is_one_inference_error(data, says):
    with pytest.raises(InferenceError, match="does not match the requested schema") as e:
        validate(data, SCHEMA)
    assert says in str(e.value)


def test_deep_nesting_is_refused_without_recursion():
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InferenceError, match=f"nested more than {MAX_DEPTH}"):
        validate(deep, SCHEMA)


@pytest.mark.parametrize(
    ("usage", "ok"),
    [(None, (0, 0)), ({}, (0, 0)), ({"prompt_tokens": 3, "completion_tokens": 4}, (3, 4)),
     ({"prompt_tokens": "3"}, None), ({"prompt_tokens": 1.5}, None), ({"prompt_tokens": -1}, None),
     ([1, 2], None), ({"completion_tokens": {"n": 1}}, None)],
)  # fmt: skip
def test_usage_must_hold_token_counts(usage, ok):
    if ok is None:
        with pytest.raises(InferenceError):
            check_usage(usage)
    else:
        assert check_usage(usage) == ok


MALFORMED = [
    # (content or raw body, what kind of reply it is)
    ({"operations": []}, "content is an object"),
    ([1, 2, 3], "content is a list"),
    (42, "content is a number"),
    ("[" * 50_000 + "]" * 50_000, "deeply nested JSON"),
    ('{"operations": [' + ",".join([json.dumps(op())] * 78) + "]}", "78 operations"),
    (json.dumps({"operations": [op(text="\ud800")]}), "lone surrogate"),
    ('{"operations": [{"op": "add", "line": NaN}]}', "NaN"),
    ("not json at all", "not JSON"),
    ('{"operations": [' + "1" * 5000 + "]}", "a 5000-digit number"),
    (json.dumps({"operations": [op(line=10**30)]}), "a huge line number"),
]


@pytest.mark.parametrize(("content", "what"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_server_replies_are_one_clean_error(content, what):
    with StandIn() as srv:
        srv.content = content
        eng = load_engine("standin", backend="openai", base_url=srv.url)
        with pytest.raises(PxprofileError) as e:
            eng.complete("sys", [Segment("hi")], schema=SCHEMA, max_tokens=64)
    assert isinstance(e.value, InferenceError | ModelError), what
    assert "nothing was changed" in str(e.value) or "Check --base-url" in str(e.value)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe not utf-8", b'{"choices": 5}', b"[]",
     b'{"choices": [{"message": {"content": "{\\"operations\\": []}"}}], "usage": {"prompt_tokens": "x"}}'],
)  # fmt: skip
def test_malformed_http_bodies_are_one_clean_error(raw):
    with StandIn() as srv:
        srv.raw = raw
        eng = load_engine("standin", backend="openai", base_url=srv.url)
        with pytest.raises((InferenceError, ModelError)):
            eng.complete("sys", [Segment("hi")], schema=SCHEMA, max_tokens=64)


def test_an_update_with_78_operations_changes_nothing(runner, tmp_path):
    path = tmp_path / "px.db"
    db = open_db(path)
    add_conversation(db, "c1", [("user", "I prefer tables over prose."), ("assistant", "Ok.")])
    db.conn.close()

    def respond(body):  # reads honestly, then proposes 78 operations where 6 are allowed
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        item = schema["properties"].get("observations", {}).get("items")
        if item is None:
            return json.dumps({"operations": [op(text=f"Line {i}") for i in range(78)]})
        kind = item["properties"]["kind"]["enum"][0]
        label = item["properties"]["messages"]["items"]["enum"][0]
        seen = {"kind": kind, "text": "Prefers tables over prose", "messages": [label]}
        return json.dumps({"observations": [seen]})

    with StandIn() as srv:
        srv.respond = respond
        result = runner.invoke(
            app,
            ["update", "--db", str(path), "--backend", "openai", "--base-url", srv.url,
             "--model", "standin"],
        )  # fmt: skip
    assert result.exit_code == 1
    assert "78 items where at most 8 are allowed" in result.stderr
    assert "Traceback" not in result.output
    rows = open_db(path).execute("select count(*) from profile_lines").fetchone()[0]
    assert rows == 0
