"""signals.units: what the model reads (the user's turns in context) and what needs no model."""

import pytest
from fake_engine import add_conversation

from pxprofile import signals
from pxprofile.store import open_db


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "px.db")


def only_unit(db, **kw):
    [unit] = [u for u in signals.units(db, **kw).units if u.turns]
    return unit


def test_every_user_turn_is_read_with_what_the_assistant_had_just_said(db):
    add_conversation(
        db,
        "c1",
        [("user", "how do I parse JSON in Go?"),
         ("assistant", "Use encoding/json. Or would you like a third-party library?"),
         ("user", "stdlib is fine"), ("assistant", "Here you go.")],
    )  # fmt: skip
    unit = only_unit(db)
    assert [(t.kind, t.text) for t in unit.turns] == [
        ("message", "how do I parse JSON in Go?"),
        ("message", "stdlib is fine"),  # no keyword needed to be read
    ]
    assert unit.turns[1].context.startswith("Use encoding/json. Or would you like")
    assert unit.ending == "Here you go."  # the user never answered it
    assert unit.voice_ids == {"c1:0", "c1:2"} and unit.read_ids == {f"c1:{i}" for i in range(4)}


def test_hidden_tool_system_and_pasted_text_are_not_the_users_voice(db):
    add_conversation(
        db,
        "c1",
        [("system", "You are ChatGPT."), ("user", "summarize this"),
         ("tool", "search results", {"hidden": 1}),
         ("user", "> quoted line one\n> quoted line two"),
         ("user", "my notes:\n```\nlots of code\n```")],
    )  # fmt: skip
    material = signals.units(db)
    assert material.voiceless == {"system": 1, "hidden": 1, "pasted": 1}
    assert material.user_messages == 2
    [unit] = material.units
    assert [t.text for t in unit.turns] == [
        "summarize this",
        "my notes: [pasted or quoted, not the user's words: «``` lots of code ```»]",
    ]


def test_custom_instructions_are_read_first(db):
    add_conversation(db, "a", [("user", "what's 2+2?"), ("assistant", "4")])
    add_conversation(
        db, "b", [("user", "Answer in German.", {"author_name": "custom_instructions"})],
        start="2020-01-01T00:00:00Z",
    )  # fmt: skip
    first = signals.units(db).units[0]
    assert first.conversation_id == "b" and first.turns[0].kind == "custom_instructions"


def test_redacted_text_is_what_the_model_sees(db):
    add_conversation(db, "c", [("user", "my key is sk-123", {"redacted": "my key is [SECRET]"})])
    assert only_unit(db).turns[0].text == "my key is [SECRET]"


def test_long_conversations_are_read_in_slices(db):
    add_conversation(db, "long", [("user", f"message {i} " + "word " * 60) for i in range(20)])
    material = signals.units(db, max_tokens=300)
    assert len(material.units) > 3
    assert set().union(*(u.voice_ids for u in material.units)) == {f"long:{i}" for i in range(20)}
    assert len({u.key for u in material.units}) == len(material.units)


def test_within_a_budget_and_always_at_least_one(db):
    for i in range(5):
        add_conversation(
            db, f"c{i}", [("user", "word " * 100)], start=f"2025-01-0{i + 1}T00:00:00Z"
        )
    units = signals.units(db).units
    take, rest = signals.within(units, budget=units[0].tokens * 2)
    assert len(take) == 2 and len(rest) == 3
    take, rest = signals.within(units, budget=1)
    assert len(take) == 1
    take, rest = signals.within(units, budget=None)
    assert len(take) == 5 and not rest


def test_excluded_ids_wait_for_their_merge_and_are_not_read_again(db):
    add_conversation(db, "c", [("user", "hello"), ("assistant", "hi")])
    assert signals.units(db, exclude={"c:0", "c:1"}).units == []


def test_interrupted_and_identical_pairs_are_read_without_the_model(db):
    ids = add_conversation(db, "c", [("user", "q"), ("assistant", "same")])
    db["pairs"].insert_all(
        [{"id": "p1", "conversation_id": "c", "prompt_id": ids[0], "chosen_id": ids[1],
          "rejected_text": "same", "origin": "branch"},
         {"id": "p2", "conversation_id": "c", "prompt_id": ids[0], "chosen_id": ids[1],
          "rejected_text": "other", "origin": "branch", "interrupted": 1}],
        pk="id",
    )  # fmt: skip
    unit = only_unit(db)
    assert [t.kind for t in unit.turns] == ["message"]
    assert unit.signal_ids == {"pair:p1", "pair:p2"}


def test_comparison_pairs_without_stored_messages_use_their_own_texts(db):
    db["pairs"].insert(
        {"id": "cmp", "conversation_id": "x", "prompt_text": "which?", "chosen_text": "A",
         "rejected_text": "B", "origin": "comparison"},
        pk="id",
    )  # fmt: skip
    [unit] = signals.units(db).units
    turn = unit.turns[0]
    assert (turn.kind, turn.text, turn.chosen, turn.rejected) == (
        "regeneration",
        "which?",
        "A",
        "B",
    )
    assert turn.voice_ids == ()  # no message of the user's: shown, but cannot be cited alone


def test_pending_and_mark_digested(db):
    add_conversation(db, "c", [("user", "a"), ("assistant", "b")])
    assert signals.pending(db) == 2
    signals.mark_digested(db, ["c:0", "c:1"], [], None, None)
    assert signals.pending(db) == 0 and signals.pending(db, "other") == 2
