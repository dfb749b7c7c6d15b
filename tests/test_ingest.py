"""ingest_path/ingest_stream write what the importers read, once: exact counts for every fixture,
idempotence, overlapping exports, companion files in a zip, and stored rows."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from chat_samples import (
    claude_export,
    gemini_activity,
    gpt_regenerated,
    make_llm_legacy,
    write_json,
)

from pxprofile.errors import FormatError
from pxprofile.ingest import ingest_path, ingest_stream
from pxprofile.store import open_db

# file -> (format, conversations, messages, pairs)
FIXTURE_COUNTS = {
    "chatgpt/branches-regenerate-edit.json": ("chatgpt", 1, 12, 0),
    "chatgpt/gpt5-single-conversation-multimodal.json": ("chatgpt", 1, 24, 0),
    "chatgpt/export-2024-browsing.json": ("chatgpt", 2, 21, 0),
    "chatgpt/citations.json": ("chatgpt", 1, 2, 0),
    "openwebui/export.json": ("openwebui", 3, 8, 0),
}


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "t.db")


def counts(db):
    return {t: db[t].count for t in ("sources", "conversations", "messages", "pairs", "feedback")}


def test_every_fixture_is_covered(fixtures_dir):
    # coding-agent sessions (fixtures/agents) are counted in test_agent_importers.py
    found = {
        str(p.relative_to(fixtures_dir))
        for p in Path(fixtures_dir).rglob("*.json")
        if p.relative_to(fixtures_dir).parts[0] != "agents"
    }
    assert found == set(FIXTURE_COUNTS)


@pytest.mark.parametrize("name", sorted(FIXTURE_COUNTS))
def test_fixture_counts_and_reingest_adds_nothing(db, fixtures_dir, name):
    fmt, n_conv, n_msg, n_pairs = FIXTURE_COUNTS[name]
    s = ingest_path(db, Path(fixtures_dir) / name)
    assert (s.format, s.conversations, s.messages, s.added, s.skipped, s.pairs, s.errors) == (
        fmt,
        n_conv,
        n_msg,
        n_msg,
        0,
        n_pairs,
        [],
    )
    assert counts(db) == {
        "sources": 1,
        "conversations": n_conv,
        "messages": n_msg,
        "pairs": n_pairs,
        "feedback": 0,
    }
    again = ingest_path(db, Path(fixtures_dir) / name)
    assert (again.added, again.skipped, again.pairs, again.source_id) == (0, n_msg, 0, s.source_id)
    assert counts(db) == {
        "sources": 1,
        "conversations": n_conv,
        "messages": n_msg,
        "pairs": n_pairs,
        "feedback": 0,
    }
    src = db["sources"].get(s.source_id)
    assert src["format"] == fmt and len(src["sha256"]) == 64 and src["added"] == n_msg


def test_all_fixtures_together(db, fixtures_dir):
    for name in sorted(FIXTURE_COUNTS):
        ingest_path(db, Path(fixtures_dir) / name)
    # citations.json is a trimmed copy of the browsing export's first conversation (same id)
    assert counts(db) == {
        "sources": 5,
        "conversations": 7,
        "messages": 67,
        "pairs": 0,
        "feedback": 0,
    }
    conv = db["conversations"].get("chatgpt:d6523d1e-7ec3-474f-a363-0e9dffdb3d93")
    # a dangling current_node never replaces the kept leaf stored from the fuller export
    assert (
        conv["current_leaf"]
        == "chatgpt:d6523d1e-7ec3-474f-a363-0e9dffdb3d93:88a0cf9f-e860-4b34-8e7e-65f8346f4862"
    )


def test_stored_rows(db, tmp_path):
    ingest_path(db, write_json(tmp_path / "c.json", [gpt_regenerated()]))
    m = db["messages"].get("chatgpt:conv-regen:u1")
    assert (
        m["conversation_id"] == "chatgpt:conv-regen" and m["parent_id"] == "chatgpt:conv-regen:ci"
    )
    assert (m["role"], m["text"], m["hidden"], m["on_active_path"], m["redacted"]) == (
        "user",
        "How do I join two tables in SQL?",
        0,
        1,
        None,
    )
    ci = db["messages"].get("chatgpt:conv-regen:ci")
    assert (ci["role"], ci["author_name"], ci["hidden"]) == ("user", "custom_instructions", 1)
    rows = list(
        db.query(
            "SELECT chosen_id, rejected_id, prompt_id, origin, interrupted FROM pairs ORDER BY rejected_id"
        )
    )
    assert rows == [
        {
            "chosen_id": "chatgpt:conv-regen:a1t",
            "rejected_id": "chatgpt:conv-regen:a2",
            "prompt_id": "chatgpt:conv-regen:u1",
            "origin": "branch",
            "interrupted": 0,
        },
        {
            "chosen_id": "chatgpt:conv-regen:a1t",
            "rejected_id": "chatgpt:conv-regen:a3",
            "prompt_id": "chatgpt:conv-regen:u1",
            "origin": "branch",
            "interrupted": 1,
        },
    ]
    conv = db["conversations"].get("chatgpt:conv-regen")
    assert (conv["title"], conv["current_leaf"], conv["created_at"]) == (
        "SQL joins",
        "chatgpt:conv-regen:u2",
        "2024-05-01T17:37:11.148505Z",
    )
    # full-text search sees the new rows
    hits = list(
        db.query(
            "SELECT m.id FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid "
            "WHERE messages_fts MATCH 'tables'"
        )
    )
    assert hits == [{"id": "chatgpt:conv-regen:u1"}]
    # the index matches the table exactly (bulk-indexed per source, migration m002)
    db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    assert db.execute("SELECT count(*) FROM fts_deferred").fetchone() == (0,)


def test_fts_still_indexes_rows_inserted_outside_ingest(db):
    db["messages"].insert(
        {"id": "x", "conversation_id": "c", "role": "user", "text": "zebra crossing"}
    )
    db.execute("UPDATE messages SET text = 'giraffe' WHERE id = 'x'")
    db.execute("UPDATE messages SET hidden = 1 WHERE id = 'x'")

    def hits(q):
        return db.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", [q]
        ).fetchall()

    assert hits("zebra") == [] and len(hits("giraffe")) == 1
    db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")


def test_newer_export_overlapping_older_adds_only_new_and_moves_kept_path(db, tmp_path):
    old = gpt_regenerated()
    ingest_path(db, write_json(tmp_path / "old.json", [old]))
    new = gpt_regenerated()
    new["title"] = "SQL joins (renamed)"
    new["mapping"]["a3b"] = {
        "id": "a3b",
        "message": dict(new["mapping"]["a2"]["message"], id="a3b"),
        "parent": "a2",
        "children": [],
    }
    new["mapping"]["a3b"]["message"]["author"] = {"role": "user"}
    new["mapping"]["a3b"]["message"]["content"] = {"content_type": "text", "parts": ["go on"]}
    new["mapping"]["a2"]["children"] = ["a3b"]
    new["current_node"] = "a3b"
    s = ingest_path(db, write_json(tmp_path / "new.json", [new]))
    assert (s.added, s.skipped) == (1, 10)
    active = [
        r["native_id"]
        for r in db.query("SELECT native_id FROM messages WHERE on_active_path = 1 ORDER BY seq")
    ]
    assert active == ["ci", "u1", "a2", "a3b"]
    conv = db["conversations"].get("chatgpt:conv-regen")
    assert (
        conv["title"] == "SQL joins (renamed)" and conv["current_leaf"] == "chatgpt:conv-regen:a3b"
    )
    assert db["sources"].count == 2


def test_claude_and_gemini_store(db, tmp_path):
    s = ingest_path(db, write_json(tmp_path / "claude.json", claude_export()))
    assert (s.format, s.conversations, s.added, s.pairs) == ("claude", 2, 11, 1)
    g = ingest_path(db, write_json(tmp_path / "MyActivity.json", gemini_activity()))
    assert (g.format, g.conversations, g.added, g.pairs) == ("gemini", 3, 7, 1)
    assert db["conversations"].count == 4  # both abc123 rows share one conversation
    conv = db["conversations"].get("gemini:abc123")
    assert (
        conv["created_at"] == "2026-02-02T07:20:00.000000Z"
        and conv["updated_at"] == "2026-02-02T07:24:02.806000Z"
    )


def test_chatgpt_zip_with_feedback_and_comparisons(db, tmp_path):
    conv = gpt_regenerated("693c3a5f-3574-832e-a61f-d5e80e2ffa97")
    feedback = [
        {
            "id": "a1t",
            "conversation_id": "693c3a5f3574832ea61fd5e80e2ffa97",
            "user_id": "user-1",
            "rating": "thumbs_up",
            "create_time": "2025-12-12T19:03:57.424640Z",
            "content": "{}",
        }
    ]
    comparisons = [
        {
            "id": "cmp-1",
            "input": {
                "prompt_convo": {
                    "messages": [
                        {
                            "author": {"role": "user"},
                            "content": {"content_type": "text", "parts": ["pick one"]},
                        }
                    ]
                }
            },
            "output": {
                "feedback_step_2": {
                    "original_turn": [
                        {
                            "author": {"role": "assistant"},
                            "content": {"content_type": "text", "parts": ["A"]},
                        }
                    ],
                    "new_turn": [
                        {
                            "author": {"role": "assistant"},
                            "content": {"content_type": "text", "parts": ["B"]},
                        }
                    ],
                    "completion_comparison_rating": "original",
                }
            },
        }
    ]
    zpath = tmp_path / "export.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conversations.json", json.dumps([conv]))
        z.writestr("message_feedback.json", json.dumps(feedback))
        z.writestr("model_comparisons.json", json.dumps(comparisons))
        z.writestr("user.json", json.dumps({"email": "x@example.com"}))
        z.writestr("chat.html", "<html></html>")
    s = ingest_path(db, zpath)
    assert (s.format, s.conversations, s.added, s.pairs, s.feedback) == ("chatgpt", 1, 10, 3, 1)
    fb = db["feedback"].get("chatgpt:a1t:up")
    assert (
        fb["message_id"] == "chatgpt:693c3a5f-3574-832e-a61f-d5e80e2ffa97:a1t" and fb["rating"] == 1
    )
    assert db["messages"].get(fb["message_id"])["text"] == "Use JOIN ... ON."
    cmp = db["pairs"].get("chatgpt:comparison:cmp-1")
    assert (cmp["chosen_text"], cmp["rejected_text"], cmp["prompt_text"]) == ("A", "B", "pick one")
    again = ingest_path(db, zpath)
    assert (again.added, again.pairs, again.feedback) == (0, 0, 0) and db["sources"].count == 1


def test_gemini_takeout_zip_ignores_other_products(db, tmp_path):
    zpath = tmp_path / "takeout.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr(
            "Takeout/My Activity/YouTube/MyActivity.json", json.dumps([{"header": "YouTube"}])
        )
        z.writestr("Takeout/My Activity/Gemini Apps/MyActivity.json", json.dumps(gemini_activity()))
    s = ingest_path(db, zpath)
    assert (s.format, s.conversations, s.added) == ("gemini", 3, 7)


def test_llm_logs_db(db, tmp_path):
    s = ingest_path(db, make_llm_legacy(tmp_path / "logs.db"))
    assert (s.format, s.conversations, s.added) == ("llm", 2, 7)
    assert ingest_path(db, tmp_path / "logs.db").added == 0


def test_stdin_stream(db):
    s = ingest_stream(db, io.BytesIO(b"User: hello\nAssistant: hi\n"))
    assert (s.path, s.format, s.added) == ("<stdin>", "text", 2)
    assert db["sources"].get(s.source_id)["path"] == "<stdin>"


def test_lone_surrogates_and_nul_are_cleaned(db, tmp_path):
    conv = gpt_regenerated()
    conv["title"] = "bad \ud83d title"
    conv["mapping"]["u1"]["message"]["content"]["parts"] = ["a\x00b \udc00 c"]
    conv["mapping"]["u1"]["message"]["author"]["name"] = "n\ud800"
    path = tmp_path / "s.json"
    path.write_text(json.dumps([conv]), encoding="ascii")  # \\uXXXX escapes, as real exports write
    s = ingest_path(db, path)
    assert s.added == 10
    row = db["messages"].get("chatgpt:conv-regen:u1")
    assert row["text"] == "ab \ufffd c" and row["author_name"] == "n\ufffd"
    assert db["conversations"].get("chatgpt:conv-regen")["title"] == "bad \ufffd title"


def test_redacted_column_uses_redact(db, tmp_path, monkeypatch):
    import pxprofile.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "redact", lambda t, **kw: t.replace("SQL", "[REDACTED]"))
    ingest_path(db, write_json(tmp_path / "c.json", [gpt_regenerated()]))
    row = db["messages"].get("chatgpt:conv-regen:u1")
    assert row["redacted"] == "How do I join two tables in [REDACTED]?"
    assert db["messages"].get("chatgpt:conv-regen:u2")["redacted"] is None


def test_bulk_ingest_rebuilds_indexes_and_stays_atomic(db, tmp_path, monkeypatch):
    """A big file into a small database drops the message indexes and rebuilds them at the end;
    a failure in the middle restores them with everything else."""
    import pxprofile.ingest as ingest_mod

    def indexes():
        return sorted(
            r[0]
            for r in db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' "
                "AND sql IS NOT NULL"
            )
        )

    before = indexes()
    assert len(before) >= 3
    assert not ingest_mod._bulk(100 * 1024**2, 10**6, False)  # big database: keep the indexes
    assert not ingest_mod._bulk(None, 0, False)  # stdin: size unknown
    assert ingest_mod._bulk(100 * 1024**2, 0, False)
    dropped = []
    real_drop = ingest_mod._drop_indexes
    monkeypatch.setattr(ingest_mod, "_bulk", lambda *a: True)
    monkeypatch.setattr(
        ingest_mod, "_drop_indexes", lambda conn: dropped.append(1) or real_drop(conn)
    )
    s = ingest_path(
        db, write_json(tmp_path / "c.json", [gpt_regenerated("a"), gpt_regenerated("b")])
    )
    assert s.added == 20 and indexes() == before
    assert db.execute(
        "SELECT count(*) FROM messages WHERE conversation_id = 'chatgpt:b'"
    ).fetchone() == (10,)
    db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([gpt_regenerated("c"), gpt_regenerated("d")])[:-30])
    with pytest.raises(FormatError):
        ingest_path(db, bad)
    assert indexes() == before and db["messages"].count == 20
    assert dropped == [1, 1]


def test_reingest_does_not_redo_stored_messages(db, tmp_path, monkeypatch):
    import pxprofile.ingest as ingest_mod

    calls = []
    conv = gpt_regenerated()
    # messages only: the conversation title is redacted on every ingest (one call per chat)
    monkeypatch.setattr(
        ingest_mod, "redact", lambda t, **kw: t == conv["title"] or calls.append(t) or t
    )
    path = write_json(tmp_path / "c.json", [conv])
    ingest_path(db, path)
    first = len(calls)
    assert first == 9  # every message with text (a5 is empty)
    conv["mapping"]["u3"] = {
        "id": "u3",
        "message": dict(conv["mapping"]["u2"]["message"], id="u3"),
        "parent": "u2",
        "children": [],
    }
    conv["mapping"]["u3"]["message"]["content"] = {"content_type": "text", "parts": ["one more"]}
    s = ingest_path(db, write_json(tmp_path / "c2.json", [conv]))
    assert (s.added, s.skipped) == (1, 10)
    assert calls[first:] == ["one more"]
