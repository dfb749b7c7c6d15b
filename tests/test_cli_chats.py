"""`pxprofile chats list|show|search` and `pxprofile stats`."""

from __future__ import annotations

import json

import pytest
from chat_samples import gpt_regenerated, write_json

from pxprofile.cli import app


@pytest.fixture
def db(runner, tmp_path, fixtures_dir):
    path = tmp_path / "x.db"
    for f in (
        f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json",
        f"{fixtures_dir}/openwebui/export.json",
        write_json(tmp_path / "c.json", [gpt_regenerated()]),
    ):
        assert (
            runner.invoke(app, ["ingest", str(f), "--no-update", "--db", str(path)]).exit_code == 0
        )
    return str(path)


def test_stats_json(runner, db):
    r = runner.invoke(app, ["stats", "--json", "--db", db])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {
        "sources": 3,
        "conversations": 5,
        "messages": 30,
        "user_messages": 10,
        "hidden_messages": 7,
        "pairs": 2,
        "feedback": 0,
        "formats": {"chatgpt": 2, "openwebui": 3},
    }


def test_stats_human_and_empty(runner, db, tmp_path):
    r = runner.invoke(app, ["stats", "--db", db])
    assert r.stdout.splitlines()[:3] == ["sources: 3", "conversations: 5", "messages: 30"]
    r = runner.invoke(app, ["stats", "--json", "--db", str(tmp_path / "empty.db")])
    data = json.loads(r.stdout)
    assert all(
        isinstance(data[k], int) and data[k] == 0
        for k in ("sources", "conversations", "messages", "user_messages", "pairs", "feedback")
    )


def test_chats_list(runner, db):
    r = runner.invoke(app, ["chats", "list", "--json", "--db", db])
    rows = json.loads(r.stdout)
    assert [(x["id"], x["messages"]) for x in rows] == [
        ("chatgpt:conv-regen", 10),
        ("chatgpt:d5dc5307-6807-41a0-8b04-4acee626eeb7", 12),
        ("openwebui:simple-chat", 2),
        ("openwebui:tool-chat", 3),
        ("openwebui:reasoning-chat", 3),
    ]
    r = runner.invoke(app, ["chats", "list", "-n", "1", "--db", db])
    assert r.stdout == "chatgpt:conv-regen  2024-05-01     10 msgs  SQL joins\n"
    r = runner.invoke(app, ["chats", "list", "--nl", "--format", "openwebui", "--db", db])
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == [
        "openwebui:simple-chat",
        "openwebui:tool-chat",
        "openwebui:reasoning-chat",
    ]


def test_chats_list_empty_json(runner, tmp_path):
    r = runner.invoke(app, ["chats", "list", "--json", "--db", str(tmp_path / "e.db")])
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])


def test_chats_show_kept_path(runner, db):
    r = runner.invoke(app, ["chats", "show", "conv-regen", "--json", "--db", db])
    assert r.exit_code == 0
    conv = json.loads(r.stdout)
    assert conv["title"] == "SQL joins"
    assert [(m["role"], m["text"]) for m in conv["messages"]] == [
        ("user", "How do I join two tables in SQL?"),
        ("assistant", "Use JOIN ... ON."),
        ("user", "thanks"),
    ]
    r = runner.invoke(app, ["chats", "show", "chatgpt:conv-regen", "--db", db])
    assert r.stdout.splitlines()[:5] == [
        "# SQL joins",
        "chatgpt:conv-regen · chatgpt · 2024-05-01 17:37",
        "",
        "## user  2024-05-01 17:37",
        "",
    ]


def test_chats_show_all_branches_and_hidden(runner, db):
    r = runner.invoke(app, ["chats", "show", "conv-regen", "--all-branches", "--json", "--db", db])
    msgs = json.loads(r.stdout)["messages"]
    assert [(m["id"].split(":")[-1], m["on_active_path"], m["depth"]) for m in msgs] == [
        ("u1", True, 0),
        ("a1t", True, 0),
        ("u2", True, 0),
        ("a2", False, 1),
        ("a3", False, 1),
        ("a4", False, 1),
    ]
    r = runner.invoke(app, ["chats", "show", "conv-regen", "--hidden", "--json", "--db", db])
    ids = [m["id"].split(":")[-1] for m in json.loads(r.stdout)["messages"]]
    assert ids == ["ci", "u1", "a1", "a1r", "a1t", "u2"]
    r = runner.invoke(app, ["chats", "show", "conv-regen", "--all-branches", "--db", db])
    assert "  ## assistant (other branch)  2024-05-01 17:37" in r.stdout.splitlines()


def test_chats_show_unknown_and_ambiguous(runner, db):
    r = runner.invoke(app, ["chats", "show", "nope", "--db", db])
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: no conversation 'nope'. Run `pxprofile chats list` to see the ids.\n",
    )
    r = runner.invoke(app, ["chats", "show", "openwebui", "--db", db])
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: 'openwebui' matches more than one conversation. Give more of the id.\n",
    )


def test_chats_search(runner, db):
    r = runner.invoke(app, ["chats", "search", "joke", "--json", "--db", db])
    rows = json.loads(r.stdout)
    assert [(x["role"], x["snippet"]) for x in rows] == [("user", "tell me a [joke]")]
    r = runner.invoke(app, ["chats", "search", "joke", "--db", db])
    assert r.stdout == "chatgpt:d5dc5307-6807-41a0-8b04-4acee626eeb7  user: tell me a [joke]\n"
    # FTS syntax in the query is taken literally, not as an error
    r = runner.invoke(app, ["chats", "search", 'tables" OR (', "--json", "--db", db])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    # hidden messages only with --hidden
    r = runner.invoke(app, ["chats", "search", "metric", "--json", "--db", db])
    assert json.loads(r.stdout) == []
    r = runner.invoke(app, ["chats", "search", "metric", "--hidden", "--json", "--db", db])
    assert [x["message_id"] for x in json.loads(r.stdout)] == ["chatgpt:conv-regen:ci"]
