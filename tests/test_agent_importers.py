"""Coding-agent sessions (agent-formats.md): detected by content, the user's voice kept apart
from everything the agent and its harness wrote, rejections and interrupts stored as feedback,
the project as context; the database side is in test_cli_ingest_agents.py."""

from __future__ import annotations

import json

import agent_samples
import pytest
from agent_samples import (
    CODEX_ID,
    SID,
    aider_repo,
    claude_code_lines,
    claude_code_subagent_lines,
    claude_home,
    codex_lines,
    gemini_chat,
    gemini_home,
    write_jsonl,
)

from pxprofile.importers.common import Conversation, Feedback, Skipped
from pxprofile.importers.detect import open_input

home = agent_samples.home  # the shared temporary-HOME fixture


def read(path):
    opened = open_input(path)
    recs = list(opened.records)
    convs = [r for r in recs if isinstance(r, Conversation)]
    return opened.format, convs, [r for r in recs if isinstance(r, Feedback)], recs


def voice(conv):
    """What counts as the user's own words: visible user text messages."""
    return [m.text for m in conv.messages if m.role == "user" and not m.hidden]


def visible_replies(conv):
    return [m.text for m in conv.messages if m.role == "assistant" and not m.hidden]


# -- Claude Code -----------------------------------------------------------------------------------


def test_claude_code_voice_is_only_what_the_human_typed(tmp_path):
    fmt, (conv,), _, _ = read(write_jsonl(tmp_path / "s.jsonl", claude_code_lines()))
    assert fmt == "claude-code"
    assert conv.id == SID
    # typed prompts, the words given with a rejection, and the message queued while busy
    assert voice(conv) == [
        "rename the scan helper to find_targets and add a test",
        "no, keep the old name and use pytest fixtures",
        "no, drop the docstrings",
        "thanks, commit it",
        "and please no docstrings on the tests",
    ]
    kinds = {m.id: (m.role, m.content_type, m.hidden) for m in conv.messages}
    assert kinds["u0"] == ("system", "caveat", True)  # isMeta caveat
    assert kinds["u1"] == ("user", "command", True)  # /clear wrapper, not isMeta
    assert kinds["u2"] == ("tool", "command_output", True)  # its <local-command-stdout>
    assert kinds["u8"] == ("system", "reminder", True)
    assert kinds["u9"] == ("system", "notification", True)  # not isMeta, still not the user's
    assert kinds["u12"] == ("system", "compaction", True)  # isCompactSummary, not isMeta
    assert kinds["u5"] == ("user", "interrupt", True)
    assert kinds["a1"] == ("assistant", "thoughts", True)
    assert kinds["a3"] == ("assistant", "tool_use", True)
    assert kinds["u6"] == ("tool", "tool_result", True)
    # summary and snapshot lines are not messages; progress lines keep the chain
    assert not any(m.id.startswith(("p1", "m0")) for m in conv.messages)
    assert visible_replies(conv) == [
        "I'll rename it.",
        "Tests pass. I added docstrings to each test.",
        "Writing a long explanation of every",
    ]


def test_claude_code_split_reply_parallel_tools_and_compaction_keep_one_chain(tmp_path):
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "s.jsonl", claude_code_lines()))
    m = {x.id: x for x in conv.messages}
    assert m["a2"].parent == "a1" and m["a3"].parent == "a2"  # one API message, three lines
    assert m["u6"].parent == "a4" and m["u7"].parent == "a5"  # parallel calls: not a branch...
    assert conv.pairs == []  # ...and never a preference pair
    assert m["c1"].parent == "u11"  # compact_boundary follows logicalParentUuid
    assert m["u13"].on_active_path and m["u3"].on_active_path  # one path across compaction
    assert conv.current_leaf == "u13"
    assert conv.title == "Another title"  # summary lines are titles, not sessions
    assert conv.meta == {
        "agent": "claude-code",
        "cwd": "/home/marco/projects/spotter",
        "git_branch": "main",
        "version": "2.0.76",
    }


def test_claude_code_rejected_edit_and_interrupt_are_feedback(tmp_path):
    _, _, feedback, _ = read(write_jsonl(tmp_path / "s.jsonl", claude_code_lines()))
    got = {(f.origin, f.message, f.rating) for f in feedback}
    # the interrupt "for tool use" right after the rejection is the same choice: one row
    assert got == {("agent-rejected", "a3", -1), ("agent-interrupted", "a7", -1)}
    rejected = next(f for f in feedback if f.origin == "agent-rejected")
    assert rejected.text == (
        "rejected Edit /home/marco/projects/spotter/scan.py: 'def scan_helper(' -> "
        "'def find_targets('"
    )
    interrupted = next(f for f in feedback if f.origin == "agent-interrupted")
    assert interrupted.text.endswith("Writing a long explanation of every")


def test_claude_code_queued_message_delivered_later_counts_once(tmp_path):
    lines = claude_code_lines()
    lines.append(
        {
            **lines[-2],
            "uuid": "u14",
            "parentUuid": "u13",
            "message": {"role": "user", "content": "and please no docstrings on the tests"},
        }
    )
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "s.jsonl", lines))
    assert voice(conv).count("and please no docstrings on the tests") == 1


def test_claude_code_subagent_file_is_stored_hidden_apart(tmp_path):
    _, (conv,), feedback, _ = read(
        write_jsonl(tmp_path / "agent-a1b2c3.jsonl", claude_code_subagent_lines())
    )
    assert conv.id == f"{SID}/agent-a1b2c3"  # never mixed into the parent session
    assert all(m.hidden for m in conv.messages)  # the Task prompt is not human text
    assert voice(conv) == [] and feedback == []


def test_claude_code_file_without_messages_is_an_empty_session(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", claude_code_lines()[:2])  # summary + snapshot only
    _, convs, _, recs = read(f)
    assert convs == [] and isinstance(recs[0], Skipped) and "empty session" in recs[0].reason


def test_detected_by_content_not_by_name(tmp_path):
    assert read(write_jsonl(tmp_path / "notes.txt", claude_code_lines()))[0] == "claude-code"
    assert read(write_jsonl(tmp_path / "x.json", codex_lines()))[0] == "codex"
    chat = tmp_path / "chat.log"
    chat.write_text(json.dumps(gemini_chat()))
    assert read(chat)[0] == "gemini-cli"
    assert read(aider_repo(tmp_path / "r"))[0] == "aider"


# -- Codex -----------------------------------------------------------------------------------------


def test_codex_prompt_written_twice_counts_once_and_context_is_hidden(tmp_path):
    fmt, (conv,), feedback, _ = read(write_jsonl(tmp_path / "r.jsonl", codex_lines()))
    assert fmt == "codex" and conv.id == CODEX_ID
    # the IDE wrapper is cut down to the request; AGENTS.md and environment_context are not voice
    assert voice(conv) == [
        "add type hints to utils.py, and use ruff not black",
        "make the CLI print JSON",
    ]
    hidden = [m.text for m in conv.messages if m.hidden and m.role == "system"]
    assert any(t.startswith("# AGENTS.md instructions") for t in hidden)
    assert any(t.startswith("<environment_context>") for t in hidden)
    assert any(t.startswith("<permissions instructions>") for t in hidden)  # developer role
    assert visible_replies(conv) == ["Understood, I'll use ruff.", "Done: the CLI prints JSON."]
    assert conv.meta["cwd"] == "/home/dev/app" and conv.meta["git_branch"] == "main"
    got = {(f.origin, f.text) for f in feedback}
    assert ("agent-rejected", "rejected shell black utils.py") in got
    assert any(o == "agent-interrupted" and "apply_patch" in t for o, t in got)


def test_codex_077_layout_and_desktop_files_without_user_items(tmp_path):
    lines = codex_lines("0.77")
    # 0.77: AGENTS.md and environment_context as two separate user messages
    lines[2:3] = [
        {
            **lines[2],
            "payload": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": t}],
            },
        }
        for t in (
            lines[2]["payload"]["content"][0]["text"],
            lines[2]["payload"]["content"][1]["text"],
        )
    ]
    lines[0]["payload"]["instructions"] = "Use uv."
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "r.jsonl", lines))
    assert len(voice(conv)) == 2
    assert ("system", "instructions", "Use uv.") in [
        (m.role, m.content_type, m.text) for m in conv.messages
    ]
    # Desktop: publishers keep only some line types; the events carry the prompts then
    desktop = [x for x in codex_lines() if x["type"] in ("session_meta", "event_msg")]
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "d.jsonl", desktop))
    assert voice(conv) == [
        "add type hints to utils.py, and use ruff not black",
        "make the CLI print JSON",
    ]
    assert visible_replies(conv) == ["Understood, I'll use ruff."]


# -- Gemini CLI ------------------------------------------------------------------------------------


def test_gemini_cli_tool_calls_inside_messages_and_cancelled_call(tmp_path):
    fmt, (conv,), feedback, _ = read(gemini_home(tmp_path))
    assert fmt == "gemini-cli"
    assert voice(conv) == [
        "list the TODOs in src, shortest answer possible",
        "fix it",
        "don't touch src/a.py, just explain the TODO",
    ]
    assert visible_replies(conv) == ["One TODO: src/a.py line 3."]  # tool-only turns are hidden
    m = {x.id: x for x in conv.messages}
    assert m["g2#call0"].hidden and m["g2#call0#result"].text == "Found 1 match"
    assert m["g6"].role == "system" and m["g6"].hidden
    got = {(f.origin, f.message, f.text) for f in feedback}
    assert ("agent-rejected", "g5#call0", "rejected replace src/a.py: '# TODO' -> 'pass'") in got
    assert any(o == "agent-interrupted" for o, _, _ in got)


def test_gemini_cli_content_as_a_list_of_parts(tmp_path):
    chat = gemini_chat()
    chat["messages"][0]["content"] = [{"text": "list the TODOs"}, {"text": "briefly"}]
    f = tmp_path / "session.json"
    f.write_text(json.dumps(chat))
    _, (conv,), _, _ = read(f)
    assert voice(conv)[0] == "list the TODOs\nbriefly"


# -- aider -----------------------------------------------------------------------------------------


def test_aider_runs_inputs_status_and_commands(tmp_path):
    fmt, convs, feedback, _ = read(aider_repo(tmp_path / "repo"))
    assert fmt == "aider" and len(convs) == 2  # one conversation per "aider chat started at"
    first, second = convs
    # multi-line input with a blank line; /ask re-logs its message, so the /ask block is hidden
    assert voice(first) == [
        "add a --verbose flag to cli.py\n\nkeep it off by default",
        "why did you rename main?",
        "use click instead of argparse",
    ]
    assert voice(second) == ["write the changelog entry"]
    statuses = [m.text for m in first.messages if m.content_type == "status"]
    assert any("Applied edit to cli.py" in t for t in statuses)  # '>' lines are not the user
    reply = visible_replies(first)[0]
    assert ">>>>>>> REPLACE" in reply and "```" in reply  # fences stay in the reply
    got = {(f.conversation, f.origin) for f in feedback}
    assert got == {
        (first.id, "agent-rejected"),  # /undo
        (first.id, "agent-interrupted"),  # ^C KeyboardInterrupt
        (second.id, "agent-rejected"),  # "Allow edits ...? [Yes]: n"
    }
    undo = next(f for f in feedback if f.conversation == first.id and f.origin == "agent-rejected")
    assert undo.text.startswith("rejected the last edit: Here is the change:")


def test_a_correction_right_after_an_action_carries_the_action(tmp_path):
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "s.jsonl", claude_code_lines()))
    said = next(m for m in conv.messages if m.id == "u4#said")
    assert said.meta == {
        "after_actions": [
            "Edit /home/marco/projects/spotter/scan.py: 'def scan_helper(' -> 'def find_targets('"
        ]
    }
    first = next(m for m in conv.messages if m.id == "u3")
    assert first.meta is None  # nothing happened before the first prompt
    _, (chat,), _, _ = read(gemini_home(tmp_path))
    last = chat.messages[-1]
    assert last.text.startswith("don't touch src/a.py")
    assert last.meta == {"after_actions": ["replace src/a.py: '# TODO' -> 'pass'"]}


def test_claude_code_2_1_file_as_published(tmp_path):
    from agent_samples import claude_code_2_1_lines

    fmt, (conv,), feedback, _ = read(write_jsonl(tmp_path / "s.jsonl", claude_code_2_1_lines()))
    assert fmt == "claude-code"  # detected from a first line that is a "mode" line
    assert conv.title == "Read the env file"  # ai-title
    assert voice(conv) == ["Read the file .env in this directory.", "fine, skip it"]
    assert feedback == []  # a hook's denial is not the user's rejection
    m = {x.id: x for x in conv.messages}
    # parents the publisher left out: the file's order keeps one chain, all on the kept path
    assert m["h2"].parent == "h1" and m["h5"].parent == "h3"
    assert all(x.on_active_path for x in conv.messages)


def test_aider_083_history_as_committed(tmp_path):
    from agent_samples import AIDER_083

    fmt, (conv,), feedback, _ = read(aider_repo(tmp_path / "r", AIDER_083))
    assert fmt == "aider"
    assert voice(conv) == [
        "Check these metrics:\n- releases in the last year\n\nwrite curl requests for them",
        "Please write a .sh file that runs these commands.",  # once: the /code block is hidden
        "Let's use python instead of bash",
        "Actually, never mind. Keep bash, but make the output verbose.",
    ]
    replies = visible_replies(conv)
    assert replies[0] == "Here are the curl commands."
    assert not any("export OWNER" in r for r in replies)  # a multi-line status stays status
    got = [(f.origin, next(m.text for m in conv.messages if m.id == f.message)) for f in feedback]
    assert ("agent-rejected", replies[1]) in got  # "Run shell commands? ... [Yes]: n"
    # ^C while the reply streamed: the cut reply (logged after the ^C) is the one interrupted;
    # the ^C at the prompt after a finished reply ("Tokens:") is not a signal
    assert (
        "agent-interrupted",
        "I'll convert the script to Python.\n\nmetrics.py\n```python\n<<<<<<< SE",
    ) in got
    assert len(got) == 2


def test_codex_rollback_keeps_the_discarded_turn_off_the_kept_path(tmp_path):
    lines = codex_lines()[:12]  # up to "Understood, I'll use ruff."
    ts = "2025-10-05T09:20:00.000Z"

    def event(payload, t=ts):
        return {"timestamp": t, "type": "event_msg", "payload": payload}

    lines += [
        {
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "delete the tests folder"}],
            },
            "timestamp": ts,
        },
        {
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Deleted tests/."}],
            },
            "timestamp": ts,
        },
        event({"type": "thread_rolled_back", "num_turns": 1}),
        {
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "move the tests folder to old/"}],
            },
            "timestamp": "2025-10-05T09:21:00.000Z",
        },
    ]
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "r.jsonl", lines))
    m = {x.text: x for x in conv.messages}
    old, new = m["delete the tests folder"], m["move the tests folder to old/"]
    assert old.parent == new.parent  # the new prompt branches where the discarded one did
    assert not old.on_active_path and not m["Deleted tests/."].on_active_path
    assert new.on_active_path and m["Understood, I'll use ruff."].on_active_path


def test_gemini_cli_jsonl_layout_with_set_and_rewind(tmp_path):
    """The JSON Lines layout newer CLIs are reported to write (gemini-cli#23749): metadata,
    one message a line, $set updates and $rewindTo (the user went back and asked again)."""
    lines = [
        {
            "sessionId": "s-jsonl",
            "projectHash": "ab" * 32,
            "startTime": "2026-06-01T00:00:00Z",
            "lastUpdated": "2026-06-01T00:00:00Z",
            "kind": "main",
        },
        {
            "id": "u1",
            "timestamp": "2026-06-01T00:00:01Z",
            "type": "user",
            "content": [{"text": "rewrite it in Go"}],
        },
        {
            "id": "g1",
            "timestamp": "2026-06-01T00:00:02Z",
            "type": "gemini",
            "content": [{"text": "Here it is in Go."}],
        },
        {"$set": {"lastUpdated": "2026-06-01T01:00:00Z"}},
        {"$rewindTo": "u1"},
        {
            "id": "u2",
            "timestamp": "2026-06-01T00:01:00Z",
            "type": "user",
            "content": [{"text": "rewrite it in Rust"}],
        },
        {
            "id": "g2",
            "timestamp": "2026-06-01T00:01:05Z",
            "type": "gemini",
            "content": [{"text": "Here it is in Rust."}],
        },
    ]
    path = write_jsonl(
        tmp_path
        / "home"
        / ".gemini"
        / "tmp"
        / "h"
        / "chats"
        / "session-2026-06-01T00-00-sjsonl.jsonl",
        lines,
    )
    fmt, (conv,), _, _ = read(path)
    assert fmt == "gemini-cli" and conv.id == "s-jsonl"
    m = {x.id: x for x in conv.messages}
    assert m["u2"].parent == m["u1"].parent  # asked again from the same place
    assert not m["u1"].on_active_path and not m["g1"].on_active_path
    assert m["u2"].on_active_path and m["g2"].on_active_path
    from pxprofile.agentfiles import session_files

    assert session_files("gemini-cli", [tmp_path / "home" / ".gemini" / "tmp"]) == [path]


def test_gemini_cli_subagent_session_is_hidden(tmp_path):
    chat = {**gemini_chat(), "kind": "subagent"}
    f = tmp_path / "session.json"
    f.write_text(json.dumps(chat))
    _, (conv,), feedback, _ = read(f)
    assert voice(conv) == [] and visible_replies(conv) == [] and feedback == []


def test_bare_slash_commands_are_not_the_users_voice(tmp_path):
    lines = codex_lines()
    lines.insert(
        6,
        {
            "timestamp": "2025-10-05T09:01:30.000Z",
            "type": "event_msg",
            "payload": {"type": "user_message", "message": "/status"},
        },
    )
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "r.jsonl", lines))
    assert "/status" not in voice(conv)
    assert [m.content_type for m in conv.messages if m.text == "/status"] == ["command"]
    chat = gemini_chat()
    chat["messages"].insert(0, {"id": "g0", "type": "user", "content": "/compress"})
    f = tmp_path / "session.json"
    f.write_text(json.dumps(chat))
    _, (conv,), _, _ = read(f)
    assert voice(conv)[0] == "list the TODOs in src, shortest answer possible"


@pytest.mark.parametrize("name", ["claude-code", "codex", "gemini-cli", "aider"])
def test_every_cut_of_a_session_is_read_or_refused_cleanly(tmp_path, name):
    """A file cut anywhere (an agent still writing, a copy interrupted) either reads or raises a
    PxprofileError: never another exception."""
    from pxprofile.errors import PxprofileError

    src = {
        "claude-code": lambda: write_jsonl(tmp_path / "a.jsonl", claude_code_lines()),
        "codex": lambda: write_jsonl(tmp_path / "a.jsonl", codex_lines()),
        "gemini-cli": lambda: gemini_home(tmp_path),
        "aider": lambda: aider_repo(tmp_path / "r"),
    }[name]()
    data = src.read_bytes()
    cut = tmp_path / "cut"
    outcomes = set()
    for n in range(1, len(data), max(1, len(data) // 150)):
        cut.write_bytes(data[:n])
        try:
            opened = open_input(cut)
            list(opened.records)
            outcomes.add("read")
        except PxprofileError:
            outcomes.add("refused")
    if name != "gemini-cli":  # one JSON document: any cut is invalid
        assert "read" in outcomes  # whole lines (or a prefix of aider's Markdown) read
    if name != "aider":
        assert "refused" in outcomes  # a cut JSON value is an error, never half a message


def test_claude_code_queued_message_waits_until_its_fate_is_known(runner, home, tmp_path):
    lines = claude_code_lines()
    i = next(i for i, x in enumerate(lines) if x.get("operation") == "remove")
    path = claude_home(home, lines[:i])  # enqueued; the agent has not taken it yet
    _, (conv,), _, _ = read(path)
    assert "and please no docstrings on the tests" not in voice(conv)
    _, (conv,), _, _ = read(claude_home(home, lines))  # removed: injected into the turn
    assert voice(conv).count("and please no docstrings on the tests") == 1
    dequeued = [
        dict(x, operation="dequeue") if x.get("operation") == "remove" else x for x in lines
    ]
    _, (conv,), _, _ = read(claude_home(home, dequeued))  # sent as a prompt: a user line says so
    assert "and please no docstrings on the tests" not in voice(conv)


def test_claude_code_queued_slash_command_is_not_voice(tmp_path):
    lines = claude_code_lines()
    for x in lines:
        if x.get("operation") == "enqueue":
            x["content"] = "/mcp"
    _, (conv,), _, _ = read(write_jsonl(tmp_path / "s.jsonl", lines))
    assert "/mcp" not in voice(conv)
    assert [(m.content_type, m.hidden) for m in conv.messages if m.text == "/mcp"] == [
        ("command", True)
    ]
