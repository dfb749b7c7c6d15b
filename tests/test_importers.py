"""Each importer turns its format into the normalized records, with roles, hidden flags, the
kept path and preference pairs as chat-formats.md describes."""

from __future__ import annotations

import io
import json
from datetime import UTC

from chat_samples import (
    claude_export,
    gemini_activity,
    gpt_regenerated,
    make_llm_legacy,
    make_llm_threads,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pxprofile.importers.common import Conversation, Feedback, Pair, Skipped
from pxprofile.importers.detect import open_input


def recs(data, **kw):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    opened = open_input(None, io.BytesIO(raw), name="sample", **kw)
    return opened.format, list(opened.records)


def by_id(conv: Conversation):
    return {m.id: m for m in conv.messages}


# -- ChatGPT -------------------------------------------------------------------------------------


def test_chatgpt_regenerations_make_pairs_from_the_first_assistant_node():
    fmt, out = recs([gpt_regenerated()])
    assert fmt == "chatgpt"
    (conv,) = out
    pairs = {(p.chosen, p.rejected): p for p in conv.pairs}
    # chosen is the final visible text of the kept chain (a1 -> a1r -> a1t); a4 identical, a5 empty
    assert set(pairs) == {("a1t", "a2"), ("a1t", "a3")}
    assert pairs[("a1t", "a3")].interrupted is True
    assert pairs[("a1t", "a2")].interrupted is False
    assert all(p.prompt == "u1" for p in conv.pairs)


def test_chatgpt_custom_instructions_keep_only_the_users_text():
    _, (conv,) = recs([gpt_regenerated()])
    ci = by_id(conv)["ci"]
    assert (ci.role, ci.author_name, ci.hidden) == ("user", "custom_instructions", True)
    assert ci.text == "Preferred name: Sam\nRole: data engineer\n\nBe terse. Use metric units."
    assert "provided" not in ci.text


def test_chatgpt_hidden_and_active_path():
    _, (conv,) = recs([gpt_regenerated()])
    m = by_id(conv)
    assert (
        m["a1"].hidden
        and m["a1"].content_type == "thoughts"
        and m["a1"].text == "Plan\n\nexplain JOIN"
    )
    assert m["a1r"].hidden and m["a1r"].text == "Thought for 2s"
    assert not m["a1t"].hidden and m["a1t"].role == "assistant"
    assert [k for k, v in m.items() if v.on_active_path] == ["ci", "u1", "a1", "a1r", "a1t", "u2"]
    assert m["a3"].status == "interrupted" and m["u1"].status == "finished"
    assert (
        m["u1"].created_at == "2024-05-01T17:37:11.000000Z"
        and m["u1"].created_raw == "1714585031.0"
    )
    assert conv.current_leaf == "u2"


def test_chatgpt_fixture_branches(fixtures_dir):
    opened = open_input(
        __import__("pathlib").Path(fixtures_dir) / "chatgpt/branches-regenerate-edit.json"
    )
    (conv,) = list(opened.records)
    m = by_id(conv)
    # the regenerated replies are identical: no pair; the edit branch is not a response preference
    assert conv.pairs == []
    assert m["f63b8e17-aa5c-4ca6-a1bf-d4d285e269b8"].on_active_path
    assert not m["d0d2a7df-d2fc-4df9-bf0a-1c5121e227ae"].on_active_path
    assert m["ada93f81-f59e-4b31-933d-1357efd68bfc"].status == "interrupted"
    assert m["d38605d2-7b2c-43de-b044-22ce472c749b"].role == "system"
    assert m["d38605d2-7b2c-43de-b044-22ce472c749b"].hidden
    # the message-less root is not stored: the system node is the root
    assert m["d38605d2-7b2c-43de-b044-22ce472c749b"].parent is None


def test_chatgpt_different_regenerated_text_gives_a_pair(fixtures_dir):
    data = json.load(open(f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json"))
    data[0]["mapping"]["d0d2a7df-d2fc-4df9-bf0a-1c5121e227ae"]["message"]["content"]["parts"] = [
        "No jokes today."
    ]
    _, (conv,) = recs(data)
    (pair,) = conv.pairs
    assert pair.chosen == "f63b8e17-aa5c-4ca6-a1bf-d4d285e269b8"
    assert pair.rejected == "d0d2a7df-d2fc-4df9-bf0a-1c5121e227ae"
    assert pair.prompt == "aaa20127-b9e3-44f6-afbe-a2475838625a"


def test_chatgpt_gpt5_fixture_roles_and_tool_calls(fixtures_dir):
    fmt, (conv,) = recs(
        json.load(open(f"{fixtures_dir}/chatgpt/gpt5-single-conversation-multimodal.json"))
    )
    m = by_id(conv)
    assert fmt == "chatgpt" and conv.id == "fixture"
    assert m["n1"].role == "user" and m["n1"].text == "[image]\nquestion 1" and not m["n1"].hidden
    assert m["n2"].role == "tool" and m["n2"].author_name == "internal_tool" and m["n2"].hidden
    assert (
        m["n14"].content_type == "code"
        and m["n14"].hidden
        and m["n14"].meta["recipient"] == "internal_tool"
    )
    assert m["n5"].content_type == "reasoning_recap" and m["n5"].hidden
    assert not m["n6"].on_active_path and m["n7"].on_active_path
    assert conv.pairs == []  # n5's children are an empty final node and the next prompt
    users = [x.text for x in conv.messages if x.role == "user" and not x.hidden]
    assert users == ["[image]\nquestion 1", "question 2", "question 3", "question 4"]


def test_chatgpt_dangling_current_node_falls_back_to_newest_leaf(fixtures_dir):
    _, (conv,) = recs(json.load(open(f"{fixtures_dir}/chatgpt/citations.json")))
    assert len(conv.messages) == 2
    assert conv.current_leaf is None  # the export's current_node is not in the mapping
    assert all(m.on_active_path for m in conv.messages)
    assert (
        conv.messages[0].seq == 0 and conv.messages[1].seq == 1
    )  # a dangling parent: treated as a root


def test_chatgpt_wrapped_and_single_object():
    conv = gpt_regenerated()
    assert recs({"conversations": [conv]})[1][0].id == "conv-regen"
    assert recs(conv)[1][0].id == "conv-regen"


def test_chatgpt_cycle_and_missing_mapping_are_skipped_not_fatal():
    good = gpt_regenerated("good")
    cyclic = gpt_regenerated("cyclic")
    cyclic["mapping"]["u1"]["parent"] = "u2"
    broken = {"title": "Corrupted entry", "current_node": "x", "mapping": None, "id": "broken"}
    _, out = recs([good, cyclic, broken])
    assert [type(r).__name__ for r in out] == ["Conversation", "Skipped", "Skipped"]
    assert out[1].conversation == "cyclic" and "cycle" in out[1].reason
    assert out[2].conversation == "broken"


def test_chatgpt_feedback_and_comparisons():
    feedback = [
        {
            "id": "797ac25a-0000-4000-8000-000000000001",
            "conversation_id": "922fce6e-85e8-4000-8000-000000000002",
            "user_id": "user-x",
            "rating": "thumbsUp",
            "create_time": "2023-08-10T20:26:46.387313+00:00",
            "content": '{"text": "Incredible"}',
        },
        {
            "message_id": "797ac25a-0000-4000-8000-000000000003",
            "conversation_id": "922fce6e85e840008000000000000002",
            "user_id": "user-x",
            "rating": "thumbs_down",
            "content": "{}",
        },
    ]
    fmt, out = recs(feedback)
    assert fmt == "chatgpt"
    assert [(f.rating, f.conversation, f.text) for f in out if isinstance(f, Feedback)] == [
        (1, "922fce6e-85e8-4000-8000-000000000002", "Incredible"),
        (-1, "922fce6e-85e8-4000-8000-000000000002", None),
    ]

    def turn(t):
        return [
            {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": [t]}}
        ]

    comparison = [
        {
            "id": "cmp1",
            "user_id": "u",
            "input": {
                "prompt_convo": {
                    "messages": [
                        {
                            "author": {"role": "system"},
                            "content": {"content_type": "text", "parts": ["You are ChatGPT"]},
                        },
                        {
                            "author": {"role": "user"},
                            "content": {"content_type": "text", "parts": ["Write a haiku"]},
                        },
                    ]
                },
                "conversation_id": "922fce6e85e840008000000000000002",
            },
            "output": {
                "feedback_step_2": {
                    "original_turn": turn("old poem"),
                    "new_turn": turn("new poem"),
                    "completion_comparison_rating": "new",
                }
            },
            "metadata": {"cf_headers": {"cf-ipcity": "Paris"}},
            "create_time": "2023-05-23T05:57:47.799000+00:00",
        }
    ]
    _, (pair,) = recs(comparison)
    assert isinstance(pair, Pair)
    assert (pair.origin, pair.prompt_text, pair.chosen_text, pair.rejected_text) == (
        "comparison",
        "Write a haiku",
        "new poem",
        "old poem",
    )


# -- Claude --------------------------------------------------------------------------------------


def test_claude_branches_blocks_and_placeholder():
    fmt, (branched, linear) = recs(claude_export())
    assert fmt == "claude"
    m = by_id(branched)
    assert (
        m["m2a"].text == "A monad is a way to chain computations."
    )  # blocks win over the placeholder
    assert (
        m["m2a#0"].hidden and m["m2a#0"].content_type == "thinking" and m["m2a"].parent == "m2a#0"
    )
    assert m["m1"].parent is None  # the all-zero sentinel is the root
    # no kept leaf in Claude exports: the newest leaf (m4) is taken as kept
    assert [k for k, v in m.items() if v.on_active_path] == [
        "m1",
        "m2b",
        "m3",
        "m4#0",
        "m4#1",
        "m4",
    ]
    assert m["m4#0"].text == 'web_search({"query": "monad"})' and m["m4#1"].role == "tool"
    assert m["m4"].text == "Boxes with flatMap."
    (pair,) = branched.pairs
    assert (pair.chosen, pair.rejected, pair.prompt) == ("m2b", "m2a", "m1")
    assert (
        branched.title == "Branched chat" and branched.created_at == "2026-02-21T04:20:00.000000Z"
    )


def test_claude_linear_without_parent_uuid():
    _, (_, linear) = recs(claude_export())
    m = by_id(linear)
    assert [(x.id, x.parent) for x in linear.messages] == [("l1", None), ("l2", "l1"), ("l3", "l2")]
    # only the placeholder and no blocks: no text, hidden (never the placeholder)
    assert m["l2"].text == "" and m["l2"].hidden
    assert m["l1"].meta == {"files": ["notes.txt"]}
    assert linear.meta == {"summary": "The user likes tea."}
    assert all(x.on_active_path for x in linear.messages)


def test_claude_single_conversation_object():
    fmt, (conv,) = recs(claude_export()[1])
    assert (fmt, conv.id, len(conv.messages)) == ("claude", "c-2", 3)


# -- Gemini --------------------------------------------------------------------------------------


def test_gemini_rows_grouped_with_regenerations():
    fmt, out = recs(gemini_activity())
    assert fmt == "gemini"
    convs = [r for r in out if isinstance(r, Conversation)]
    assert [c.id for c in convs] == ["abc123", "abc123", "day-2026-01-05"]
    first = convs[0]
    assert [m.role for m in first.messages] == ["user", "assistant", "assistant"]
    assert first.messages[0].text == "what is a tensor"
    assert first.messages[1].text == "A tensor is a multi-dimensional array."
    assert first.messages[2].text == "Think of it as a generalized matrix.\n\n- rank"
    assert not first.messages[2].on_active_path
    (pair,) = first.pairs
    assert (pair.origin, pair.chosen, pair.rejected) == (
        "regeneration",
        first.messages[1].id,
        first.messages[2].id,
    )


# -- OpenAI, ShareGPT, Open WebUI ----------------------------------------------------------------


def test_openai_bare_array_is_one_conversation():
    fmt, (conv,) = recs(
        [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": 1}'},
                    }
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
            {"role": "assistant", "content": "It is 42."},
        ]
    )
    assert fmt == "openai"
    assert [(m.role, m.hidden) for m in conv.messages] == [
        ("system", True),
        ("user", False),
        ("assistant", True),
        ("tool", True),
        ("assistant", False),
    ]
    assert conv.messages[1].text == "hi\n[image]"
    assert conv.messages[2].text == 'lookup({"q": 1})'
    assert conv.title == "hi"


def test_openai_object_and_jsonl_and_batch():
    rec = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    assert recs(rec)[0] == "openai"
    lines = "\n".join(
        json.dumps(x)
        for x in [
            rec,
            {"messages": [{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]},
            {
                "custom_id": "r1",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "e"}]},
            },
        ]
    ).encode()
    fmt, out = recs(lines)
    assert fmt == "openai"
    assert [[m.text for m in c.messages] for c in out] == [["a", "b"], ["c", "d"], ["e"]]
    # content-hash identity: the same record gives the same ids
    assert (
        recs(rec)[1][0].id == out[0].id and recs(rec)[1][0].messages[1].id == out[0].messages[1].id
    )


def test_sharegpt_array_and_jsonl():
    recs_ = [
        {
            "id": "sg1",
            "conversations": [
                {"from": "system", "value": "sys"},
                {"from": "human", "value": "hey"},
                {"from": "gpt", "value": "hello"},
            ],
        },
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
    ]
    fmt, out = recs(recs_)
    assert fmt == "sharegpt"
    assert out[0].id == "sg1" and [(m.role, m.hidden) for m in out[0].messages] == [
        ("system", True),
        ("user", False),
        ("assistant", False),
    ]
    fmt2, out2 = recs("\n".join(json.dumps(r) for r in recs_).encode())
    assert fmt2 == "sharegpt" and [c.id for c in out2] == [c.id for c in out]


def test_openwebui_fixture_details_split_off(fixtures_dir):
    fmt, out = recs(json.load(open(f"{fixtures_dir}/openwebui/export.json")))
    assert fmt == "openwebui" and [c.id for c in out] == [
        "reasoning-chat",
        "tool-chat",
        "simple-chat",
    ]
    m = by_id(out[0])
    assert m["ra2"].text == "255" and m["ra2"].parent == "ra2#0"
    assert m["ra2#0"].hidden and m["ra2#0"].content_type == "reasoning"
    assert m["ra2#0"].text == "> Let me break this down..."
    t = by_id(out[1])
    assert t["ta2#0"].role == "tool" and t["ta2"].text == "The weather in Paris is 18C with rain."
    assert out[0].current_leaf == "ra2" and out[0].created_at == "2023-11-14T22:13:20.000000Z"


# -- llm logs.db ---------------------------------------------------------------------------------


def test_llm_legacy_responses(tmp_path):
    opened = open_input(make_llm_legacy(tmp_path / "logs.db"))
    assert opened.format == "llm"
    convs = list(opened.records)
    assert sorted(c.id for c in convs) == ["01j0conv", "r-01j0r3"]
    c = next(c for c in convs if c.id == "01j0conv")
    assert c.title == "Naming things"
    assert [(m.id, m.role, m.text, m.hidden) for m in c.messages] == [
        ("01j0r1:s", "system", "Be brief", True),
        ("01j0r1:p", "user", "name a cat", False),
        ("01j0r1:r", "assistant", "Tom", False),
        ("01j0r2:p", "user", "another", False),
        ("01j0r2:r", "assistant", "Felix", False),
    ]
    assert c.messages[3].parent == "01j0r1:r" and c.messages[4].model == "gpt-4o-mini"
    assert c.messages[1].created_at == "2025-02-16T22:34:30.374882Z"


def test_llm_threads_schema(tmp_path):
    opened = open_input(make_llm_threads(tmp_path / "logs.db"))
    (conv,) = list(opened.records)
    m = by_id(conv)
    assert conv.id == "01thread" and conv.title == "SQLite chat"
    assert m["b2:s"].text == "You are terse." and m["b2:s"].hidden
    assert m["b2:a1"].text == "Write-ahead logging." and m["b2:a1"].model == "gpt-5"
    assert m["b2:u2"].parent == "b2:a1" and all(x.on_active_path for x in conv.messages)
    assert conv.current_leaf == "b2:a2"


# -- text transcripts ----------------------------------------------------------------------------


def test_text_transcript():
    text = b"User: I prefer short answers.\nPlease keep it brief.\n\n**Assistant:** Understood.\n### User\nThanks\n"
    fmt, (conv,) = recs(text)
    assert fmt == "text"
    assert [(m.role, m.text) for m in conv.messages] == [
        ("user", "I prefer short answers.\nPlease keep it brief."),
        ("assistant", "Understood."),
        ("user", "Thanks"),
    ]
    assert conv.messages[2].parent == conv.messages[1].id


def test_forced_format_reads_json_as_given():
    # a bare message list also looks like OpenAI; --format sharegpt on it skips what does not fit
    fmt, out = recs([{"role": "user", "content": "x"}], format="sharegpt")
    assert fmt == "sharegpt" and isinstance(out[0], Skipped)


# -- the fast paths (issue 14) ------------------------------------------------------------------
# ChatGPT's _message and text_of read the common message (one plain text part, a float time) on
# short paths. This is the general code they replaced, kept as the reference: the same Message,
# or the same error, for every message shape.


def _reference_text_of(content):
    from pxprofile.importers.chatgpt import _part_text

    ctype = content.get("content_type")
    if ctype == "thoughts":
        out = []
        for t in content.get("thoughts") or []:
            if isinstance(t, dict):
                out += [s for s in (t.get("summary"), t.get("content")) if isinstance(s, str) and s]
        return "\n\n".join(out)
    if ctype == "user_editable_context":
        return "\n\n".join(
            s for s in (content.get("user_profile"), content.get("user_instructions")) if s
        )
    if ctype in ("tether_quote", "sonic_webpage"):
        return "\n\n".join(
            s for s in (content.get("title"), content.get("text")) if isinstance(s, str) and s
        )
    if ctype == "system_error":
        return ": ".join(
            s for s in (content.get("name"), content.get("text")) if isinstance(s, str) and s
        )
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(t for t in (_part_text(p) for p in parts) if t)
    for key in ("text", "result", "content", "output_str", "model_set_context", "summary"):
        v = content.get(key)
        if isinstance(v, str):
            return v
    return ""


def _reference_utc(value):
    from datetime import UTC, datetime

    from pxprofile.importers.common import to_utc

    if type(value) is float and 0 <= value <= 1e11:
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="microseconds")[:-6] + "Z"
    return to_utc(value)


def _reference_message(key, msg, parent):
    from pxprofile.importers.chatgpt import HIDDEN_TYPES, KNOWN_ROLES, _custom_instructions
    from pxprofile.importers.common import Message, raw_time

    author = msg.get("author") or {}
    role = author.get("role") or "unknown"
    role = "tool" if role == "function" else role
    content = msg.get("content") or {}
    ctype = content.get("content_type") or "text"
    metadata = msg.get("metadata") or {}
    name = author.get("name")
    text = _reference_text_of(content)
    hidden = (
        role not in ("user", "assistant")
        or ctype in HIDDEN_TYPES
        or bool(metadata.get("is_visually_hidden_from_conversation"))
        or msg.get("recipient") not in (None, "all")
        or msg.get("weight") == 0
        or not text.strip()
    )
    instructions = _custom_instructions(content, metadata)
    if instructions is not None:
        role, name, text, hidden = "user", "custom_instructions", instructions, True
    elif role not in KNOWN_ROLES:
        hidden = True
    status = msg.get("status")
    finish = (metadata.get("finish_details") or {}).get("type")
    if finish == "interrupted" or status == "in_progress":
        status = "interrupted"
    elif status == "finished_successfully":
        status = "finished"
    meta = {}
    if msg.get("recipient") not in (None, "all"):
        meta["recipient"] = msg["recipient"]
    if msg.get("channel"):
        meta["channel"] = msg["channel"]
    if metadata.get("attachments"):
        meta["attachments"] = [
            a.get("name") for a in metadata["attachments"] if isinstance(a, dict)
        ]
    return Message(
        id=key,
        role=role,
        text=text,
        parent=parent,
        author_name=name,
        content_type=ctype,
        created_raw=raw_time(msg.get("create_time")),
        created_at=_reference_utc(msg.get("create_time")),
        hidden=hidden,
        status=status,
        model=metadata.get("model_slug"),
        meta=meta or None,
    )


def _gpt_messages():
    def maybe(**fields):  # a dict holding any subset of the fields
        return st.fixed_dictionaries({}, optional=fields)

    words = st.sampled_from(["", " ", "Hello", "```x```", "The user provided\n```a```", "\u00e9"])
    odd = st.sampled_from([None, 0, 1, [], ["x"], "str"])
    text = st.one_of(words, st.text(max_size=8))
    part = st.one_of(
        text,
        odd,
        maybe(
            content_type=st.sampled_from(["image_asset_pointer", "audio_asset_pointer", "x"]),
            text=st.one_of(text, odd),
        ),
    )
    content = st.one_of(
        odd,
        maybe(
            content_type=st.one_of(
                st.sampled_from(
                    [
                        "text",
                        "multimodal_text",
                        "code",
                        "thoughts",
                        "reasoning_recap",
                        "user_editable_context",
                        "tether_quote",
                        "sonic_webpage",
                        "system_error",
                        "execution_output",
                        "",
                    ]
                ),
                odd,
            ),
            parts=st.one_of(
                st.lists(part, max_size=3), st.lists(text, min_size=1, max_size=1), odd
            ),
            thoughts=st.one_of(st.lists(maybe(summary=text, content=text), max_size=2), odd),
            text=st.one_of(text, odd),
            title=text,
            name=text,
            result=text,
            user_profile=st.one_of(words, odd),
            user_instructions=st.one_of(words, odd),
        ),
    )
    metadata = st.one_of(
        odd,
        maybe(
            is_visually_hidden_from_conversation=st.booleans(),
            is_user_system_message=st.booleans(),
            user_context_message_data=st.one_of(
                maybe(about_user_message=st.one_of(words, odd), about_model_message=words), odd
            ),
            finish_details=st.one_of(maybe(type=st.sampled_from(["interrupted", "stop"])), odd),
            attachments=st.one_of(st.lists(st.one_of(maybe(name=text), odd), max_size=2), odd),
            model_slug=st.sampled_from(["gpt-4o", None]),
        ),
    )
    when = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0, max_value=1e11),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.sampled_from([None, "", "2024-05-01T17:37:11Z", "1714585031.5", True, [], {}]),
    )
    return maybe(
        author=st.one_of(
            maybe(
                role=st.one_of(
                    st.sampled_from(["user", "assistant", "system", "tool", "function", "", "x"]),
                    odd,
                ),
                name=st.sampled_from([None, "browser", ""]),
            ),
            odd,
        ),
        content=content,
        metadata=metadata,
        recipient=st.sampled_from([None, "all", "browser", 0, []]),
        channel=st.sampled_from([None, "", "final", 0]),
        weight=st.sampled_from([1.0, 0, 0.0, None]),
        status=st.sampled_from(["finished_successfully", "in_progress", "x", None]),
        create_time=when,
    )


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # the importer turns these into a Skipped conversation
        return (type(e), str(e))


@settings(max_examples=1500, derandomize=True, deadline=None, database=None)
@given(msg=_gpt_messages())
def test_chatgpt_message_fast_paths_match_the_general_code(msg):
    from pxprofile.importers.chatgpt import _message

    assert _outcome(_message, "m1", msg, "p") == _outcome(_reference_message, "m1", msg, "p")


@settings(max_examples=500, derandomize=True, deadline=None, database=None)
@given(when=st.datetimes(timezones=st.just(UTC)))
def test_utc_times_are_written_as_isoformat_writes_them(when):
    from pxprofile.importers.common import _iso, to_utc

    assert _iso(when) == when.isoformat(timespec="microseconds")[:-6] + "Z"
    if when.year > 1970:
        assert to_utc(when.timestamp()) == _reference_utc(when.timestamp())


@settings(max_examples=500, derandomize=True, deadline=None, database=None)
@given(
    text=st.lists(
        st.one_of(st.sampled_from(["\ud800", "\udfff", "\u2014", "\U0001f600", "\x00"]), st.text()),
        max_size=6,
    ).map("".join)
)
def test_surrogate_check_is_the_regex(text):
    import re

    from pxprofile.importers.common import _has_surrogate, clean

    assert _has_surrogate(text) == bool(re.search("[\ud800-\udfff]", text))
    assert clean(text) == re.sub("[\ud800-\udfff]", "\ufffd", text.replace("\x00", ""))
