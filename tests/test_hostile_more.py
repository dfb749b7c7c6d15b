"""Hypothesis over the importers added in issue 14 (derandomized, about half a minute): whatever
JSON arrives, detected or forced as one of the new formats, ingest either succeeds or raises a
documented error (PxprofileError): never a traceback. Real SQLite, real profile file."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from samples14 import aistudio_prompt, claude_memories, grok_export, sillytavern_lines

from pxprofile.errors import PxprofileError
from pxprofile.importers.common import Limits
from pxprofile.ingest import ingest_stream
from pxprofile.store import open_db

SMALL = Limits(max_file_bytes=2 * 1024**2, max_element_chars=1024**2, max_nodes=2_000)
FAST = settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FORMATS = [None, "grok", "deepseek", "aistudio", "sillytavern", "claude-memories",
           "chatgpt-memories", "pam"]  # fmt: skip
KEYS = [
    "conversations", "conversation", "responses", "response", "_id", "sender", "message",
    "create_time", "parent_response_id", "$date", "$numberLong", "mapping", "inserted_at",
    "fragments", "type", "content", "parent", "children", "chunkedPrompt", "chunks", "role",
    "text", "isThought", "parts", "user_name", "character_name", "mes", "is_user", "swipes",
    "swipe_id", "send_date", "conversations_memory", "project_memories", "memories",
    "memory_max_tokens", "about_user_message", "schema", "schema_version", "integrity",
    "checksum", "total_memories", "status", "metadata", "pxprofile_section", "provenance",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.sampled_from(
        [
            "human",
            "ASSISTANT",
            "REQUEST",
            "THINK",
            "model",
            "portable-ai-memory",
            "1.0",
            "**Work context**\n\n- x",
            "root",
            "active",
        ]
    ),  # fmt: skip
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


def _ingest(data: bytes, fmt: str | None) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = open_db(Path(d) / "px.db")
        try:
            ingest_stream(db, io.BytesIO(data), name="x", format=fmt, limits=SMALL)
        except PxprofileError:
            pass
        finally:
            db.conn.close()


@FAST
@given(values, st.sampled_from(FORMATS))
@example(grok_export(), None)
@example({"conversations": [{"conversation": {}, "responses": [{"response": 5}]}]}, "grok")
@example({"chunkedPrompt": {"chunks": [{"role": "model", "parts": [{"thought": True}]}]}}, None)
@example(claude_memories(), "claude-memories")
@example({"schema": "portable-ai-memory", "schema_version": "1.0", "memories": [{}]}, None)
@example(aistudio_prompt(), "grok")
def test_any_json_gives_only_documented_errors(value, fmt):
    _ingest(json.dumps(value).encode(), fmt)


@FAST
@given(st.lists(values, max_size=4), st.sampled_from([None, "sillytavern"]))
def test_any_sillytavern_lines_give_only_documented_errors(rows, fmt):
    head = json.dumps(sillytavern_lines()[0])
    _ingest("\n".join([head, *(json.dumps(r) for r in rows)]).encode(), fmt)
