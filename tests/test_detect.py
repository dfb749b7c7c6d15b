"""Detection by content (never by file name), and the streaming JSON reader underneath it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from chat_samples import (
    claude_export,
    gemini_activity,
    gpt_regenerated,
    make_llm_threads,
    write_json,
)

from pxprofile.errors import FormatError
from pxprofile.importers import common
from pxprofile.importers.common import JsonReader
from pxprofile.importers.detect import open_input


@pytest.mark.parametrize(
    "data, fmt",
    [
        ([gpt_regenerated()], "chatgpt"),
        (gpt_regenerated(), "chatgpt"),
        ({"conversations": [gpt_regenerated()]}, "chatgpt"),
        ([None, gpt_regenerated()], "chatgpt"),
        (claude_export(), "claude"),
        (gemini_activity(), "gemini"),
        ([{"role": "user", "content": "hi"}], "openai"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "openai"),
        ([{"conversations": [{"from": "human", "value": "hi"}]}], "sharegpt"),
        ({"conversations": [{"from": "human", "value": "hi"}]}, "sharegpt"),
        (
            [{"id": "x", "user_id": "u", "chat": {"history": {"currentId": None, "messages": {}}}}],
            "openwebui",
        ),
        ([{"id": "m", "conversation_id": "c", "rating": "thumbsUp"}], "chatgpt"),
    ],
)
def test_detect_by_content_whatever_the_name(tmp_path, data, fmt):
    # every export names itself conversations.json or MyActivity.json: the name must not matter
    for name in ("MyActivity.json", "conversations.json", "notes.txt"):
        assert open_input(write_json(tmp_path / name, data)).format == fmt


def test_detect_jsonl(tmp_path):
    f = tmp_path / "data.json"
    f.write_text(
        "\n".join(json.dumps({"messages": [{"role": "user", "content": str(i)}]}) for i in range(3))
    )
    opened = open_input(f)
    assert opened.format == "openai" and len(list(opened.records)) == 3


def test_detect_zip_by_member_content(tmp_path):
    # a Claude zip also holds conversations.json: its content decides
    f = tmp_path / "data-2026.zip"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("conversations.json", json.dumps(claude_export()))
        z.writestr("users.json", json.dumps([{"uuid": "u", "email_address": "x@example.com"}]))
        z.writestr("projects/p.json", "{}")
    opened = open_input(f)
    assert opened.format == "claude" and len(list(opened.records)) == 2


def test_detect_sqlite_by_tables(tmp_path):
    assert open_input(make_llm_threads(tmp_path / "anything.bin")).format == "llm"


def test_sha256_covers_the_whole_stream():
    import hashlib

    raw = json.dumps([gpt_regenerated()]).encode() + b"\n\n"
    opened = open_input(None, io.BytesIO(raw), name="s")
    list(opened.records)
    assert opened.sha256() == hashlib.sha256(raw).hexdigest()


# -- JsonReader ----------------------------------------------------------------------------------


def test_reader_streams_elements_with_bounded_buffer(monkeypatch):
    monkeypatch.setattr(common, "READ_CHUNK", 64)
    items = [{"i": i, "text": "é" * (i % 7) + "x" * 50} for i in range(500)]
    raw = json.dumps(items, ensure_ascii=False).encode()
    r = JsonReader(io.BytesIO(raw), "s")
    seen, peak = [], 0
    for el in r.iter_array():
        seen.append(el)
        peak = max(peak, len(r.buf))
    r.finish()
    assert seen == items
    assert peak < 400  # a few chunks, not the 30 KB file


def test_reader_grows_for_an_element_larger_than_the_chunk(monkeypatch):
    monkeypatch.setattr(common, "READ_CHUNK", 16)
    big = {"text": "y" * 100_000, "n": [1.5, 2, 3]}
    raw = json.dumps([1, big, 12345678901234567890, "s"]).encode()
    reads = []
    stream = io.BytesIO(raw)
    orig = stream.read
    stream.read = lambda n=-1: reads.append(n) or orig(n)
    r = JsonReader(stream, "s")
    assert list(r.iter_array()) == [1, big, 12345678901234567890, "s"]
    assert len(reads) < 40  # geometric growth: about log2(100 KB / 16 B) reads, not 6,000
    assert max(reads) <= 2 * len(raw)


def test_reader_utf8_split_across_chunks(monkeypatch):
    monkeypatch.setattr(common, "READ_CHUNK", 3)
    raw = json.dumps(["日本語テキスト", "😀"], ensure_ascii=False).encode()
    assert list(JsonReader(io.BytesIO(raw), "s").iter_array()) == ["日本語テキスト", "😀"]


def test_reader_concatenated_values_and_errors():
    r = JsonReader(io.BytesIO(b'{"a": 1}\n{"a": 2}\n'), "s")
    assert list(r.iter_values()) == [{"a": 1}, {"a": 2}]
    with pytest.raises(
        FormatError, match=r"^s: invalid JSON at character 6 \(expected ',' or '\]'\)"
    ):
        list(JsonReader(io.BytesIO(b"[1, 2 3]"), "s").iter_array())
