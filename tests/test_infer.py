"""Inference orchestration with a deterministic engine: what is read, what counts as read, the
evidence rules, interrupts, the AlignXplore+ template. Real models: test_infer_models.py."""

import json

import pytest
from fake_engine import FakeEngine, add_conversation
from standin import Perfect, Planted

from pxprofile import infer, profile, prompts, proposals, reading, signals
from pxprofile.errors import InferenceError, ModelError
from pxprofile.profile import Change
from pxprofile.store import open_db

SALAD = Planted("salad sounds perfect", "Prefers salads for dinner", "Interests")
METRIC = Planted("Celsius und Kilometern", "Uses metric units")


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "px.db")


def pending_user(db):
    return signals.units(db).user_messages


def seed(db, *, user=(), model=()):
    """A profile with user-owned lines (in the file) and model lines (applied, with evidence)."""
    body = "".join(f"- {t}\n" for t in user)
    profile.profile_file().write_text(f"# Preference profile\n\n## Communication style\n\n{body}")
    if model:
        add_conversation(db, "seed", [("user", "seed evidence about me")])
        res = profile.apply_changes(
            db, [Change("add", t, "Communication style", evidence=("seed:0",)) for t in model]
        )
        assert len(res.applied) == len(model)
        signals.mark_digested(db, ["seed:0"], [], None, None)
    return profile.current_lines(db)


def dinner(db, cid="c1", start="2025-01-01T00:00:00Z"):
    return add_conversation(
        db,
        cid,
        [
            ("user", "What should I eat tonight?"),
            ("assistant", "Three ideas: 1. a salad 2. a burger 3. ramen"),
            ("user", "The salad sounds perfect. The others don't quite work for me."),
        ],
        start=start,
    )


def test_every_message_reaches_the_model_in_any_language_without_keywords(db):
    dinner(db)
    add_conversation(
        db,
        "de",
        [("user", "Wie spät ist es in Tokio? Ich rechne immer in Celsius und Kilometern."),
         ("assistant", "Es ist 15 Uhr.")],
        start="2025-02-01T00:00:00Z",
    )  # fmt: skip
    engine = FakeEngine(default=Perfect([SALAD, METRIC]))
    result = infer.update(db, engine=engine)
    shown = engine.calls[0].untrusted
    for text in (
        "What should I eat tonight?",
        "The salad sounds perfect",
        "Celsius und Kilometern",
    ):
        assert text in shown
    assert "1. a salad 2. a burger" in shown  # what the assistant offered is the context
    texts = {ln.text: ln for ln in profile.current_lines(db)}
    assert set(texts) == {"Prefers salads for dinner", "Uses metric units"}
    assert texts["Uses metric units"].evidence == ["de:0"]  # provenance: the user's own message
    assert result.user_messages_read == result.user_messages_available == 3
    assert signals.pending(db) == 0
    row = db["updates"].get(result.update_id)
    assert (row["readings"], row["observations"], row["user_messages_read"]) == (1, 2, 3)


def test_nothing_is_read_without_a_model_and_the_error_changes_nothing(db, monkeypatch):
    dinner(db)

    def no_model(*a, **k):
        raise ModelError("No model here. Run `pxprofile model pull NAME`.")

    monkeypatch.setattr("pxprofile.engine.load_engine", no_model)
    before = signals.pending(db)
    with pytest.raises(ModelError):
        infer.update(db)
    assert signals.pending(db) == before == 3
    assert db["digested"].count == 0


def test_voiceless_conversations_are_read_without_a_model_and_say_why(db):
    add_conversation(db, "t", [("system", "You are helpful."), ("tool", "ls output")])
    add_conversation(
        db, "p", [("user", "```\n" + "x = 1\n" * 20 + "```")], start="2025-01-02T00:00:00Z"
    )
    result = infer.update(db, engine=None)  # no model needed: none would be loaded
    assert result.status == "noop" and result.messages_read == 3
    assert signals.pending(db) == 0
    why = " ".join(result.explain())
    assert "system text: 1" in why and "tool output: 1" in why
    assert "user messages holding only pasted or quoted text: 1" in why


def many(db, n=12):
    for i in range(n):
        add_conversation(
            db,
            f"c{i:02d}",
            [("user", f"Question {i} about topic {i} " + "filler words " * 30),
             ("assistant", "An answer " * 10)],
            start=f"2025-01-{i + 1:02d}T00:00:00Z",
        )  # fmt: skip


def test_a_budgeted_update_reads_part_and_the_next_continues(db):
    many(db)
    engine = FakeEngine()
    first = infer.update(db, engine=engine, budget=400)
    assert 0 < first.user_messages_read < 12 and first.user_messages_left
    assert "`pxprofile update` continues; `--all` reads the rest" in first.summary()
    read1 = {r["message_id"] for r in db["digested"].rows}
    second = infer.update(db, engine=FakeEngine(), budget=400)
    read2 = {r["message_id"] for r in db["digested"].rows} - read1
    assert second.user_messages_read > 0 and read2 and not read1 & read2
    rest = infer.update(db, engine=FakeEngine(), read_all=True)
    assert rest.user_messages_left == 0 and signals.pending(db) == 0


def test_informative_conversations_are_read_first(db):
    many(db)
    dinner(db, "choice", start="2024-01-01T00:00:00Z")  # oldest, but a choice after an offer
    engine = FakeEngine()
    infer.update(db, engine=engine, budget=150)
    assert "The salad sounds perfect" in engine.calls[0].untrusted


def test_interrupt_keeps_what_was_read_and_writes_nothing_half_done(db):
    many(db, 30)
    seen = []

    def answer(system, segments, schema):
        if "observations" in schema["properties"]:
            seen.append(1)
            if len(seen) == 2:
                raise KeyboardInterrupt
        return {next(iter(schema["properties"])): []}

    before = profile.profile_file().read_text() if profile.profile_file().exists() else None
    with pytest.raises(KeyboardInterrupt):
        infer.update(db, engine=FakeEngine(name="m", default=answer), read_all=True)
    stored = db["readings"].count
    assert stored > 0  # the first call's readings are kept
    assert db["updates"].get(1)["status"] == "interrupted"
    after = profile.profile_file().read_text() if profile.profile_file().exists() else None
    assert after == before
    engine = FakeEngine(name="m")
    result = infer.update(db, engine=engine, read_all=True)
    assert result.user_messages_read == 30  # the waiting readings are merged, the rest read
    reads = [c for c in engine.calls if "observations" in c.schema["properties"]]
    shown = "".join(c.untrusted for c in reads)
    first = db["readings"].rows_where("update_id = 1")
    for r in first:  # never read twice
        for mid in json.loads(r["voice_ids"]):
            text = db["messages"].get(mid)["text"].split(" filler")[0]
            assert text not in shown
    assert signals.pending(db) == 0


def test_a_model_crash_stops_the_update_and_nothing_is_read(db):
    dinner(db)

    class Crashed(ModelError):
        pass

    engine = FakeEngine().enqueue(Crashed("the model process died"))
    with pytest.raises(Crashed):
        infer.update(db, engine=engine)
    assert signals.pending(db) == 3 and db["readings"].count == 0
    assert db["updates"].get(1)["status"] == "failed"


def test_output_entirely_rejected_is_said_and_what_it_read_stays_unread(db):
    dinner(db)
    engine = FakeEngine().enqueue(
        {"observations": [{"kind": "preference", "text": "x", "messages": ["M9"]}]}
    )
    result = infer.update(db, engine=engine)
    assert result.status == "rejected"  # said plainly; usable output, so not a failure
    assert "were all rejected" in result.summary() and "stays unread" in result.summary()
    assert signals.pending(db) == 3 and db["readings"].count == 0


def test_merge_output_entirely_rejected_leaves_the_reading_unmerged(db):
    dinner(db)
    engine = FakeEngine(default=Perfect([SALAD]))
    engine.enqueue(
        {"observations": [{"kind": "preference", "text": "Prefers salads", "messages": ["M2"]}]},
        {"operations": [{"op": "add", "section": "Interests", "line": 0, "text": "",
                         "evidence": ["O1"]}]},
    )  # fmt: skip
    result = infer.update(db, engine=engine)
    assert "every one was rejected" in result.summary()
    assert signals.pending(db) == 3 and db["readings"].count == 1
    again = infer.update(db, engine=FakeEngine(default=Perfect([]), name="fake"))
    assert again.readings == 0  # the stored reading is merged, not read again
    assert db["merged_readings"].count == 1


def test_the_reading_is_stored_and_reused_for_the_same_model(db):
    dinner(db)
    infer.update(db, engine=FakeEngine(name="m"), profile="a")
    engine = FakeEngine(name="m")
    result = infer.update(db, engine=engine, profile="b")
    assert result.cached == 1 and result.readings == 0
    assert not [c for c in engine.calls if "observations" in c.schema["properties"]]
    other = FakeEngine(name="other")
    infer.update(db, engine=other, profile="c")
    assert [c for c in other.calls if "observations" in c.schema["properties"]]


def test_regenerations_and_agent_feedback_of_any_origin_are_choices(db):
    ids = add_conversation(
        db,
        "r",
        [("user", "Explain DNS"), ("assistant", "• names to addresses\n• cached by resolvers"),
         ("user", "ok"), ("assistant", "I ran rm -rf build")],
    )  # fmt: skip
    db["messages"].insert(
        {"id": "r:alt", "conversation_id": "r", "parent_id": ids[0], "role": "assistant",
         "text": "DNS, the Domain Name System, is a long story that starts in 1983...",
         "hidden": 0, "on_active_path": 0, "content_type": "text", "seq": 1},
        pk="id",
    )  # fmt: skip
    db["pairs"].insert(
        {"id": "p1", "conversation_id": "r", "prompt_id": ids[0], "chosen_id": ids[1],
         "rejected_id": "r:alt", "origin": "regeneration"},
        pk="id",
    )  # fmt: skip
    db["feedback"].insert(
        {"id": "f1", "message_id": ids[3], "conversation_id": "r", "rating": -1,
         "origin": "agent-rejected", "text": "never delete build dirs"},
        pk="id",
    )  # fmt: skip
    engine = FakeEngine()
    infer.update(db, engine=engine)
    shown = engine.calls[0].prompt
    assert "Reply the user kept: «• names to addresses" in shown
    assert "Reply the user rejected: «DNS, the Domain Name System" in shown
    assert "The user rated it thumbs down (agent-rejected): «I ran rm -rf build»" in shown
    assert "never delete build dirs" in shown
    assert signals.pending(db) == 0  # pairs and feedback are read with their conversation


def test_a_project_is_context_not_a_preference(db):
    add_conversation(db, "a", [("user", "fix the failing test")])
    db["conversations"].update("a", {"meta": json.dumps({"cwd": "/home/u/acme-billing"})})
    engine = FakeEngine()
    infer.update(db, engine=engine)
    assert "in project /home/u/acme-billing: context, not a preference" in engine.calls[0].prompt


def test_the_profiles_own_text_pasted_back_is_left_out(db):
    seed(db, model=["Prefers answers in metric units"])
    add_conversation(
        db, "ci", [("user", "Prefers answers in metric units. Also, what is 2+2?")],
        start="2025-03-01T00:00:00Z",
    )  # fmt: skip
    engine = FakeEngine()
    infer.update(db, engine=engine)
    shown = engine.calls[0].untrusted
    assert "Prefers answers in metric units" not in shown and "what is 2+2?" in shown
    assert "the user's own profile text, pasted back: left out" in shown


def test_sentences_do_not_split_inside_tokens():
    assert signals.sentences("I use ASP.NET daily. It works.") == [
        "I use ASP.NET daily.",
        "It works.",
    ]


# --- the evidence rules (proposals.validate) ---------------------------------------------


def clusters_for(db, *specs):
    """Clusters citing new user messages: (kind, text, user text)."""
    out = []
    for n, (kind, text, said) in enumerate(specs):
        add_conversation(db, f"e{n}", [("user", said)], start=f"2025-05-0{n + 1}T00:00:00Z")
        obs = reading.Observation(kind, text, (f"e{n}:0",), f"e{n}", (f"e{n}:0",))
        out.append(proposals.cluster([obs])[0])
    return proposals.label(out)


def test_hypotheticals_and_corrections_are_not_support(db):
    lines = seed(db, model=["Is vegetarian"])
    labels = clusters_for(
        db,
        ("hypothetical", "Lives in Berlin", "what if I moved to Berlin?"),
        ("correction", "Is vegetarian", "no, I'm not vegetarian any more"),
    )
    ops = [
        {"op": "add", "section": "Interests", "line": 0, "text": "Lives in Berlin", "evidence": ["O1"]},
        {"op": "add", "section": "Communication style", "line": 0, "text": "Is vegetarian",
         "evidence": ["O2"]},
        {"op": "retire", "section": "Communication style", "line": 1, "text": "", "evidence": ["O2"]},
    ]  # fmt: skip
    changes, rejected = proposals.validate(db, ops, lines, labels, proposals.State.for_lines(lines))
    reasons = [why for _op, why in rejected]
    assert reasons == [
        "a hypothetical is not a fact about the user",
        "a correction never supports the line it corrects",
    ]
    assert [c.action for c in changes] == ["retire"] and changes[0].evidence == ("e1:0",)


def test_retire_and_revise_need_evidence_and_retires_are_bounded(db):
    topics = ["chess", "sourdough baking", "jazz records", "rock climbing", "tea", "Go code",
              "old maps", "birds"]  # fmt: skip
    lines = seed(db, model=[f"Enjoys {t}" for t in topics])
    assert len(lines) == 8
    labels = clusters_for(db, ("correction", "No longer likes these topics", "I stopped caring"))
    ops = [
        {"op": "retire", "section": "x", "line": i, "text": "", "evidence": ["O1"]}
        for i in (1, 2, 3)
    ]
    ops.append(
        {"op": "revise", "section": "x", "line": 5, "text": "Enjoys tea a lot", "evidence": []}
    )
    changes, rejected = proposals.validate(db, ops, lines, labels, proposals.State.for_lines(lines))
    assert len(changes) == 2  # a quarter of 8 model lines
    assert "retires at most 2 lines" in rejected[0][1]
    assert rejected[1][1] == "cites no evidence"


def test_the_profiles_own_text_coming_back_is_not_new_support(db):
    lines = seed(db, model=["Prefers short answers"])
    labels = clusters_for(db, ("preference", "Prefers short answers", "Prefers short answers"))
    ops = [{"op": "add", "section": "Communication style", "line": 0,
            "text": "Prefers short answers", "evidence": ["O1"]}]  # fmt: skip
    changes, rejected = proposals.validate(db, ops, lines, labels, proposals.State.for_lines(lines))
    assert not changes
    assert rejected[0][1] == "the profile's own text coming back is not new support"


def test_a_restated_preference_is_left_to_profile_as_support(db):
    lines = seed(db, model=["Prefers short answers"])
    labels = clusters_for(
        db, ("preference", "Prefers short answers", "keep it short please, as always")
    )
    ops = [{"op": "add", "section": "Communication style", "line": 0,
            "text": "Prefers short answers", "evidence": ["O1"]}]  # fmt: skip
    changes, rejected = proposals.validate(db, ops, lines, labels, proposals.State.for_lines(lines))
    assert not rejected and len(changes) == 1  # not rejected as a duplicate here


def test_recurring_observations_are_counted_and_come_first():
    obs = [
        reading.Observation("preference", "Likes tea", ("a:0",), "a", ("a:0",)),
        reading.Observation("preference", "Prefers metric units", ("b:0",), "b", ("b:0",)),
        reading.Observation("preference", "Prefers metric units", ("c:0",), "c", ("c:0",)),
    ]
    first, second = proposals.cluster(obs)
    assert first.text == "Prefers metric units" and first.conversations == {"b", "c"}
    assert first.voice_ids == ["b:0", "c:0"] and second.conversations == {"a"}
    system, segs = prompts.merge_prompt([], list(proposals.label([first, second]).values()))
    assert "(preference, seen in 2 conversations) " in "".join(s.text for s in segs)


# --- AlignXplore+ ------------------------------------------------------------------------------

RELEASED_SYSTEM = (
    "You are an expert User Preference Analyst. Your sole task is to analyze a user's past "
    "preference summary (possibly not provided) and new interaction history and summarize the "
    "user preferences.\n\nThe user's history will be provided as a sequence of triples, where "
    "each triple is `(QUERY, CHOSEN ITEM BY THE USER, REJECTED ITEM BY THE USER)`.\n\nDo not "
    "include any introductory phrases, greetings, or any other text outside of this specified "
    "structure."
)
RELEASED_USER = """Analyze the past preference summary and the following user interaction history \
to summarize the comprehensive user preferences in concise language. If past preferences are \
provided, adjust the preferences by combining past preferences with those reflected in current \
behavior, removing conflicting parts, and integrating new insights. If no past preferences are \
provided, derive the final preferences solely from user behavior. The user's history will be \
provided as a sequence of triples, where each triple is `(QUERY, CHOSEN ITEM BY THE USER, REJECTED \
ITEM BY THE USER)`.
=====Past Preference Summary=====

Not Provided.

=====Interaction History=====
=====Triple 1=====

*QUERY:*
 Explain DNS
*****
*CHOSEN ITEM BY THE USER:*
short
*****
*REJECTED ITEM BY THE USER:*
long

=====Triple 2=====

*QUERY:*
 Three ideas: 1. a salad 2. a burger
*****
*CHOSEN ITEM BY THE USER:*
The salad sounds perfect.
*****
*REJECTED ITEM BY THE USER:*
None

=====END=====

Now, given the above user's past prefernce summary and the interaction history, summarize the \
user preferences."""


def test_alignxplore_template_is_the_released_one_byte_for_byte():
    t1 = signals.Turn(
        "regeneration", ("a",), ("a",), text="Explain DNS", chosen="short", rejected="long"
    )
    t2 = signals.Turn("message", ("b",), ("b",), text="The salad sounds perfect.",
                      context="Three ideas: 1. a salad 2. a burger")  # fmt: skip
    unit = signals.Unit("c", "t", [t1, t2], set(), set(), set())
    system, segs = prompts.alignxplore_prompt([], [unit])
    assert system == RELEASED_SYSTEM
    assert "".join(s.text for s in segs) == RELEASED_USER
    assert "".join(s.text for s in segs if not s.trusted) == (
        "Explain DNSshortlongThree ideas: 1. a salad 2. a burgerThe salad sounds perfect.None"
    )
    lines = [profile.Line(1, "Communication style", "Prefers short answers", "model", True)]
    _system, segs = prompts.alignxplore_prompt(lines, [unit])
    assert "=====Past Preference Summary=====\n\n- Prefers short answers\n\n=====Interaction" in (
        "".join(s.text for s in segs)
    )


def test_alignxplore_style_updates_through_the_summary(db):
    dinner(db)
    engine = FakeEngine(prompt_style="alignxplore", default=Perfect([SALAD]))
    result = infer.update(db, engine=engine)
    assert engine.calls[0].system == RELEASED_SYSTEM and engine.calls[0].schema is None
    assert [c.text for c in result.applied] == ["Prefers salads for dinner"]
    assert db["updates"].get(result.update_id)["mode"] == "alignxplore"
    assert signals.pending(db) == 0


def test_summary_parsing_refuses_an_empty_summary():
    with pytest.raises(InferenceError):
        proposals.summary_to_operations("<think>hmm</think>", [], ["U1"])


def test_copies_of_the_answer_format_are_not_observations_or_lines(db):
    dinner(db)
    engine = FakeEngine().enqueue(
        {"observations": [{"kind": "fact", "text": "What this shows about the user",
                           "messages": ["M2"]}]}
    )  # fmt: skip
    result = infer.update(db, engine=engine)
    assert result.status == "rejected" and "repeats the answer format" in result.rejected[0][1]
    assert prompts.is_placeholder("<the line>") and not prompts.is_placeholder("Likes lines")


def test_forgetting_a_conversation_deletes_the_observations_read_from_it(db):
    from pxprofile import forget

    dinner(db)
    add_conversation(db, "other", [("user", "hello there")], start="2025-03-01T00:00:00Z")
    infer.update(db, engine=FakeEngine(default=Perfect([SALAD])))
    assert db["readings"].count == 2
    forget.forget(db, forget.plan_forget(db, conversation="c1"))
    [left] = db["readings"].rows
    assert left["conversation_id"] == "other"
    assert "salad" not in json.dumps(list(db["readings"].rows)).lower()
