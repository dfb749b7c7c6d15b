"""The batched write path of ingest (issue 14): each batch's full-text indexing runs in a helper
thread while the next batch is parsed. Small batches here, so one real export spans many."""

from __future__ import annotations

import json
import sqlite3

import pytest
from chat_samples import gpt_conversation, gpt_node, write_json

from pxprofile import ingest
from pxprofile.chats import search_messages as search
from pxprofile.errors import StoreError
from pxprofile.store import open_db

WORDS = ["alpaca", "bramble", "cobalt", "dervish", "ember", "fjord", "gazebo", "halcyon"]


def _export(path, n: int, *, offset: int = 0):
    convs = []
    for i in range(offset, offset + n):
        word = WORDS[i % len(WORDS)]
        nodes = [
            gpt_node(f"u{i}", "root", "user", f"Tell me about {word} number {i}.", t=1.7e9 + i),
            gpt_node(f"a{i}", f"u{i}", "assistant", f"The {word} {i} is lovely.", t=1.7e9 + i + 1),
        ]
        convs.append(gpt_conversation(f"conv-{i}", nodes, f"a{i}", title=f"About {word}"))
    return write_json(path, convs)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(ingest, "BATCH", 3)


def _fts_ok(db) -> None:
    # FTS5's own check that the index matches the content table (external content)
    db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    (docs,) = db.execute("SELECT count(*) FROM messages_fts_docsize").fetchone()
    assert docs == db["messages"].count


def test_every_batch_is_indexed(tmp_path, small_batches):
    db = open_db(tmp_path / "t.db")
    s = ingest.ingest_path(db, _export(tmp_path / "a.json", 20))
    assert (s.conversations, s.added, s.skipped) == (20, 40, 0)
    _fts_ok(db)
    hits = search(db, "fjord", limit=50)
    assert sorted(h["message_id"] for h in hits) == sorted(
        f"chatgpt:conv-{i}:{m}{i}" for i in range(20) if i % len(WORDS) == 5 for m in "ua"
    )
    # an overlapping newer export: known conversations are read back, new ones batched
    s = ingest.ingest_path(db, _export(tmp_path / "b.json", 20, offset=10))
    assert (s.conversations, s.added, s.skipped) == (20, 20, 20)
    assert db["conversations"].count == 30 and db["messages"].count == 60
    _fts_ok(db)
    assert len(search(db, "29", limit=50)) == 2


def test_the_same_conversation_twice_in_one_file(tmp_path, small_batches):
    db = open_db(tmp_path / "t.db")
    path = _export(tmp_path / "a.json", 4)

    convs = json.loads(path.read_text())
    write_json(path, convs + [convs[1]])
    s = ingest.ingest_path(db, path)
    assert (s.conversations, s.added, s.skipped) == (5, 8, 2)
    _fts_ok(db)


def test_a_failure_in_the_indexing_thread_changes_nothing(tmp_path, small_batches, monkeypatch):
    db = open_db(tmp_path / "t.db")
    ingest.ingest_path(db, _export(tmp_path / "first.json", 2))
    before = {t: db[t].count for t in ("sources", "conversations", "messages")}
    real = ingest._Writer._index
    calls = []

    def failing(self, after, upto):
        calls.append((after, upto))
        if len(calls) == 3:
            self._index_error = sqlite3.OperationalError("database or disk is full")
            return
        real(self, after, upto)

    monkeypatch.setattr(ingest._Writer, "_index", failing)
    with pytest.raises(StoreError, match="is full; nothing was saved"):
        ingest.ingest_path(db, _export(tmp_path / "big.json", 20, offset=100))
    assert {t: db[t].count for t in ("sources", "conversations", "messages")} == before
    _fts_ok(db)
    assert len(calls) >= 3
    assert calls[0][0] == 4 and all(a[1] == b[0] for a, b in zip(calls, calls[1:], strict=False))
