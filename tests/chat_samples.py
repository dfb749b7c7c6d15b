"""Small realistic export samples for formats without a fixture, shaped after
../shared/research/chat-formats.md (field names and quirks as documented there)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def gpt_node(nid, parent, role, text="", *, ctype="text", children=(), t=None, **extra):
    msg = {
        "id": nid,
        "author": {"role": role, "name": extra.pop("name", None), "metadata": {}},
        "create_time": t,
        "update_time": None,
        "content": {"content_type": ctype, "parts": [text]}
        if ctype in ("text", "multimodal_text")
        else {"content_type": ctype, **extra.pop("content", {})},
        "status": extra.pop("status", "finished_successfully"),
        "end_turn": True,
        "weight": extra.pop("weight", 1.0),
        "metadata": extra.pop("metadata", {}),
        "recipient": extra.pop("recipient", "all"),
    }
    msg.update(extra)
    return {"id": nid, "message": msg, "parent": parent, "children": list(children)}


def gpt_conversation(cid, nodes, current, title="Sample"):
    mapping = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    for n in nodes:
        mapping[n["id"]] = n
    for n in nodes:
        if n["parent"] in mapping:
            mapping[n["parent"]]["children"].append(n["id"])
    return {
        "title": title,
        "create_time": 1714585031.148505,
        "update_time": 1714585099.5,
        "mapping": mapping,
        "current_node": current,
        "conversation_id": cid,
        "id": cid,
    }


def gpt_regenerated(cid="conv-regen"):
    """A user turn regenerated three times: GPT-5 multi-node chains, one interrupted, one identical.

    u1 -> a1 (kept, thoughts -> recap -> text) ; a2 (text, different) ; a3 (interrupted) ;
    a4 (identical to the kept text: no pair) ; a5 (empty: no pair). Also custom instructions.
    """
    nodes = [
        gpt_node(
            "ci",
            "root",
            "user",
            ctype="user_editable_context",
            content={
                "user_profile": "The user provided the following information about themselves. "
                "This user profile is shown to you in all conversations they have.\nUser profile:\n"
                "```Preferred name: Sam\nRole: data engineer```",
                "user_instructions": "The user provided the additional info about how they would like "
                "you to respond:\n```Be terse. Use metric units.```",
            },
            metadata={"is_visually_hidden_from_conversation": True},
        ),
        gpt_node("u1", "ci", "user", "How do I join two tables in SQL?", t=1714585031.0),
        gpt_node(
            "a1",
            "u1",
            "assistant",
            ctype="thoughts",
            t=1714585032.0,
            content={"thoughts": [{"summary": "Plan", "content": "explain JOIN"}]},
        ),
        gpt_node(
            "a1r",
            "a1",
            "assistant",
            ctype="reasoning_recap",
            t=1714585033.0,
            content={"content": "Thought for 2s"},
        ),
        gpt_node("a1t", "a1r", "assistant", "Use JOIN ... ON.", t=1714585034.0),
        gpt_node("a2", "u1", "assistant", "Try a subquery instead.", t=1714585035.0),
        gpt_node(
            "a3",
            "u1",
            "assistant",
            "Well, joining is",
            t=1714585036.0,
            status="in_progress",
            metadata={"finish_details": {"type": "interrupted"}},
        ),
        gpt_node("a4", "u1", "assistant", "Use JOIN ... ON.", t=1714585037.0),
        gpt_node("a5", "u1", "assistant", "", t=1714585038.0),
        gpt_node("u2", "a1t", "user", "thanks", t=1714585040.0),
    ]
    return gpt_conversation(cid, nodes, "u2", title="SQL joins")


def claude_export():
    """Two Claude conversations: one branched (parent_message_uuid), one old-style linear."""
    root = "00000000-0000-4000-8000-000000000000"
    placeholder = "```\nThis block is not supported on your current device yet.\n```"

    def block(text):
        return {
            "start_timestamp": "2026-02-21T04:20:55.674209Z",
            "stop_timestamp": None,
            "flags": None,
            "type": "text",
            "text": text,
            "citations": [],
        }

    branched = {
        "uuid": "c-1",
        "name": "Branched chat",
        "summary": "",
        "created_at": "2026-02-21T04:20:00.000000Z",
        "updated_at": "2026-02-21T04:30:00.000000Z",
        "account": {"uuid": "acct"},
        "chat_messages": [
            {
                "uuid": "m1",
                "text": "Explain monads",
                "content": [block("Explain monads")],
                "sender": "human",
                "created_at": "2026-02-21T04:20:01.000000Z",
                "updated_at": "x",
                "attachments": [],
                "files": [],
                "parent_message_uuid": root,
            },
            {
                "uuid": "m2a",
                "text": placeholder,
                "sender": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "They want a short answer", "summaries": []},
                    block(" A monad is a way to chain computations."),
                ],
                "created_at": "2026-02-21T04:20:05.000000Z",
                "attachments": [],
                "files": [],
                "parent_message_uuid": "m1",
            },
            {
                "uuid": "m2b",
                "text": " A monad wraps values.",
                "content": [block(" A monad wraps values.")],
                "sender": "assistant",
                "created_at": "2026-02-21T04:21:05.000000Z",
                "attachments": [],
                "files": [],
                "parent_message_uuid": "m1",
            },
            {
                "uuid": "m3",
                "text": "Shorter please",
                "content": [block("Shorter please")],
                "sender": "human",
                "created_at": "2026-02-21T04:22:00.000000Z",
                "attachments": [],
                "files": [],
                "parent_message_uuid": "m2b",
            },
            {
                "uuid": "m4",
                "text": placeholder,
                "sender": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "web_search",
                        "input": {"query": "monad"},
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "name": "web_search",
                        "is_error": False,
                        "content": [{"type": "text", "text": "result page"}],
                    },
                    block("Boxes with flatMap."),
                ],
                "created_at": "2026-02-21T04:22:10.000000Z",
                "attachments": [],
                "files": [],
                "parent_message_uuid": "m3",
            },
        ],
    }
    linear = {
        "uuid": "c-2",
        "name": "Linear chat",
        "summary": "The user likes tea.",
        "created_at": "2025-01-01T10:00:00Z",
        "updated_at": "2025-01-01T10:05:00Z",
        "chat_messages": [
            {
                "uuid": "l1",
                "text": "Green or black tea?",
                "content": [],
                "sender": "human",
                "created_at": "2025-01-01T10:00:00Z",
                "attachments": [{"file_name": "notes.txt", "extracted_content": "x"}],
                "files": [],
            },
            {
                "uuid": "l2",
                "text": placeholder,
                "content": [],
                "sender": "assistant",
                "created_at": "2025-01-01T10:00:05Z",
                "attachments": [],
                "files": [],
            },
            {
                "uuid": "l3",
                "text": "Thanks",
                "content": [block("Thanks")],
                "sender": "human",
                "created_at": "2025-01-01T10:01:00Z",
                "attachments": [],
                "files": [],
            },
        ],
    }
    return [branched, linear]


def gemini_activity():
    app = "https://gemini.google.com/app/abc123"
    return [
        {
            "header": "Gemini Apps",
            "title": "Prompted what is a tensor",
            "time": "2026-02-02T07:24:02.806Z",
            "products": ["Gemini Apps"],
            "activityControls": ["Gemini Apps Activity"],
            "details": [{"name": app, "url": app}],
            "safeHtmlItem": [
                {"html": "<p>A tensor is a <b>multi-dimensional</b> array.</p>"},
                {"html": "<p>Think of it as a generalized matrix.</p><ul><li>rank</li></ul>"},
            ],
        },
        {
            "header": "Gemini Apps",
            "title": "Prompted explain it simply",
            "time": "2026-02-02T07:20:00Z",
            "products": ["Gemini Apps"],
            "details": [{"name": app, "url": app}],
            "safeHtmlItem": [{"html": "<p>A grid of numbers.</p>"}],
        },
        {
            "header": "Gemini Apps",
            "title": "Gave feedback: Good response",
            "time": "2026-02-02T07:25:00Z",
            "products": ["Gemini Apps"],
        },
        {
            "header": "YouTube",
            "title": "Watched a video",
            "time": "2026-02-01T07:25:00Z",
            "products": ["YouTube"],
        },
        {
            "header": "Gemini Apps",
            "title": "Prompted hello there",
            "time": "2026-01-05T09:00:00Z",
            "products": ["Gemini Apps"],
            "safeHtmlItem": [{"html": "<p>Hi! How can I help?</p>"}],
        },
    ]


def make_llm_legacy(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE conversations (id TEXT PRIMARY KEY, name TEXT, model TEXT);
        CREATE TABLE responses (id TEXT PRIMARY KEY, model TEXT, prompt TEXT, system TEXT, prompt_json TEXT,
          options_json TEXT, response TEXT, response_json TEXT, conversation_id TEXT REFERENCES conversations(id),
          duration_ms INTEGER, datetime_utc TEXT, input_tokens INTEGER, output_tokens INTEGER);
        INSERT INTO conversations VALUES ('01j0conv', 'Naming things', 'gpt-4o-mini');
        INSERT INTO responses (id, model, prompt, system, response, conversation_id, datetime_utc) VALUES
          ('01j0r1', 'gpt-4o-mini', 'name a cat', 'Be brief', 'Tom', '01j0conv', '2025-02-16T22:34:30.374882+00:00'),
          ('01j0r2', 'gpt-4o-mini', 'another', NULL, 'Felix', '01j0conv', '2025-02-16T22:35:00.000000+00:00'),
          ('01j0r3', 'gpt-4o-mini', 'solo prompt', NULL, 'solo answer', NULL, '2025-02-17T08:00:00+00:00');
        """
    )
    conn.commit()
    conn.close()
    return path


def make_llm_threads(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE messages (hash TEXT PRIMARY KEY, parent_hash TEXT REFERENCES messages(hash), role TEXT,
          provider_metadata TEXT);
        CREATE TABLE parts (id INTEGER PRIMARY KEY, message_hash TEXT REFERENCES messages(hash), position INTEGER,
          type TEXT, tool_name TEXT, text TEXT, payload TEXT);
        CREATE TABLE threads (id TEXT PRIMARY KEY, name TEXT, tip_message_hash TEXT, forked_from TEXT,
          datetime_utc TEXT);
        CREATE TABLE turns (id TEXT PRIMARY KEY, thread_id TEXT, parent_message_hash TEXT, tip_message_hash TEXT,
          model TEXT, resolved_model TEXT, options_json TEXT, schema_id TEXT, input_tokens INTEGER,
          output_tokens INTEGER, token_details TEXT, duration_ms INTEGER, datetime_utc TEXT, response_json TEXT);
        CREATE TABLE fragments (id INTEGER PRIMARY KEY, hash TEXT, content TEXT);
        INSERT INTO fragments VALUES (1, 'fh', 'You are terse.');
        INSERT INTO messages VALUES ('b2:s', NULL, 'system', NULL), ('b2:u1', 'b2:s', 'user', NULL),
          ('b2:a1', 'b2:u1', 'assistant', NULL), ('b2:u2', 'b2:a1', 'user', NULL), ('b2:a2', 'b2:u2', 'assistant', NULL);
        INSERT INTO parts (message_hash, position, type, text, payload) VALUES
          ('b2:s', 0, 'text', NULL, '{"text_ref": [{"fragment": 1}]}'),
          ('b2:u1', 0, 'text', 'What is WAL mode?', NULL),
          ('b2:a1', 0, 'reasoning', 'think', NULL), ('b2:a1', 1, 'text', 'Write-ahead logging.', NULL),
          ('b2:u2', 0, 'text', 'And busy_timeout?', NULL),
          ('b2:a2', 0, 'text', 'How long to wait for a lock.', NULL);
        INSERT INTO threads VALUES ('01thread', 'SQLite chat', 'b2:a2', NULL, '2025-03-01T10:00:00+00:00');
        INSERT INTO turns (id, thread_id, parent_message_hash, tip_message_hash, model, datetime_utc) VALUES
          ('t1', '01thread', 'b2:u1', 'b2:a1', 'gpt-5', '2025-03-01T10:00:00+00:00'),
          ('t2', '01thread', 'b2:u2', 'b2:a2', 'gpt-5', '2025-03-01T10:01:00+00:00');
        """
    )
    conn.commit()
    conn.close()
    return path


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
