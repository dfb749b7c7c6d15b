"""Samples for the formats added in issue 14, each in its format's real shape.

Where the shapes come from (shared/research/chat-formats.md has the details):
- Grok: LibreChat's packages/api/src/import/__data__/grok.ts (MIT), whose comments cite a real
  export: responses wrapped as {"response": ..., "share_link": null}, no parent_response_id on
  first turns, "ASSISTANT"/"assistant" senders, a partial (aborted) reply with a child, a retry of
  the opening prompt as a second root, an orphan parent id, $numberLong and relaxed $date times,
  the zip layout ttl/30d/export_data/<uuid>/prod-grok-backend.json with two PII siblings.
- DeepSeek: the two public DeepSeek export parsers (chat-formats.md 6.1): "root" node, fragments
  REQUEST / THINK / RESPONSE, +08:00 times, no current node.
- Google AI Studio: real prompt files quoted in public repositories (runSettings, an empty
  systemInstruction, chunks with tokenCount, isThought chunks, finishReason).
- SillyTavern: SillyTavern/SillyTavern public/chats/*.jsonl and src/endpoints/chats.js: a
  header line, messages with is_user/is_system/send_date (epoch ms or humanized local time),
  swipes with swipe_id.
- Claude memories.json: LibreChat's claude.ts fixture and public parsers of real exports: a
  one-element array with conversations_memory (bold headings, paragraphs, "---", a bullet list),
  project_memories and account_uuid.
- ChatGPT memories: /backend-api/memories ({"memories": [...], "memory_max_tokens", ...}), the
  GPT2Claude Migration Kit's chatgpt_memories.md and chatgpt_instructions.json.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

GROK_UUID = "e618db0b-b890-4728-b3ec-ab25abeb068b"


def _resp(**r):
    return {"response": r, "share_link": None}


def grok_export() -> dict:
    return {
        "conversations": [
            {
                "conversation": {
                    "id": "grok-branched",
                    "title": "Lisbon trip planning",
                    "summary": "",
                    "starred": False,
                    "create_time": "2026-07-14T03:25:09.401949Z",
                },
                "responses": [
                    # out of order on purpose: the file is not ordered, time is
                    _resp(
                        _id="g2b",
                        sender="assistant",
                        model="grok-3",
                        parent_response_id="g1",
                        message="Alfama, for the views.",
                        create_time={"$date": {"$numberLong": "1783999530820"}},
                        web_search_results=[{"url": "https://example.com/a", "title": "A"}],
                    ),
                    _resp(
                        _id="g1",
                        sender="human",
                        model="",
                        message="Where should I stay in Lisbon? Keep it to one sentence.",
                        create_time={"$date": {"$numberLong": "1783999510820"}},
                    ),
                    _resp(
                        _id="g2a",
                        sender="ASSISTANT",
                        model="grok-4-1-thinking-1129",
                        parent_response_id="g1",
                        message="Chiado is central and walkable, with many cafes nearby.",
                        create_time={"$date": {"$numberLong": "1783999520820"}},
                        thinking_trace="<xai:tool_usage_card>web_search</xai:tool_usage_card>",
                        partial=False,
                    ),
                    _resp(
                        _id="g3",
                        sender="human",
                        model="grok-4-auto",
                        parent_response_id="g2b",
                        message="Why Alfama?",
                        create_time={"$date": {"$numberLong": "1783999540820"}},
                    ),
                    _resp(
                        _id="g4",
                        sender="ASSISTANT",
                        model="",
                        parent_response_id="g3",
                        message="Quieter streets and the river.",
                        create_time={"$date": {"$numberLong": "1783999550820"}},
                    ),
                ],
            },
            {
                "conversation": {
                    "id": "grok-retried",
                    "title": "",
                    "summary": "Recovering a cut-off script",
                    "starred": True,
                    "create_time": "2026-07-15T10:00:00.000000Z",
                },
                "responses": [
                    _resp(
                        _id="t1",
                        sender="human",
                        model="grok-4",
                        message="Complete this script.",
                        create_time={"$date": {"$numberLong": "1784102400000"}},
                    ),
                    _resp(
                        _id="t2",
                        sender="ASSISTANT",
                        model="grok-4-1-non-thinking-w-tool",
                        parent_response_id="t1",
                        message="",
                        create_time={"$date": {"$numberLong": "1784102410000"}},
                        partial=True,
                    ),
                    _resp(
                        _id="t3",
                        sender="assistant",
                        model="grok-4",
                        parent_response_id="t2",
                        message="Here is the completed script.",
                        create_time={"$date": {"$numberLong": "1784102420000"}},
                    ),
                    _resp(
                        _id="t4",
                        sender="human",
                        model="grok-420",
                        message="Complete this script.",
                        create_time={"$date": {"$numberLong": "1784102430000"}},
                    ),
                    _resp(
                        _id="t5",
                        sender="ASSISTANT",
                        model="grok-4",
                        parent_response_id="t4",
                        message="Second attempt.",
                        create_time={"$date": "2026-07-15T10:01:00.000Z"},
                    ),
                    _resp(
                        _id="t6",
                        sender="assistant",
                        model="grok-4",
                        parent_response_id="missing-response",
                        message="Orphaned follow-up.",
                        create_time={"$date": {"$numberLong": "1784102450000"}},
                    ),
                ],
            },
        ],
        "projects": [{"workspace_id": "w-1", "name": "New Workspace"}],
        "tasks": [],
        "media_posts": [],
    }


def grok_zip(path: Path) -> Path:
    base = f"ttl/30d/export_data/{GROK_UUID}"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{base}/prod-grok-backend.json", json.dumps(grok_export()))
        z.writestr(f"{base}/prod-mc-auth-mgmt-api.json", json.dumps({"user": {"email": "x"}}))
        z.writestr(f"{base}/prod-mc-billing.json", json.dumps({"invoices": []}))
        z.writestr(f"{base}/prod-mc-asset-server//0380cd07/content", b"\x89PNG")
    return path


def _ds_node(nid, parent, children, model, when, *fragments):
    return {
        "id": nid,
        "parent": parent,
        "children": children,
        "message": {
            "files": [],
            "model": model,
            "inserted_at": when,
            "fragments": [{"type": t, "content": c} for t, c in fragments],
        },
    }


def deepseek_export() -> list:
    return [
        {
            "id": "0f3c2a9e-ds-1",
            "title": "Green tea",
            "inserted_at": "2025-03-30T04:49:36.505000+08:00",
            "updated_at": "2025-03-30T04:55:00.000000+08:00",
            "mapping": {
                "root": {"id": "root", "parent": None, "children": ["1"], "message": None},
                "1": _ds_node(
                    "1",
                    "root",
                    ["2", "3"],
                    "deepseek-reasoner",
                    "2025-03-30T04:49:36.505000+08:00",
                    ("REQUEST", "Which green tea is least bitter? Use metric units."),
                ),
                "2": _ds_node(
                    "2",
                    "1",
                    [],
                    "deepseek-reasoner",
                    "2025-03-30T04:49:50.000000+08:00",
                    ("THINK", "The user wants a mild tea and metric units."),
                    ("RESPONSE", "Gyokuro, brewed at 50 degrees Fahrenheit above..."),
                ),
                "3": _ds_node(
                    "3",
                    "1",
                    [],
                    "deepseek-reasoner",
                    "2025-03-30T04:51:10.000000+08:00",
                    ("THINK", "Metric: Celsius."),
                    ("RESPONSE", "Gyokuro, brewed at 50 C for two minutes."),
                ),
            },
        },
        {
            "id": "0f3c2a9e-ds-2",
            "title": "Hello",
            "inserted_at": "2025-04-01T09:00:00.000000+08:00",
            "updated_at": "2025-04-01T09:00:05.000000+08:00",
            "mapping": {
                "root": {"id": "root", "parent": None, "children": ["1"], "message": None},
                "1": _ds_node(
                    "1",
                    "root",
                    ["2"],
                    "deepseek-chat",
                    "2025-04-01T09:00:00+08:00",
                    ("REQUEST", "hi"),
                ),
                "2": _ds_node(
                    "2",
                    "1",
                    [],
                    "deepseek-chat",
                    "2025-04-01T09:00:05+08:00",
                    ("RESPONSE", "Hello! How can I help?"),
                ),
            },
        },
    ]


def aistudio_prompt() -> dict:
    return {
        "runSettings": {
            "temperature": 1.0,
            "model": "models/gemini-2.5-pro",
            "topP": 0.95,
            "topK": 64,
            "maxOutputTokens": 65536,
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
            "responseMimeType": "text/plain",
            "enableCodeExecution": False,
        },
        "systemInstruction": {},
        "chunkedPrompt": {
            "chunks": [
                {
                    "text": "Summarise this article in two bullet points, no introduction.",
                    "role": "user",
                    "tokenCount": 14,
                },
                {
                    "text": "**Analyzing the Request** The user wants two bullets and no intro.",
                    "role": "model",
                    "tokenCount": 120,
                    "isThought": True,
                    "thinkingBudget": -1,
                },
                {
                    "text": "- Prices rose 3%.\n- Wages lagged.",
                    "role": "model",
                    "finishReason": "STOP",
                    "tokenCount": 12,
                },
                {"text": "Shorter next time.", "role": "user", "tokenCount": 4},
                {"text": "Noted.", "role": "model", "finishReason": "STOP", "tokenCount": 2},
            ],
            "pendingInputs": [{"text": "", "role": "user"}],
        },
    }


def sillytavern_lines() -> list[dict]:
    return [
        {
            "user_name": "Sam",
            "character_name": "Aqua",
            "create_date": "2024-1-5 @14h 30m 12s 123ms",
            "chat_metadata": {"integrity": "4b1d2c3e-aqua", "note_prompt": ""},
        },
        {
            "name": "Aqua",
            "is_user": False,
            "is_system": False,
            "send_date": "2024-1-5 @14h 30m 12s 123ms",
            "mes": "Hello! How can I help you today?",
            "extra": {},
        },
        {
            "name": "Sam",
            "is_user": True,
            "is_system": False,
            "send_date": "2024-1-5 @14h 31m 0s 5ms",
            "mes": "Keep your replies short, please.",
            "extra": {},
        },
        {
            "name": "Aqua",
            "is_user": False,
            "is_system": False,
            "send_date": 1704465100000,
            "mes": "Sure.",
            "swipes": ["Of course! From now on I will keep every single reply short.", "Sure."],
            "swipe_id": 1,
            "swipe_info": [{}, {}],
            "extra": {},
        },
        {
            "name": "System",
            "is_user": False,
            "is_system": True,
            "is_name": True,
            "send_date": 1704465200000,
            "mes": "[Scenario note: hidden from the model]",
        },
    ]


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


CLAUDE_MEMORY = (
    "**Work context**\n\n"
    "Sam is a data engineer at a logistics company. Sam works mostly in Python and SQL.\n\n"
    "**Personal context**\n\n"
    "- Lives in Porto\n"
    "- Has a dog named Biscuit\n\n"
    "**Top of mind**\n\n"
    "Planning a migration from Airflow to Dagster.\n\n"
    "**Brief history**\n\n"
    "*Recent months*\n\n"
    "Started learning Portuguese.\n\n"
    "---\n\n"
    "**Other instructions**\n\n"
    "- Prefers short answers without preamble\n"
    "- Use metric units\n"
)


def claude_memories() -> list:
    return [
        {
            "conversations_memory": CLAUDE_MEMORY,
            "project_memories": {
                "p1000000-0000-4000-8000-000000000001": "**Purpose & context**\n\nA balcony "
                "garden.\n\n**Current state**\n\nTwo beds, one meter each."
            },
            "account_uuid": "acc-synthetic-1",
        }
    ]


def chatgpt_memories() -> dict:
    return {
        "memories": [
            {
                "id": "mem_1a",
                "content": "Prefers answers in British English.",
                "updated_at": "2025-10-02T08:00:00Z",
                "status": "enabled",
            },
            {
                "id": "mem_2b",
                "content": "Is training for a half marathon in spring.",
                "updated_at": "2025-11-12T19:30:00Z",
            },
        ],
        "memory_max_tokens": 10000,
        "memory_num_tokens": 24,
    }


CHATGPT_MEMORY_MD = (
    "# ChatGPT Memory Export\n"
    "# Exported: 2026-02-20T10:00:00.000Z\n"
    "# Tool: GPT2Claude Migration Kit v2.1\n\n"
    "1. Prefers answers in British English.\n"
    "2. Is training for a half marathon in spring.\n"
)


def chatgpt_instructions() -> dict:
    return {
        "export_date": "2026-02-20T10:00:00.000Z",
        "tool": "GPT2Claude Migration Kit v2.1",
        "data": {
            "custom_instructions": {
                "object": "user_system_message_detail",
                "enabled": True,
                "about_user_message": "I am a nurse working night shifts in Leeds.",
                "about_model_message": "Be direct. No emojis.",
                "traits_model_message": "",
                "name_user_message": None,
                "disabled_tools": [],
            },
            "settings": {"note": "Not available on this account"},
        },
    }


def claude_zip(path: Path, conversations: list) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("conversations.json", json.dumps(conversations))
        z.writestr("users.json", json.dumps([{"uuid": "acc", "full_name": "Sam"}]))
        z.writestr("projects.json", json.dumps([]))
        z.writestr("memories.json", json.dumps(claude_memories()))
    return path
