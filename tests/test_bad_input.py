"""Bad input: one line `Error: <file>: <problem>. <what to do>`, exit 1, database unchanged."""

from __future__ import annotations

import json
import sqlite3
import zipfile

import pytest
from chat_samples import gpt_regenerated, write_json

from pxprofile.cli import app
from pxprofile.importers import common
from pxprofile.importers.detect import FORMATS

TABLES = ("sources", "conversations", "messages", "pairs", "feedback")


@pytest.fixture
def dbfile(tmp_path, runner, fixtures_dir):
    """A database that already holds one fixture, so 'unchanged' is checked against real rows."""
    path = tmp_path / "px.db"
    r = runner.invoke(
        app,
        [
            "ingest",
            f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json",
            "--no-update",
            "--db",
            str(path),
        ],
    )
    assert r.exit_code == 0, r.stderr
    return path


def snapshot(path):
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        conn.close()


def fails(runner, dbfile, target, expected, *extra):
    before = snapshot(dbfile)
    r = runner.invoke(app, ["ingest", str(target), "--no-update", "--db", str(dbfile), *extra])
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    assert r.stderr == f"Error: {target}: {expected}\n"
    assert snapshot(dbfile) == before


def test_unknown_json_format(runner, dbfile, tmp_path):
    f = write_json(tmp_path / "x.json", [{"foo": 1, "bar": 2}])
    fails(
        runner,
        dbfile,
        f,
        "unknown format (objects with keys bar, foo). Pass --format (one of "
        f"{', '.join(FORMATS)}) if you know what it is, or check that this is a chat export.",
    )


def test_unknown_text_format(runner, dbfile, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("just some notes\nnothing like a chat\n")
    fails(
        runner,
        dbfile,
        f,
        "unknown format (not JSON, and no 'User:' / 'Assistant:' turns). Pass --format "
        f"(one of {', '.join(FORMATS)}) if you know what it is.",
    )


def test_truncated_json(runner, dbfile, tmp_path, fixtures_dir):
    data = open(f"{fixtures_dir}/chatgpt/export-2024-browsing.json", "rb").read()
    f = tmp_path / "conversations.json"
    f.write_bytes(data[: len(data) // 2])
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {f}: invalid JSON, unexpected end of file at character ")
    assert r.stderr.endswith("The file looks truncated; download the export again.\n")


def test_truncated_after_a_good_conversation_changes_nothing(runner, dbfile, tmp_path):
    good = json.dumps([gpt_regenerated("one"), gpt_regenerated("two")])
    f = tmp_path / "c.json"
    f.write_text(good[: len(good) - 40])
    before = snapshot(dbfile)
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1 and "unexpected end of file" in r.stderr
    assert snapshot(dbfile) == before  # the first, complete conversation was rolled back too


def test_invalid_json_in_the_middle(runner, dbfile, tmp_path):
    f = tmp_path / "c.json"
    f.write_text('[{"mapping": {}, "current_node": null}, {"title": nope}]')
    fails(
        runner,
        dbfile,
        f,
        "invalid JSON at character 50 (Expecting value). Check that this is the export "
        "file as downloaded.",
    )


def test_non_utf8(runner, dbfile, tmp_path):
    f = tmp_path / "c.json"
    f.write_bytes(b'[{"title": "caf\xe9"}]')
    fails(
        runner,
        dbfile,
        f,
        "not UTF-8 text (invalid byte at offset 15). Give the original export, or "
        "convert the file to UTF-8.",
    )


def test_bom_is_accepted(runner, dbfile, tmp_path):
    f = tmp_path / "c.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps([gpt_regenerated()]).encode())
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 0, r.stderr
    assert (
        r.stderr
        == "Ingested c.json (chatgpt): 1 conversation, 10 messages added, 0 skipped, 2 pairs.\n"
    )


def test_nul_and_lone_surrogate_are_accepted(runner, dbfile, tmp_path):
    conv = gpt_regenerated()
    conv["mapping"]["u1"]["message"]["content"]["parts"] = ["x\u0000y \ud83d z"]
    f = write_json(tmp_path / "c.json", [conv])
    assert "\\ud83d" in f.read_text() and "\\u0000" in f.read_text()
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 0, r.stderr
    conn = sqlite3.connect(dbfile)
    assert conn.execute(
        "SELECT text, length(text) FROM messages WHERE native_id = 'u1'"
    ).fetchone() == ("xy \ufffd z", 6)


def test_cycle_in_the_only_conversation(runner, dbfile, tmp_path):
    conv = gpt_regenerated("loop")
    conv["mapping"]["u1"]["parent"] = "u2"  # u1 -> u2 -> a1t -> a1r -> a1 -> u1
    f = write_json(tmp_path / "c.json", [conv])
    fails(
        runner,
        dbfile,
        f,
        "nothing could be imported (loop: the message tree has a cycle (a message is its "
        "own ancestor)). Check that this is a complete chatgpt export.",
    )


def test_corrupt_conversation_inside_good_export_is_skipped(runner, dbfile, tmp_path):
    bad = gpt_regenerated("loop")
    bad["mapping"]["u1"]["parent"] = "u2"
    f = write_json(
        tmp_path / "c.json",
        [gpt_regenerated("fine"), bad, {"title": "x", "mapping": None, "id": "m"}],
    )
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile), "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["conversations"] == 1 and out["added"] == 10
    assert out["errors"] == [
        "loop: the message tree has a cycle (a message is its own ancestor)",
        "m: no message mapping",
    ]
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.stderr == (
        "Ingested c.json (chatgpt): 1 conversation, 0 messages added, 10 skipped, 0 pairs; "
        "2 corrupt conversations not imported (loop: the message tree has a cycle (a message "
        "is its own ancestor)).\n"
    )


def test_dangling_current_node_is_not_an_error(runner, dbfile, fixtures_dir):
    r = runner.invoke(
        app,
        ["ingest", f"{fixtures_dir}/chatgpt/citations.json", "--no-update", "--db", str(dbfile)],
    )
    assert r.exit_code == 0
    assert r.stderr.startswith(
        "Ingested citations.json (chatgpt): 1 conversation, 2 messages added, 0 skipped, 0 pairs"
    )


def test_zip_slip(runner, dbfile, tmp_path):
    f = tmp_path / "evil.zip"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("conversations.json", json.dumps([gpt_regenerated()]))
        z.writestr("../../etc/evil.json", "[]")
    fails(
        runner,
        dbfile,
        f,
        "unsafe path '../../etc/evil.json' inside the zip (zip slip). This is not a "
        "genuine export.",
    )


def test_zip_bomb_ratio(runner, dbfile, tmp_path):
    f = tmp_path / "bomb.zip"
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conversations.json", b"[" + b" " * (8 * 1024**2) + b"]")
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {f}: conversations.json expands ")
    assert r.stderr.endswith("x (limit 200x), a likely zip bomb. This is not a genuine export.\n")


def test_zip_too_many_members_and_total_size(runner, dbfile, tmp_path, monkeypatch):
    f = tmp_path / "many.zip"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("conversations.json", json.dumps([gpt_regenerated()]))
        for i in range(5):
            z.writestr(f"file-{i}.png", b"x" * 1000)
    monkeypatch.setattr(common.LIMITS, "max_zip_members", 4)
    fails(
        runner,
        dbfile,
        f,
        "the zip has 6 files, more than the limit of 4. Pass the export zip as downloaded.",
    )
    monkeypatch.setattr(common.LIMITS, "max_zip_members", 100)
    monkeypatch.setattr(common.LIMITS, "max_zip_total_bytes", 1024**2 // 2)
    size = f.stat().st_size
    assert size < 1024**2
    monkeypatch.setattr(common.LIMITS, "max_zip_total_bytes", 1000)
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1 and "the zip expands to 0 MB, over the 0 MB limit" in r.stderr


def test_nested_zip_is_never_opened(runner, dbfile, tmp_path):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("conversations.json", json.dumps([gpt_regenerated()]))
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(inner, "export.zip")
    fails(
        runner,
        dbfile,
        outer,
        "no chat export inside the zip (no conversations.json or Gemini Apps "
        "MyActivity.json). Pass the zip you downloaded from ChatGPT, Claude or Google Takeout.",
    )


def test_damaged_zip(runner, dbfile, tmp_path):
    f = tmp_path / "broken.zip"
    f.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1 and r.stderr.startswith(f"Error: {f}: a damaged zip file (")


def test_deep_nesting(runner, dbfile, tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    fails(
        runner,
        dbfile,
        f,
        "JSON too deeply nested (more than about 1,000 levels). This is not a chat export; "
        "check the file.",
    )


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "the file is empty. Pass a chat export."),
        (b"  \n\t ", "the file is empty. Pass a chat export."),
        (b"\xef\xbb\xbf", "the file is empty. Pass a chat export."),
        (b"[]", "an empty list, with no conversations to import. Pass a non-empty export."),
        (
            b"[null, null]",
            "an empty list, with no conversations to import. Pass a non-empty export.",
        ),
    ],
)
def test_empty_inputs(runner, dbfile, tmp_path, content, problem):
    f = tmp_path / "empty.json"
    f.write_bytes(content)
    fails(runner, dbfile, f, problem)


def test_trailing_garbage(runner, dbfile, tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps([gpt_regenerated()]) + " x")
    r = runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1
    assert "unexpected data after the end of the JSON document" in r.stderr


def test_file_size_limit(runner, dbfile, tmp_path, monkeypatch):
    monkeypatch.setattr(common.LIMITS, "max_file_bytes", 1024**2)
    f = tmp_path / "big.json"
    f.write_bytes(b"[" + b" " * (2 * 1024**2) + b"]")
    fails(runner, dbfile, f, "2 MB is over the 1 MB limit. Split the export into smaller files.")


def test_conversation_size_and_node_limits(runner, dbfile, tmp_path, monkeypatch):
    f = write_json(tmp_path / "c.json", [gpt_regenerated()])
    monkeypatch.setattr(common.LIMITS, "max_element_chars", 1000)
    monkeypatch.setattr(common, "READ_CHUNK", 512)
    fails(
        runner,
        dbfile,
        f,
        "one conversation is larger than 0 MB. Split the export or raise the limit.",
    )
    monkeypatch.setattr(common.LIMITS, "max_element_chars", 10**9)
    monkeypatch.setattr(common.LIMITS, "max_nodes", 5)
    fails(
        runner,
        dbfile,
        f,
        "nothing could be imported (conv-regen: 10 messages, more than the limit of 5). "
        "Check that this is a complete chatgpt export.",
    )


def test_missing_file_and_directory(runner, dbfile, tmp_path):
    fails(runner, dbfile, tmp_path / "nope.json", "no such file. Check the path.")
    fails(runner, dbfile, tmp_path, "is a directory. Pass the export file (or the zip) inside it.")


def test_not_an_llm_database(runner, dbfile, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    fails(
        runner,
        dbfile,
        other,
        "a SQLite database, but not an llm logs.db. Pass llm's logs.db (see `llm logs path`).",
    )


def test_unknown_format_option_is_a_usage_error(runner, dbfile, fixtures_dir):
    r = runner.invoke(
        app,
        [
            "ingest",
            f"{fixtures_dir}/openwebui/export.json",
            "--format",
            "nope",
            "--db",
            str(dbfile),
        ],
    )
    assert r.exit_code == 2
    assert "unknown format 'nope'" in r.stderr


def test_several_files_one_bad(runner, dbfile, tmp_path, fixtures_dir):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    good = f"{fixtures_dir}/openwebui/export.json"
    r = runner.invoke(app, ["ingest", str(bad), good, "--no-update", "--db", str(dbfile)])
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        f"Error: {bad}: invalid JSON, unexpected end of file at character 1 (Expecting property name enclosed "
        "in double quotes). The file looks truncated; download the export again.",
        "Ingested export.json (openwebui): 3 conversations, 8 messages added, 0 skipped, 0 pairs.",
        "Total: 1 of 2 files, 3 conversations, 8 messages added, 0 skipped, 0 pairs.",
    ]


# -- fuzzing: whatever the bytes, only a PxprofileError (one clean line) may come out ------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pxprofile.errors import PxprofileError  # noqa: E402
from pxprofile.importers.common import Skipped  # noqa: E402
from pxprofile.importers.detect import open_input  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "mapping",
                    "current_node",
                    "message",
                    "parent",
                    "children",
                    "author",
                    "role",
                    "content",
                    "parts",
                    "chat_messages",
                    "sender",
                    "uuid",
                    "text",
                    "id",
                    "messages",
                    "conversations",
                    "from",
                    "value",
                    "header",
                    "title",
                    "time",
                    "safeHtmlItem",
                    "chat",
                    "history",
                    "currentId",
                    "parentId",
                    "content_type",
                    "create_time",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(
    max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=_json)
def test_fuzz_structures_raise_only_pxprofile_errors(data):
    raw = json.dumps(data).encode()
    try:
        opened = open_input(None, __import__("io").BytesIO(raw), name="fuzz")
        for _ in opened.records:
            pass
    except PxprofileError as e:
        assert str(e).startswith("fuzz: ")


@settings(max_examples=150, derandomize=True, deadline=None)
@given(raw=st.binary(max_size=200))
def test_fuzz_bytes_raise_only_pxprofile_errors(raw):
    try:
        opened = open_input(None, __import__("io").BytesIO(raw), name="fuzz")
        for _ in opened.records:
            pass
    except PxprofileError as e:
        assert str(e).startswith("fuzz: ")


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    parents=st.lists(st.one_of(st.none(), st.integers(0, 9), st.just(99)), min_size=1, max_size=10),
    roles=st.lists(
        st.sampled_from(["user", "assistant", "tool", "system"]), min_size=10, max_size=10
    ),
    current=st.one_of(st.none(), st.integers(0, 12)),
)
def test_fuzz_chatgpt_trees_terminate(parents, roles, current):
    """Random parent links (cycles, self-loops, dangling ids): a conversation or a clean skip."""
    from chat_samples import gpt_node

    nodes = {
        f"n{i}": gpt_node(f"n{i}", None if p is None else f"n{p}", roles[i], f"text {i % 3}")
        for i, p in enumerate(parents)
    }
    for n in nodes.values():
        if n["parent"] in nodes:
            nodes[n["parent"]]["children"].append(n["id"])
    conv = {
        "id": "fz",
        "mapping": nodes,
        "current_node": None if current is None else f"n{current}",
    }
    opened = open_input(None, __import__("io").BytesIO(json.dumps([conv]).encode()), name="fuzz")
    (rec,) = list(opened.records)
    if isinstance(rec, Skipped):
        assert "cycle" in rec.reason
    else:
        assert len(rec.messages) == len(parents)
        kept = [m for m in rec.messages if m.on_active_path]
        ids = {m.id for m in kept}
        # the kept path is one chain: a single root, and no message with two kept children
        assert kept and sum(m.parent not in ids for m in kept) == 1
        assert len({m.parent for m in kept}) == len(kept)
