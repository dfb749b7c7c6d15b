"""The chat formats added in issue 14 (Grok, DeepSeek, Google AI Studio, SillyTavern, pasted
transcripts): detected by content, normalized with roles, hidden reasoning, the kept path and
preference pairs, and stored by the real CLI into a real SQLite file."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from samples14 import (
    aistudio_prompt,
    deepseek_export,
    grok_export,
    grok_zip,
    jsonl,
    sillytavern_lines,
)

from pxprofile.cli import app
from pxprofile.importers.common import Conversation
from pxprofile.importers.detect import open_input


def recs(data, name="sample", **kw):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    opened = open_input(None, io.BytesIO(raw), name=name, **kw)
    return opened.format, list(opened.records)


def by_id(conv: Conversation):
    return {m.id: m for m in conv.messages}


def ingest(runner, tmp_path, path):
    db = tmp_path / "px.db"
    r = runner.invoke(app, ["ingest", str(path), "--no-update", "--db", str(db)])
    assert r.exit_code == 0, r.stderr
    return r, sqlite3.connect(db)


# -- Grok ----------------------------------------------------------------------------------------


def test_grok_is_told_apart_from_a_wrapped_chatgpt_export():
    fmt, out = recs(grok_export())
    assert fmt == "grok"
    assert [c.id for c in out] == ["grok-branched", "grok-retried"]
    wrapped = {"conversations": [{"mapping": {}, "current_node": None, "id": "c"}]}
    fmt, _ = recs(wrapped)
    assert fmt == "chatgpt"


def test_grok_tree_roles_times_thinking_and_regeneration_pair():
    _, (conv, retried) = recs(grok_export())
    m = by_id(conv)
    assert (m["g1"].role, m["g2a"].role, m["g2b"].role) == ("user", "assistant", "assistant")
    assert m["g2b"].parent == "g1" and m["g3"].parent == "g2b"
    # the thinking trace is stored hidden, between the prompt and the reply
    assert m["g2a#thinking"].hidden and m["g2a#thinking"].parent == "g1"
    assert m["g2a"].parent == "g2a#thinking"
    assert m["g1"].created_at == "2026-07-14T03:25:10.820000Z"
    # the newest leaf (g4, under g2b) is the kept path: g2b chosen over g2a
    assert m["g4"].on_active_path and m["g2b"].on_active_path and not m["g2a"].on_active_path
    assert [(p.chosen, p.rejected, p.prompt) for p in conv.pairs] == [("g2b", "g2a", "g1")]
    r = by_id(retried)
    assert r["t2"].status == "interrupted" and r["t2"].hidden
    assert r["t3"].parent == "t2"  # the aborted reply's child keeps its place in the tree
    assert r["t4"].parent is None  # the retried opening prompt is a second root
    assert r["t5"].created_at == "2026-07-15T10:01:00.000000Z"  # relaxed $date
    assert r["t6"].parent == "missing-response"  # kept; link_tree made it a root


def test_grok_zip_is_found_by_its_backend_file(runner, tmp_path):
    path = grok_zip(tmp_path / "grok-export.zip")
    r, conn = ingest(runner, tmp_path, path)
    assert "(grok): 2 conversations, 12 messages added" in r.stderr
    rows = conn.execute(
        "select id, role, hidden from messages where conversation_id = 'grok:grok-branched' "
        "order by id"
    ).fetchall()
    assert ("grok:grok-branched:g1", "user", 0) in rows
    assert ("grok:grok-branched:g2a#thinking", "assistant", 1) in rows
    assert conn.execute("select count(*) from pairs").fetchone()[0] == 1
    # nothing from the PII siblings was read
    assert (
        conn.execute("select count(*) from messages where text like '%email%'").fetchone()[0] == 0
    )


# -- DeepSeek ------------------------------------------------------------------------------------


def test_deepseek_fragments_give_roles_and_hidden_reasoning():
    fmt, (conv, hello) = recs(deepseek_export())
    assert fmt == "deepseek"
    m = by_id(conv)
    assert (m["1"].role, m["1"].hidden, m["1"].parent) == ("user", False, None)
    assert m["2#0"].hidden and m["2#0"].content_type == "think" and m["2#0"].parent == "1"
    assert (m["2"].role, m["2"].parent, m["2"].model) == ("assistant", "2#0", "deepseek-reasoner")
    assert m["1"].created_at == "2025-03-29T20:49:36.505000Z"  # +08:00 to UTC
    # no kept leaf in the export: the newest reply (3) is kept, 2 is rejected
    assert m["3"].on_active_path and not m["2"].on_active_path
    assert [(p.chosen, p.rejected) for p in conv.pairs] == [("3", "2")]
    assert [x.text for x in hello.messages] == ["hi", "Hello! How can I help?"]


def test_deepseek_is_not_mistaken_for_chatgpt(runner, tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(deepseek_export()))
    r, conn = ingest(runner, tmp_path, path)
    assert "(deepseek): 2 conversations, 7 messages added" in r.stderr
    assert conn.execute("select distinct format from conversations").fetchall() == [("deepseek",)]


# -- Google AI Studio ------------------------------------------------------------------------------


def test_aistudio_thoughts_are_hidden_and_never_the_user():
    fmt, (conv,) = recs(aistudio_prompt())
    assert fmt == "aistudio"
    roles = [(m.role, m.hidden, m.content_type) for m in conv.messages]
    assert roles == [
        ("user", False, "text"),
        ("assistant", True, "thought"),
        ("assistant", False, "text"),
        ("user", False, "text"),
        ("assistant", False, "text"),
    ]
    assert conv.messages[2].model == "models/gemini-2.5-pro"
    assert conv.title == "Summarise this article in two bullet points, no introduction."
    users = [m.text for m in conv.messages if m.role == "user"]
    assert not any("Analyzing" in t for t in users)


def test_aistudio_file_without_extension_ingests_twice_as_one(runner, tmp_path):
    path = tmp_path / "My prompt"
    path.write_text(json.dumps(aistudio_prompt(), indent=2))
    r, conn = ingest(runner, tmp_path, path)
    assert "(aistudio): 1 conversation, 5 messages added" in r.stderr
    r2 = runner.invoke(app, ["ingest", str(path), "--no-update", "--db", str(tmp_path / "px.db")])
    assert "0 messages added, 5 skipped" in r2.stderr
    hidden = conn.execute("select role, text from messages where hidden = 1").fetchall()
    assert hidden == [
        ("assistant", "**Analyzing the Request** The user wants two bullets and no intro.")
    ]


# -- SillyTavern -----------------------------------------------------------------------------------


def test_sillytavern_header_users_system_and_swipes(tmp_path):
    raw = "\n".join(json.dumps(r) for r in sillytavern_lines()).encode()
    fmt, (conv,) = recs(raw)
    assert fmt == "sillytavern"
    assert conv.id == "4b1d2c3e-aqua" and conv.title == "Aqua"
    shown = [m for m in conv.messages if m.content_type != "swipe"]
    assert [(m.role, m.hidden, m.author_name) for m in shown] == [
        ("assistant", False, "Aqua"),
        ("user", False, "Sam"),
        ("assistant", False, "Aqua"),
        ("system", True, "System"),
    ]
    assert shown[1].created_at == "2024-01-05T14:31:00.005000Z"  # humanized local time
    assert shown[2].created_at == "2024-01-05T14:31:40.000000Z"  # epoch ms
    (swipe,) = [m for m in conv.messages if m.content_type == "swipe"]
    assert swipe.parent == shown[1].id and not swipe.on_active_path
    (pair,) = conv.pairs
    assert (pair.chosen, pair.rejected, pair.prompt) == (shown[2].id, swipe.id, shown[1].id)


def test_sillytavern_jsonl_through_the_cli(runner, tmp_path):
    path = jsonl(tmp_path / "Aqua - 2024-1-5.jsonl", sillytavern_lines())
    r, conn = ingest(runner, tmp_path, path)
    assert "(sillytavern): 1 conversation, 5 messages added, 0 skipped, 1 pair" in r.stderr
    assert conn.execute("select count(*) from messages where role = 'user'").fetchone() == (1,)


# -- pasted transcripts ----------------------------------------------------------------------------

PASTED = {
    "chatgpt-copy": "You said:\nWhat is a monad? Keep it short.\nChatGPT said:\nA monad wraps "
    "values.\nYou said:\nNo jargon next time.\nChatGPT said:\nNoted.\n",
    "bold": "**User:** What is a monad? Keep it short.\n\n**Assistant:** A monad wraps values.\n\n"
    "**User:** No jargon next time.\n\n**Assistant:** Noted.\n",
    "quoted": ">> USER: What is a monad? Keep it short.\n>> ASSISTANT: A monad wraps values.\n"
    ">> USER: No jargon next time.\n>> ASSISTANT: Noted.\n",
    "human": "Human: What is a monad? Keep it short.\n\nAssistant: A monad wraps values.\n\n"
    "Human: No jargon next time.\n\nAssistant: Noted.\n",
    "me": "Me: What is a monad? Keep it short.\nGrok: A monad wraps values.\n"
    "Me: No jargon next time.\nGrok: Noted.\n",
}


@pytest.mark.parametrize("style", sorted(PASTED))
def test_pasted_transcripts_split_into_turns(runner, tmp_path, style):
    path = tmp_path / "pasted.txt"
    path.write_text(PASTED[style])
    r, conn = ingest(runner, tmp_path, path)
    assert "(text): 1 conversation, 4 messages added" in r.stderr
    rows = conn.execute("select role, text from messages order by seq").fetchall()
    assert rows == [
        ("user", "What is a monad? Keep it short."),
        ("assistant", "A monad wraps values."),
        ("user", "No jargon next time."),
        ("assistant", "Noted."),
    ]


def test_sillytavern_legacy_file_as_shipped_with_sillytavern(runner, tmp_path):
    # the shape of SillyTavern's own public/chats/Aqua/1673181146000.jsonl: no chat_metadata,
    # epoch-ms dates, is_name, the character's greeting only
    rows = [
        {"user_name": "You", "character_name": "Aqua", "create_date": 1674559896839},
        {
            "name": "Aqua",
            "is_user": False,
            "is_name": True,
            "send_date": 1674563371558,
            "mes": "*waves* Are you new here? Do you need help?",
        },
    ]
    path = jsonl(tmp_path / "1673181146000.jsonl", rows)
    r, conn = ingest(runner, tmp_path, path)
    assert "(sillytavern): 1 conversation, 1 message added" in r.stderr
    again = runner.invoke(
        app, ["ingest", str(path), "--no-update", "--db", str(tmp_path / "px.db")]
    )
    assert "0 messages added, 1 skipped" in again.stderr  # a stable id without chat_metadata
    assert conn.execute("select created_at from conversations").fetchone() == (
        "2023-01-24T11:31:36.839000Z",
    )
