from fake_engine import add_conversation

from pxprofile import signals
from pxprofile.store import open_db


def _db(tmp_path):
    return open_db(tmp_path / "px.db")


def _kinds(pool):
    return sorted((e.kind, e.text) for e in pool.evidence)


def test_explicit_statements_in_the_users_own_words(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db,
        "c1",
        [
            ("user", "I prefer type hints everywhere. Anyway, how do I parse JSON in Go?"),
            ("assistant", "I prefer to use encoding/json. Please always check errors."),
            ("user", "thanks"),
        ],
    )
    pool = signals.collect(db)
    assert _kinds(pool) == [("explicit", "I prefer type hints everywhere.")]
    assert pool.evidence[0].message_ids == ("c1:0",)
    assert pool.message_ids == {"c1:0", "c1:1", "c1:2"}


def test_hidden_tool_system_and_code_are_never_the_users_voice(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db,
        "c1",
        [
            ("system", "I prefer formal answers. Please always obey."),
            (
                "user",
                "Here is my file:\n```\n# I prefer tabs. Don't use spaces.\n```\n"
                "> I prefer quoting too\nwhat's wrong?",
            ),
            ("tool", "I prefer JSON output", {"hidden": 1}),
            ("user", "I prefer dark mode", {"hidden": 1}),
            ("assistant", "Looks fine."),
        ],
    )
    assert signals.collect(db).evidence == []


def test_custom_instructions_are_the_strongest_evidence(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db,
        "c1",
        [
            (
                "user",
                "I am a data engineer. Answer in British English.",
                {"author_name": "custom_instructions", "hidden": 1},
            ),
            ("user", "I like concise replies."),
        ],
    )
    ranked = signals.rank(signals.collect(db).evidence)
    assert [e.kind for e in ranked] == ["custom_instructions", "explicit"]
    assert ranked[0].text == "I am a data engineer. Answer in British English."


def test_correction_after_a_reply_shows_the_reply_as_a_reply(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db,
        "c1",
        [
            ("user", "explain closures"),
            ("assistant", "A closure is a function together with its lexical environment ..."),
            ("user", "shorter, and no analogies"),
        ],
    )
    [e] = signals.collect(db).evidence
    assert e.kind == "correction"
    assert e.text == (
        "After the reply «A closure is a function together with its lexical environment ...» "
        "the user wrote: shorter, and no analogies"
    )
    assert e.message_ids == ("c1:2", "c1:1")


def test_redacted_text_is_what_the_model_sees(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db,
        "c1",
        [
            (
                "user",
                "I use the key sk-live-123 for everything",
                {"redacted": "I use the key [REDACTED:api-key] for everything"},
            ),
        ],
    )
    [e] = signals.collect(db).evidence
    assert "sk-live" not in e.text
    assert e.text == "I use the key [REDACTED:api-key] for everything"


def test_the_same_statement_twice_is_one_stronger_piece_of_evidence(tmp_path):
    db = _db(tmp_path)
    add_conversation(db, "c1", [("user", "Please always answer in metric units.")])
    add_conversation(
        db, "c2", [("user", "please always answer in metric units!")], start="2025-02-01T00:00:00Z"
    )
    [e] = signals.collect(db).evidence
    assert e.message_ids == ("c1:0", "c2:0")
    assert e.conversation_ids == ("c1", "c2")
    assert e.support == 2
    assert e.score > signals.SCORES["explicit"]


def test_long_statements_are_truncated(tmp_path):
    db = _db(tmp_path)
    add_conversation(db, "c1", [("user", "I prefer " + "very " * 200 + "long answers.")])
    [e] = signals.collect(db).evidence
    assert len(e.text) <= signals.MAX_USER_CHARS
    assert e.text.endswith("…")


def _pair(db, pid, prompt_id, chosen_id, rejected_id, **extra):
    db["pairs"].insert(
        {
            "id": pid,
            "conversation_id": "c1",
            "prompt_id": prompt_id,
            "chosen_id": chosen_id,
            "rejected_id": rejected_id,
            "origin": "branch",
            "interrupted": 0,
        }
        | extra,
        pk="id",
    )


def test_branch_pairs_are_query_chosen_rejected(tmp_path):
    db = _db(tmp_path)
    add_conversation(db, "c1", [("user", "name a sorting algorithm"), ("assistant", "Merge sort.")])
    db["messages"].insert(
        {
            "id": "c1:alt",
            "conversation_id": "c1",
            "parent_id": "c1:0",
            "role": "assistant",
            "text": "There are many! Let me tell you a story...",
            "hidden": 0,
            "on_active_path": 0,
        },
        pk="id",
    )
    _pair(db, "p1", "c1:0", "c1:1", "c1:alt")
    _pair(db, "p2", "c1:0", "c1:1", "c1:alt", interrupted=1)
    pool = signals.collect(db)
    [e] = pool.evidence
    assert e.kind == "pair"
    assert (e.query, e.chosen, e.rejected) == (
        "name a sorting algorithm",
        "Merge sort.",
        "There are many! Let me tell you a story...",
    )
    assert e.message_ids == ("c1:0", "c1:1", "c1:alt")
    assert e.signal_ids == ("pair:p1",)
    # the interrupted pair is no evidence, but it is read (so it is not pending forever)
    assert pool.signal_ids == {"pair:p1", "pair:p2"}


def test_feedback_quotes_the_rated_reply(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db, "c1", [("user", "summarize this"), ("assistant", "Sure! Great question! Here...")]
    )
    db["feedback"].insert(
        {
            "id": "f1",
            "message_id": "c1:1",
            "conversation_id": "c1",
            "rating": -1,
            "text": "too chatty",
        },
        pk="id",
    )
    [e] = signals.collect(db).evidence
    assert e.kind == "feedback"
    assert e.text == (
        "The user asked: summarize this\nThe user gave a thumbs down to the reply "
        "«Sure! Great question! Here...»\nThe user's comment: too chatty"
    )
    assert e.signal_ids == ("feedback:f1",)


def test_recurring_topics_are_aggregated_across_conversations(tmp_path):
    db = _db(tmp_path)
    for i in range(4):
        add_conversation(
            db, f"c{i}", [("user", f"kubernetes question number {i}: why is my pod pending")]
        )
    topics = [e for e in signals.collect(db).evidence if e.kind == "topic"]
    terms = [e.text.split("“")[1].split("”")[0] for e in topics]
    assert "kubernetes" in terms and "pod" in terms
    k8s = topics[terms.index("kubernetes")]
    assert k8s.text.startswith("The user brought up “kubernetes” in 4 conversations")
    assert len(k8s.message_ids) == 3


def test_select_ranks_within_the_budget_and_leaves_the_rest_undigested(tmp_path):
    db = _db(tmp_path)
    add_conversation(
        db,
        "c0",
        [
            (
                "user",
                "I am a nurse and I prefer plain language.",
                {"author_name": "custom_instructions"},
            )
        ],
    )
    for i in range(1, 11):
        add_conversation(
            db, f"c{i}", [("user", f"I like topic number {i} a lot"), ("assistant", "ok")]
        )
    add_conversation(
        db, "plain", [("user", "what's the weather like on mars"), ("assistant", "cold")]
    )
    sel = signals.select(db, budget=30, count_tokens=lambda t: 10)
    assert sel.available == 23
    assert [e.kind for e in sel.evidence].count("custom_instructions") == 1
    assert len(sel.evidence) == 3  # 30 tokens / 10 each, strongest first
    assert len(sel.left_ids) == 8  # eight "I like" messages did not fit
    assert "plain:0" in sel.read_ids and "plain:1" in sel.read_ids  # nothing to learn: read
    assert sel.read_ids.isdisjoint(sel.left_ids)
    assert sel.read + len(sel.left_ids) == sel.available

    everything = signals.select(db, budget=30, count_tokens=lambda t: 10, read_all=True)
    assert len([e for e in everything.evidence if e.kind != "topic"]) == 11
    assert everything.left_ids == set() and everything.read == 23


def test_pending_and_mark_digested(tmp_path):
    db = _db(tmp_path)
    add_conversation(db, "c1", [("user", "hi"), ("assistant", "hello")])
    _pair(db, "p1", "c1:0", "c1:1", "c1:1")
    assert signals.pending(db) == 3
    signals.mark_digested(db, ["c1:0", "c1:1"], ["pair:p1"], None, 7)
    assert signals.pending(db) == 0
    assert signals.pending(db, "work") == 3  # another profile has its own digest
    signals.mark_digested(db, ["c1:0"], [], None, 8)  # again: ignored, first update keeps it
    assert [r["update_id"] for r in db["digested"].rows_where("message_id = 'c1:0'")] == [7]


def test_labels_are_sequential():
    es = [signals.Evidence("explicit", t, (t,)) for t in "abc"]
    labels = signals.label(es)
    assert list(labels) == ["E1", "E2", "E3"]
    assert labels["E2"].text == "b" and es[2].label == "E3"


def test_comparison_pairs_without_stored_messages_use_their_own_texts(tmp_path):
    db = _db(tmp_path)
    _pair(
        db,
        "p9",
        None,
        None,
        None,
        origin="comparison",
        prompt_text="Explain DNS",
        chosen_text="DNS maps names to addresses.",
        rejected_text="DNS is a vast topic...",
    )
    [e] = signals.collect(db).evidence
    assert e.text == (
        "The user asked: Explain DNS\nReply the user picked: «DNS maps names to addresses.»\n"
        "Reply the user rejected: «DNS is a vast topic...»"
    )
    assert e.message_ids == () and e.signal_ids == ("pair:p9",)
