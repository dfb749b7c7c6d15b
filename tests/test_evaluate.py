"""pxprofile.evaluate: choices from a real SQLite store (real ingest of a ChatGPT export), scored
by a judge engine written here (orchestration, leakage, position bias, per-line) and by the real
test models through llama.cpp (mechanics: counts, both orders, determinism, leakage)."""

from __future__ import annotations

import math
import re

import pytest
from chat_samples import gpt_conversation, gpt_node, write_json
from fake_engine import add_conversation

from pxprofile import evaluate as ev
from pxprofile.engine import Engine, Segment
from pxprofile.errors import InferenceError, InputError, ProfileError
from pxprofile.ingest import ingest_path
from pxprofile.profile import Change, apply_changes
from pxprofile.store import open_db

QUERIES = [
    "How do I reverse a list in Python?",
    "What is a good name for a grey cat?",
    "How do I undo the last git commit?",
    "Which is faster to learn, Go or Rust?",
    "How many minutes should I boil an egg?",
]
SHORT = [
    "Use reversed(xs) or xs[::-1].",
    "Ash.",
    "git reset --soft HEAD~1",
    "Go.",
    "About 7 minutes.",
]
LONG = [
    "Great question! There are several ways to reverse a list in Python, each with trade-offs. "
    "You can call the list's reverse() method, which works in place, or use slicing with a "
    "negative step, which returns a new list, or the built-in reversed() iterator.",
    "Naming a cat is a wonderful adventure! For a grey cat you might consider Ash, Smokey, "
    "Pebble, Storm or Misty, depending on its personality and your favourite things.",
    "Undoing a commit depends on whether you pushed it. If not, git reset --soft HEAD~1 keeps "
    "your changes staged; --hard discards them. If you pushed, prefer git revert.",
    "Both are excellent languages with vibrant communities. Go is designed for simplicity, so "
    "most people find it faster to learn, while Rust's ownership model takes longer.",
    "Boiling times vary with egg size, altitude and how you like the yolk. As a rule of thumb, "
    "6 minutes gives a jammy yolk, 7 a soft set and 9 to 10 a firm hard-boiled egg.",
]


def regen_export(n: int = 4) -> list[dict]:
    """N conversations, each one user turn regenerated once: the kept reply is the short one."""
    convs = []
    for i in range(n):
        t = 1714585000.0 + 1000 * i
        nodes = [
            gpt_node(f"u{i}", "root", "user", QUERIES[i], t=t),
            gpt_node(f"k{i}", f"u{i}", "assistant", SHORT[i], t=t + 1),
            gpt_node(f"r{i}", f"u{i}", "assistant", LONG[i], t=t + 2),
        ]
        convs.append(gpt_conversation(f"conv-{i}", nodes, f"k{i}", title=f"Q{i}"))
    return convs


def make_history(path, n: int = 4):
    """A real database holding N regeneration pairs, ingested from a ChatGPT export."""
    db = open_db(path)
    ingest_path(db, write_json(path.parent / "conversations.json", regen_export(n)))
    assert db["pairs"].count == n
    return db


def prompt_id(db, i: int) -> str:
    (row,) = db.query("select prompt_id from pairs where conversation_id like ?", [f"%conv-{i}"])
    return row["prompt_id"]


def seed_profile(db, *, cite: int | None = 0, extra: bool = True):
    """A profile of model-written lines; the first cites conversation CITE's user message."""
    evidence = (prompt_id(db, cite),) if cite is not None else ("nowhere:1",)
    changes = [Change("add", "Prefers concise answers", "Communication style", evidence=evidence)]
    if extra:
        changes.append(Change("add", "Has a cat", "Interests", evidence=("nowhere:2",)))
    result = apply_changes(db, changes)
    assert result.version is not None and len(result.applied) == len(changes)


def _between(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1) if m else ""


class JudgeEngine(Engine):
    """A deterministic judge for one preference. With "concise" in the profile it prefers the
    shorter reply; without a profile it has a pure position bias (always "A", at 70%)."""

    name = "judge"
    n_ctx = 4096
    has_chat_template = True
    backend = "fake"

    def __init__(self):
        self.calls: list[tuple[str, str, list[Segment], object]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def option_logprobs(self, system, user, options):
        self.calls.append(("options", system, list(user), list(options)))
        text = "".join(s.text for s in user)
        if "concise" not in _between(text, "Preference"):
            return [math.log(0.7), math.log(0.3)]
        a, b = _between(text, "Item A"), _between(text, "Item B")
        return [math.log(0.9), math.log(0.1)] if len(a) < len(b) else [math.log(0.1), math.log(0.9)]

    def reply_logprob(self, system, user, reply):
        self.calls.append(("reply", system, list(user), reply))
        per_word = 0.5 if "concise" in "".join(s.text for s in user) else 0.1
        return -per_word * len(reply.split())


def test_choices_come_from_pairs_newest_first(tmp_path):
    db = make_history(tmp_path / "px.db")
    choices = ev.load_choices(db)
    assert [c.query for c in choices] == QUERIES[:4][::-1]
    assert [c.kept for c in choices] == SHORT[:4][::-1]
    assert [c.abandoned for c in choices] == LONG[:4][::-1]
    assert {c.origin for c in choices} == {"branch"}
    assert all(len(c.message_ids) == 3 for c in choices)


def test_profile_helps_and_position_bias_cancels(tmp_path):
    db = make_history(tmp_path / "px.db")
    seed_profile(db, cite=0)
    judge = JudgeEngine()
    ticks = []
    result = ev.evaluate(db, engine=judge, progress=lambda d, t: ticks.append((d, t)))
    d = result.to_dict()
    assert (d["pairs"], d["available"], d["left_out"], d["left_out_evidence"]) == (3, 4, 1, 1)
    assert d["accuracy_with_profile"] == 1.0
    # always "A": right in one order, wrong in the other -> a tie, counted as half
    assert d["accuracy_without_profile"] == 0.5
    assert d["confidence_with_profile"] == pytest.approx(0.9)
    assert d["confidence_without_profile"] == pytest.approx(0.5)
    assert d["margin_gain"] > 0
    assert d["margin_with_profile"] > d["margin_without_profile"] > 0
    # the single (seeded) order is the AlignXplore+ number: position bias does not cancel there
    single = [c["kept_first"] for c in d["choices"]]
    assert d["single_order_accuracy_without_profile"] == sum(single) / 3
    assert ticks[-1] == (6, 6) and len(ticks) == 6
    assert result.calls == len(judge.calls) == 3 * 8
    assert d["per_line"] is None


def test_each_choice_is_scored_in_both_orders(tmp_path):
    db = make_history(tmp_path / "px.db", n=2)
    seed_profile(db, cite=None, extra=False)
    judge = JudgeEngine()
    ev.evaluate(db, engine=judge)
    shown = [
        (_between("".join(s.text for s in segs), "Item A"), profile_given)
        for kind, _sys, segs, _o in judge.calls
        if kind == "options"
        for profile_given in ["<Preference>" in "".join(s.text for s in segs)]
    ]
    for i in range(2):
        for with_profile in (True, False):
            assert (SHORT[i], with_profile) in shown and (LONG[i], with_profile) in shown
    assert len(shown) == 2 * 2 * 2


def test_chat_text_and_profile_are_untrusted_segments(tmp_path):
    db = make_history(tmp_path / "px.db", n=2)
    seed_profile(db, cite=None)
    judge = JudgeEngine()
    ev.evaluate(db, engine=judge)
    secret = QUERIES[:2] + SHORT[:2] + LONG[:2] + ["Prefers concise answers"]
    for _kind, system, segs, _extra in judge.calls:
        trusted = system + "".join(s.text for s in segs if s.trusted)
        assert not any(x in trusted for x in secret)
        untrusted = "".join(s.text for s in segs if not s.trusted)
        assert any(x in untrusted for x in QUERIES[:2])


def test_leakage_rule_and_per_line(tmp_path):
    db = make_history(tmp_path / "px.db")
    seed_profile(db, cite=3)
    judge = JudgeEngine()
    result = ev.evaluate(db, engine=judge, per_line=True)
    assert result.pairs == 3 and result.left_out == 1
    assert "pair:" in result.results[0].choice.id
    scored = {r.choice.query for r in result.results}
    assert QUERIES[3] not in scored  # its question is evidence for a line
    helps, idle = result.per_line
    assert helps.text == "Prefers concise answers" and helps.margin_drop > 0
    assert helps.accuracy_drop == 0.5
    assert idle.text == "Has a cat" and idle.margin_drop == 0 and idle.accuracy_drop == 0
    assert result.calls == 3 * 8 + 2 * 3 * 4
    text = "\n".join(result.summary())
    assert "most helpful first" in text and "Prefers concise answers" in text


def test_limit_takes_the_newest(tmp_path):
    db = make_history(tmp_path / "px.db", n=5)
    seed_profile(db, cite=None)
    result = ev.evaluate(db, engine=JudgeEngine(), limit=2)
    assert [r.choice.query for r in result.results] == [QUERIES[4], QUERIES[3]]
    assert result.available == 5 and result.left_out == 0


def test_positions_are_seeded_per_choice(tmp_path):
    db = make_history(tmp_path / "px.db", n=5)
    choices = ev.load_choices(db)
    first = [ev.kept_first(c) for c in choices]
    assert first == [ev.kept_first(c) for c in ev.load_choices(db)]
    assert first[1:] == [ev.kept_first(c) for c in choices[1:]]  # independent of the others
    assert len(set(first)) == 2  # both positions occur among five choices


def test_feedback_pairs_and_untraceable_comparisons(tmp_path):
    db = open_db(tmp_path / "px.db")
    add_conversation(db, "c1", [("user", "Explain DNS"), ("assistant", "A phone book.")])
    db["messages"].insert(
        {"id": "c1:1b", "conversation_id": "c1", "parent_id": "c1:0", "role": "assistant",
         "text": "DNS, the Domain Name System, maps names to addresses through resolvers.",
         "hidden": 0, "on_active_path": 0},
    )  # fmt: skip
    db["feedback"].insert_all(
        [{"id": "f1", "message_id": "c1:1", "rating": 1, "created_at": "2025-02-01"},
         {"id": "f2", "message_id": "c1:1b", "rating": -1, "created_at": "2025-02-01"},
         {"id": "f3", "message_id": "c1:1b", "rating": -1, "created_at": "2025-02-02"}],
        pk="id",
    )  # fmt: skip
    db["pairs"].insert(
        {"id": "cmp1", "origin": "comparison", "prompt_text": "Say hi", "chosen_text": "Hi.",
         "rejected_text": "Hello there, how are you doing today?", "created_at": "2025-01-01"},
        pk="id",
    )  # fmt: skip
    choices = ev.load_choices(db)
    assert [(c.id, c.origin) for c in choices] == [
        ("feedback:f1:f2", "feedback"),
        ("pair:cmp1", "comparison"),
    ]
    assert choices[0].kept == "A phone book." and choices[0].query == "Explain DNS"
    # a branch pair for the same two replies wins over the ratings (no double count)
    db["pairs"].insert({"id": "b1", "origin": "branch", "prompt_id": "c1:0",
                        "chosen_id": "c1:1", "rejected_id": "c1:1b"}, pk="id")  # fmt: skip
    assert sorted(c.id for c in ev.load_choices(db)) == ["pair:b1", "pair:cmp1"]

    seed_profile_lines = [Change("add", "Prefers concise answers", "Communication style",
                                 evidence=("elsewhere",))]  # fmt: skip
    apply_changes(db, seed_profile_lines)
    assert ev.evaluate(db, engine=JudgeEngine()).left_out == 0
    # once an update of this profile has read the comparison, it may be behind a line unseen
    db["digested_signals"].insert({"signal_id": "pair:cmp1", "profile": "default"})
    result = ev.evaluate(db, engine=JudgeEngine())
    assert (result.pairs, result.left_out_untraceable) == (1, 1)


def test_errors_say_what_to_do(tmp_path):
    db = make_history(tmp_path / "px.db", n=1)
    with pytest.raises(ProfileError, match="no lines yet.*pxprofile update"):
        ev.evaluate(db, engine=JudgeEngine())
    seed_profile(db, cite=0, extra=False)
    with pytest.raises(InputError, match="All 1 recorded choices are evidence"):
        ev.evaluate(db, engine=JudgeEngine())
    empty = open_db(tmp_path / "empty.db")
    apply_changes(empty, [Change("add", "Likes tea", "Interests", evidence=("x",))])
    with pytest.raises(InputError, match="No recorded choices.*pxprofile ingest"):
        ev.evaluate(empty, engine=JudgeEngine())


def test_backend_without_logprobs_is_a_clear_error(tmp_path):
    class NoLogprobs(JudgeEngine):
        def option_logprobs(self, system, user, options):
            raise InferenceError("The server at http://x does not return logprobs.")

    db = make_history(tmp_path / "px.db", n=2)
    seed_profile(db, cite=None)
    with pytest.raises(InferenceError, match="does not return logprobs"):
        ev.evaluate(db, engine=NoLogprobs())


def test_a_backend_that_cannot_score_replies_gives_selection_only(tmp_path):
    class SelectionOnly(JudgeEngine):
        def reply_logprob(self, system, user, reply):
            self.calls.append(("reply", system, list(user), reply))
            raise InferenceError("The openai backend cannot score a given reply.")

    db = make_history(tmp_path / "px.db", n=3)
    seed_profile(db, cite=None)
    judge = SelectionOnly()
    result = ev.evaluate(db, engine=judge, per_line=True)
    d = result.to_dict()
    assert d["accuracy_with_profile"] == 1.0 and d["margin_gain"] is None
    assert d["margin_note"] == "The openai backend cannot score a given reply."
    assert sum(1 for c in judge.calls if c[0] == "reply") == 1  # asked once, then not again
    helps, idle = result.per_line
    assert helps.text == "Prefers concise answers" and helps.margin_drop is None
    assert helps.confidence_drop == pytest.approx(0.4) and idle.confidence_drop == 0
    text = result.summary()
    assert "Mean margin gain: n/a (The openai backend cannot score a given reply.)" in text
    assert "(the confidence lost when the line is left out)" in text[5]


def test_choices_too_long_for_the_context_are_counted(tmp_path):
    db = make_history(tmp_path / "px.db", n=3)
    seed_profile(db, cite=None)
    text = ev.profile_text(ev.current_lines(db))
    sizes = sorted(
        len(
            "".join(
                [
                    ev.SELECT_SYSTEM,
                    *(s.text for s in ev.selection_prompt(text, c.query, c.kept, c.abandoned)),
                ]
            ).split()
        )
        for c in ev.load_choices(db)
    )
    judge = JudgeEngine()
    judge.n_ctx = ev.CONTEXT_SLACK + sizes[0]  # only the smallest choice fits
    result = ev.evaluate(db, engine=judge)
    assert (result.pairs, result.too_long) == (1, 2)
    assert "too long for the context: 2" in result.summary()[1]
    judge.n_ctx = 10
    with pytest.raises(InferenceError, match="fits judge's context of 10 tokens"):
        ev.evaluate(db, engine=judge)


# -- the real test models (llama.cpp) ---------------------------------------------------------


def _stable(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("seconds", "seconds_per_choice")}


@pytest.mark.model
@pytest.mark.parametrize("fixture", ["gemma_engine", "smollm2_engine"])
def test_real_model_mechanics(tmp_path, request, fixture):
    engine = request.getfixturevalue(fixture)  # base model, no template / chat template
    db = make_history(tmp_path / "px.db", n=2)
    seed_profile(db, cite=1)
    first = ev.evaluate(db, engine=engine)
    d = first.to_dict()
    assert (d["pairs"], d["available"], d["left_out"]) == (1, 2, 1)
    assert first.results[0].choice.query == QUERIES[0]  # the cited one is not scored
    assert first.calls == 8
    for key in ("accuracy_with_profile", "accuracy_without_profile"):
        assert d[key] in (0.0, 0.5, 1.0)
    assert 0 < d["confidence_with_profile"] < 1 and math.isfinite(d["margin_gain"])
    # both orders were really scored: recomputing each from the engine gives the same numbers
    r = first.results[0]
    text = ev.profile_text(ev.current_lines(db))
    for kept_as_a, expected in (
        (True, r.with_profile.letter[0]),
        (False, r.with_profile.letter[1]),
    ):
        c = r.choice
        a, b = (c.kept, c.abandoned) if kept_as_a else (c.abandoned, c.kept)
        lp = engine.option_logprobs(
            ev.SELECT_SYSTEM, ev.selection_prompt(text, c.query, a, b), ev.LETTERS
        )
        assert (lp[0] - lp[1] if kept_as_a else lp[1] - lp[0]) == pytest.approx(expected, abs=1e-4)
    assert r.with_profile.letter[0] != r.with_profile.letter[1]
    # deterministic: the same numbers on a re-run
    assert _stable(ev.evaluate(db, engine=engine).to_dict()) == _stable(d)


@pytest.mark.model
def test_real_model_per_line(tmp_path, gemma_engine):
    db = make_history(tmp_path / "px.db", n=2)
    seed_profile(db, cite=None)
    result = ev.evaluate(db, engine=gemma_engine, per_line=True, limit=1)
    assert result.pairs == 1 and result.calls == 8 + 2 * 4
    assert sorted(e.text for e in result.per_line) == ["Has a cat", "Prefers concise answers"]
    assert all(math.isfinite(e.margin_drop) for e in result.per_line)
