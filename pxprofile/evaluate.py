"""`pxprofile eval`: how well the profile predicts the user's own choices.

    evaluate(db, *, model=None, engine=None, engine_options=None, profile=None, limit=None,
             per_line=False, progress=None) -> EvalResult
    load_choices(db) -> list[Choice]

A *choice* is (query, kept reply, abandoned reply) from the user's own history: a regenerated
reply the user kept over a sibling (pairs, origin branch/regeneration), an A/B comparison
(pairs, origin comparison), or two replies to the same message rated thumbs up and thumbs down
(feedback; a single rating with nothing to compare against is not a choice and is not used).

Each choice is scored with the profile in the prompt and without it, from the model's
probabilities only (no free text is parsed), by two measures (anchors-2026.md §1.3 and §2):

* Selection, AlignXplore+ style. The model sees the query and the two replies as Item A and
  Item B and we read log P("A") and log P("B") as the first token of its answer. Every choice is
  shown in BOTH orders; d = log P(kept letter) - log P(other letter), averaged over the two
  orders, cancels a constant preference for a position. The choice counts as right when that
  average is above 0, as half when it is exactly 0 (a model that always says "A"), wrong
  otherwise. Confidence is P(kept letter) / (P(A) + P(B)), averaged over both orders. The
  single-order accuracy AlignXplore+ reports uses one order per choice, drawn with a fixed seed.
* Margin, POPI's reward. log P(kept reply) - log P(abandoned reply) as the assistant's answer
  to the query; the margin gain is that margin with the profile minus without it, averaged.

No leakage: a choice whose messages are evidence for a line of the profile is not scored (the
profile was built from it). A choice with no message ids (a ChatGPT comparison) cannot be traced
to lines, so it is left out too once an update of this profile has read it and the profile has
model-written lines. Both counts are reported. With --per-line, each line is left out in turn and
the scored choices are scored again: a line whose removal lowers the margin helps.

Cost per choice: 4 option_logprobs calls (2 orders x with/without) and 4 reply_logprob calls
(2 replies x with/without), plus 4 calls per profile line with per_line.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .engine import Segment
from .errors import InferenceError, InputError, ProfileError
from .profile import DEFAULT_PROFILE, Line, current_lines, normalize

SEED = 42  # AlignXplore+ eval/evaluate_select.py: set_seed(42)
MAX_QUERY_CHARS = 1200
MAX_REPLY_CHARS = 1600
CONTEXT_SLACK = 48  # tokens for the chat template's scaffolding and the answer token
LETTERS = ["A", "B"]
LETTER_CLAMP = 50.0  # nats: a letter missing from a server's top_logprobs counts as this far behind
SELECT_SYSTEM = "Generate a task-specific response."  # AlignXplore+'s system message
MARGIN_SYSTEM = "You are a helpful assistant."
SELECT_INSTRUCTION = "Determine which response the user prefers based on the user's preferences.\n"
SELECT_QUESTION = "Which item does the user prefer? Answer with one letter only: A or B.\n"
MARGIN_INSTRUCTION = (
    "\n\n# Instruction\nGiven the user preference summary above, generate a personalized "
    "response to the following question.\n\n# Question\n"
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Choice:
    id: str  # "pair:<id>" or "feedback:<up id>:<down id>"
    origin: str  # branch | regeneration | comparison | feedback
    query: str
    kept: str
    abandoned: str
    message_ids: tuple[str, ...] = ()
    signal_ids: tuple[str, ...] = ()
    created_at: str | None = None


@dataclass(frozen=True)
class Score:
    """One choice under one profile text (or none)."""

    letter: tuple[float, float]  # log P(kept letter) - log P(other): kept shown as A, as B
    margin: float | None  # log P(kept reply) - log P(abandoned reply); None: backend cannot

    @property
    def position_free(self) -> float:
        return (self.letter[0] + self.letter[1]) / 2

    @property
    def correct(self) -> float:
        d = self.position_free
        return 1.0 if d > 0 else 0.5 if d == 0 else 0.0

    @property
    def confidence(self) -> float:
        return (_sigmoid(self.letter[0]) + _sigmoid(self.letter[1])) / 2

    def single_order(self, kept_first: bool) -> float:
        d = self.letter[0] if kept_first else self.letter[1]
        return 1.0 if d > 0 else 0.0


@dataclass
class ChoiceResult:
    choice: Choice
    kept_first: bool  # the single (AlignXplore+) order: kept reply shown as Item A
    with_profile: Score
    without_profile: Score


@dataclass
class LineEffect:
    line_id: int | None
    section: str
    text: str
    margin_drop: float | None  # mean margin, whole profile minus this line left out (None:
    accuracy_drop: float  # the backend cannot score replies); the same for accuracy and
    confidence_drop: float  # confidence. > 0: the line helps


@dataclass
class EvalResult:
    model: str
    profile: str
    lines: int
    available: int  # choices found in the database
    left_out_evidence: int
    left_out_untraceable: int
    too_long: int
    results: list[ChoiceResult] = field(default_factory=list)
    per_line: list[LineEffect] | None = None
    calls: int = 0
    seconds: float = 0.0
    margin_note: str | None = None  # why there is no margin (the backend cannot score replies)

    @property
    def pairs(self) -> int:
        return len(self.results)

    @property
    def left_out(self) -> int:
        return self.left_out_evidence + self.left_out_untraceable

    def mean(self, value: Callable[[ChoiceResult], float | None]) -> float | None:
        values = [value(r) for r in self.results]
        return _mean(values)

    def to_dict(self) -> dict:
        m = self.mean
        return {
            "model": self.model,
            "profile": self.profile,
            "profile_lines": self.lines,
            "pairs": self.pairs,
            "available": self.available,
            "left_out": self.left_out,
            "left_out_evidence": self.left_out_evidence,
            "left_out_untraceable": self.left_out_untraceable,
            "too_long": self.too_long,
            "accuracy_with_profile": m(lambda r: r.with_profile.correct),
            "accuracy_without_profile": m(lambda r: r.without_profile.correct),
            "single_order_accuracy_with_profile": m(
                lambda r: r.with_profile.single_order(r.kept_first)
            ),
            "single_order_accuracy_without_profile": m(
                lambda r: r.without_profile.single_order(r.kept_first)
            ),
            "confidence_with_profile": m(lambda r: r.with_profile.confidence),
            "confidence_without_profile": m(lambda r: r.without_profile.confidence),
            "margin_with_profile": m(lambda r: r.with_profile.margin),
            "margin_without_profile": m(lambda r: r.without_profile.margin),
            "margin_gain": m(lambda r: _gain(r.with_profile.margin, r.without_profile.margin)),
            "margin_note": self.margin_note,
            "per_line": None if self.per_line is None else [vars(e).copy() for e in self.per_line],
            "choices": [_choice_dict(r) for r in self.results],
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "seconds_per_choice": round(self.seconds / self.pairs, 3) if self.pairs else None,
        }

    def summary(self, top: int = 3) -> list[str]:
        """The human report, as plain lines (the CLI prints them)."""
        d = self.to_dict()
        out = [
            f"Scored {self.pairs} of {self.available} recorded choices with {self.model} "
            f"(profile {self.profile!r}, {self.lines} lines).",
            f"Left out: {self.left_out} (evidence for profile lines: {self.left_out_evidence}; "
            f"untraceable comparisons already read: {self.left_out_untraceable})"
            + (f"; too long for the context: {self.too_long}" if self.too_long else "")
            + ".",
            f"Accuracy with profile:    {_pct(d['accuracy_with_profile'])}"
            f"   (confidence {_pct(d['confidence_with_profile'])})",
            f"Accuracy without profile: {_pct(d['accuracy_without_profile'])}"
            f"   (confidence {_pct(d['confidence_without_profile'])})",
            f"Mean margin gain: {d['margin_gain']:+.3f} nats "
            "(kept minus abandoned reply log-probability, with minus without the profile)."
            if d["margin_gain"] is not None
            else f"Mean margin gain: n/a ({self.margin_note})",
        ]
        if self.per_line:
            out += _per_line_rows(self.per_line, top)
        out.append(
            f"Cost: {self.calls} model calls in {self.seconds:.1f} s "
            f"({self.seconds / max(self.pairs, 1):.2f} s per choice)."
        )
        return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]


def _gain(with_profile: float | None, without: float | None) -> float | None:
    return None if with_profile is None or without is None else with_profile - without


def _per_line_rows(ranked: list[LineEffect], top: int) -> list[str]:
    what = "margin" if ranked[0].margin_drop is not None else "confidence"
    head = f"(the {what} lost when the line is left out)"
    if len(ranked) <= 2 * top:
        return [f"Profile lines, most helpful first {head}:"] + [_line_row(e) for e in ranked]
    return (
        [f"Lines that help most {head}:"]
        + [_line_row(e) for e in ranked[:top]]
        + ["Lines that help least:"]
        + [_line_row(e) for e in ranked[::-1][:top]]
    )


def _line_row(e: LineEffect) -> str:
    text = e.text if len(e.text) <= 70 else e.text[:69] + "…"
    lead = (
        f"{e.margin_drop:+.3f} nats"
        if e.margin_drop is not None
        else f"{100 * e.confidence_drop:+.1f} pts"
    )
    return f"  {lead}  accuracy {100 * e.accuracy_drop:+.1f} pts  [{e.section}] {text}"


def _choice_dict(r: ChoiceResult) -> dict:
    def score(s: Score) -> dict:
        return {
            "letter_kept_as_a": s.letter[0],
            "letter_kept_as_b": s.letter[1],
            "correct": s.correct,
            "confidence": s.confidence,
            "margin": s.margin,
        }

    return {
        "id": r.choice.id,
        "origin": r.choice.origin,
        "kept_first": r.kept_first,
        "with_profile": score(r.with_profile),
        "without_profile": score(r.without_profile),
    }


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# -- the choices ----------------------------------------------------------------------------------

_PAIRS_SQL = """
select p.id, p.origin, p.created_at, p.prompt_id, p.chosen_id, p.rejected_id,
  q.role as q_role, q.hidden as q_hidden,
  coalesce(q.redacted, q.text, p.prompt_text) as query,
  coalesce(c.redacted, c.text, p.chosen_text) as kept,
  coalesce(r.redacted, r.text, p.rejected_text) as abandoned
from pairs p
left join messages q on q.id = p.prompt_id
left join messages c on c.id = p.chosen_id
left join messages r on r.id = p.rejected_id
where coalesce(p.interrupted, 0) = 0
"""

# A thumbs up and a thumbs down on two assistant replies to the same user message.
_FEEDBACK_SQL = """
select up.id as up_id, down.id as down_id, a.id as kept_id, b.id as abandoned_id,
  q.id as prompt_id, coalesce(q.redacted, q.text) as query,
  coalesce(a.redacted, a.text) as kept, coalesce(b.redacted, b.text) as abandoned,
  max(coalesce(up.created_at, ''), coalesce(down.created_at, '')) as created_at
from feedback up join messages a on a.id = up.message_id
join messages b on b.parent_id = a.parent_id and b.id != a.id
join feedback down on down.message_id = b.id
join messages q on q.id = a.parent_id
where up.rating > 0 and down.rating < 0 and a.role = 'assistant' and b.role = 'assistant'
  and q.role = 'user' and coalesce(q.hidden, 0) = 0
  and not exists (select 1 from feedback x where x.message_id = a.id and x.rating < 0)
  and not exists (select 1 from feedback x where x.message_id = b.id and x.rating > 0)
order by up.id, down.id
"""


def _usable(kept: str | None, abandoned: str | None) -> bool:
    return bool((kept or "").strip() and (abandoned or "").strip()) and normalize(
        kept or ""
    ) != normalize(abandoned or "")


def load_choices(db) -> list[Choice]:
    """Every usable choice, newest first (ties by id): pairs, then feedback pairs not already
    recorded as a pair. Skips interrupted, empty and identical replies, and pairs whose prompt
    is not the user's visible message (as signals.py does)."""
    out: dict[str, Choice] = {}
    seen: set[tuple[str, str]] = set()
    for r in db.query(_PAIRS_SQL):
        if r["prompt_id"] and r["q_role"] is not None and (r["q_role"] != "user" or r["q_hidden"]):
            continue
        if not _usable(r["kept"], r["abandoned"]):
            continue
        ids = tuple(i for i in (r["prompt_id"], r["chosen_id"], r["rejected_id"]) if i)
        if r["chosen_id"] and r["rejected_id"]:
            seen.add((r["chosen_id"], r["rejected_id"]))
        cid = f"pair:{r['id']}"
        out[cid] = Choice(
            cid, r["origin"] or "branch", r["query"] or "", r["kept"], r["abandoned"], ids,
            (cid,), r["created_at"],
        )  # fmt: skip
    for r in db.query(_FEEDBACK_SQL):
        if (r["kept_id"], r["abandoned_id"]) in seen or not _usable(r["kept"], r["abandoned"]):
            continue
        seen.add((r["kept_id"], r["abandoned_id"]))  # one choice per two replies
        cid = f"feedback:{r['up_id']}:{r['down_id']}"
        out[cid] = Choice(
            cid, "feedback", r["query"] or "", r["kept"], r["abandoned"],
            (r["prompt_id"], r["kept_id"], r["abandoned_id"]),
            (f"feedback:{r['up_id']}", f"feedback:{r['down_id']}"), r["created_at"] or None,
        )  # fmt: skip
    choices = sorted(out.values(), key=lambda c: c.id)
    return sorted(choices, key=lambda c: c.created_at or "", reverse=True)


def _split_leaks(db, choices: list[Choice], lines: list[Line], profile: str):
    """(scorable, left out as evidence, left out as untraceable)."""
    evidence = {m for ln in lines for m in ln.evidence}
    digested: set[str] = set()
    if any(ln.author == "model" for ln in lines):
        digested = {
            r["signal_id"]
            for r in db.query("select signal_id from digested_signals where profile = ?", [profile])
        }
    keep, by_evidence, untraceable = [], 0, 0
    for c in choices:
        if evidence.intersection(c.message_ids):
            by_evidence += 1
        elif not c.message_ids and digested.intersection(c.signal_ids):
            untraceable += 1
        else:
            keep.append(c)
    return keep, by_evidence, untraceable


# -- prompts --------------------------------------------------------------------------------------


def profile_text(lines: list[Line]) -> str:
    """The profile as the model sees it: section headings and one bullet per line."""
    out: list[str] = []
    section = None
    for ln in lines:
        if ln.section != section:
            if out:
                out.append("")
            section = ln.section
            out.append(f"## {section}")
        out.append(f"- {ln.text}")
    return "\n".join(out)


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def selection_prompt(profile: str | None, query: str, first: str, second: str) -> list[Segment]:
    """AlignXplore+'s selection layout (§1.3), the profile first (a prefix shared by every
    choice) and a one-letter answer instead of JSON, so the first token is the letter."""
    segs = [Segment(SELECT_INSTRUCTION, True)]
    if profile is not None:
        segs += [
            Segment("<Preference>\n", True),
            Segment(profile),
            Segment("\n</Preference>\n", True),
        ]
    segs += [
        Segment("<Prompt>\n", True),
        Segment(_cut(query, MAX_QUERY_CHARS) or "(not recorded)"),
        Segment("\n</Prompt>\n<Item A>\n", True),
        Segment(_cut(first, MAX_REPLY_CHARS)),
        Segment("\n</Item A>\n<Item B>\n", True),
        Segment(_cut(second, MAX_REPLY_CHARS)),
        Segment("\n</Item B>\n", True),
        Segment(SELECT_QUESTION, True),
    ]
    return segs


def margin_prompt(profile: str | None, query: str) -> list[Segment]:
    """POPI's consumer prompt with the profile; the plain question without it (§2)."""
    q = Segment(_cut(query, MAX_QUERY_CHARS) or "(not recorded)")
    if profile is None:
        return [q]
    return [
        Segment("# User Preference Summary\n", True),
        Segment(profile),
        Segment(MARGIN_INSTRUCTION, True),
        q,
    ]


def kept_first(choice: Choice) -> bool:
    """The single-order position of the kept reply: fixed per choice (seed and id), so adding
    choices never reshuffles the others."""
    return hashlib.sha256(f"{SEED}:{choice.id}".encode()).digest()[0] % 2 == 0


# -- scoring --------------------------------------------------------------------------------------


class _Scorer:
    def __init__(self, engine):
        self.engine = engine
        self.calls = 0
        self.margin_error: str | None = None  # why the backend cannot score a given reply
        self.replies_scored = False

    def _tokens(self, system: str, segs: list[Segment]) -> int:
        return self.engine.count_tokens(system + "".join(s.text for s in segs))

    def fits(self, profile: str | None, c: Choice) -> bool:
        room = self.engine.n_ctx - CONTEXT_SLACK
        select = self._tokens(
            SELECT_SYSTEM, selection_prompt(profile, c.query, c.kept, c.abandoned)
        )
        reply = max(
            self.engine.count_tokens(_cut(x, MAX_REPLY_CHARS)) for x in (c.kept, c.abandoned)
        )
        margin = self._tokens(MARGIN_SYSTEM, margin_prompt(profile, c.query)) + reply
        return select <= room and margin <= room

    def letter(self, profile: str | None, c: Choice, kept_as_a: bool) -> float:
        first, second = (c.kept, c.abandoned) if kept_as_a else (c.abandoned, c.kept)
        segs = selection_prompt(profile, c.query, first, second)
        self.calls += 1
        a, b = self.engine.option_logprobs(SELECT_SYSTEM, segs, LETTERS)
        return _letter_diff(a, b) if kept_as_a else _letter_diff(b, a)

    def margin(self, profile: str | None, c: Choice) -> float | None:
        if self.margin_error is not None:
            return None
        segs = margin_prompt(profile, c.query)
        try:
            self.calls += 1
            kept = self.engine.reply_logprob(MARGIN_SYSTEM, segs, _cut(c.kept, MAX_REPLY_CHARS))
        except InferenceError as e:
            if self.replies_scored:  # it scored replies before: not a missing capability
                raise
            self.margin_error = str(e)  # e.g. a chat server: selection accuracy only
            return None
        self.calls += 1
        gone = self.engine.reply_logprob(MARGIN_SYSTEM, segs, _cut(c.abandoned, MAX_REPLY_CHARS))
        _check_finite(self.engine, kept, gone)
        self.replies_scored = True
        return kept - gone

    def score(self, profile: str | None, c: Choice) -> Score:
        letter = (self.letter(profile, c, True), self.letter(profile, c, False))
        return Score(letter, self.margin(profile, c))


def _letter_diff(kept: float, other: float) -> float:
    """log P(kept letter) - log P(other letter), within +-LETTER_CLAMP: a server's top_logprobs
    give -inf for a letter outside them; both outside is a tie."""
    if math.isnan(kept) or math.isnan(other):
        raise InferenceError("The model returned a log-probability that is not a number.")
    if kept == other:
        return 0.0
    return max(-LETTER_CLAMP, min(LETTER_CLAMP, kept - other))


def _check_finite(engine, *values: float) -> None:
    for x in values:
        if not math.isfinite(x):
            raise InferenceError(
                f"{engine.name} returned a log-probability that is not a number ({x}). "
                "Try another model or backend."
            )


def _score_all(scorer: _Scorer, profile: str | None, choices: list[Choice], tick) -> list[Score]:
    out = []
    for c in choices:  # one profile text at a time: its prefix stays in the model's cache
        out.append(scorer.score(profile, c))
        tick()
    return out


def _line_effects(scorer, lines, choices, full: list[Score], none: list[Score], tick):
    effects = []
    for i, ln in enumerate(lines):
        rest = lines[:i] + lines[i + 1 :]
        loo = _score_all(scorer, profile_text(rest), choices, tick) if rest else none
        pairs = list(zip(full, loo, strict=True))
        effects.append(
            LineEffect(
                ln.id,
                ln.section,
                ln.text,
                _mean([_gain(f.margin, o.margin) for f, o in pairs]),
                _mean([f.correct - o.correct for f, o in pairs]) or 0.0,
                _mean([f.confidence - o.confidence for f, o in pairs]) or 0.0,
            )
        )
    return sorted(
        effects,
        key=lambda e: (
            -(e.margin_drop or 0.0),
            -e.confidence_drop,
            -e.accuracy_drop,
            e.line_id or 0,
        ),
    )


def _select(scorer, profile: str, choices: list[Choice], limit: int | None):
    """The choices to score (up to LIMIT, newest first) and how many did not fit the context."""
    picked, too_long = [], 0
    for c in choices:
        if limit is not None and len(picked) >= limit:
            break
        if scorer.fits(profile, c):
            picked.append(c)
        else:
            too_long += 1
    return picked, too_long


def evaluate(
    db,
    *,
    model: str | None = None,
    engine=None,
    engine_options: dict | None = None,
    profile: str | None = None,
    limit: int | None = None,
    per_line: bool = False,
    progress: Progress | None = None,
) -> EvalResult:
    """Score the user's recorded choices with the profile and without it (module docstring)."""
    name = profile or DEFAULT_PROFILE
    lines = current_lines(db, profile)
    if not lines:
        raise ProfileError(
            f"The profile {name!r} has no lines yet, so there is nothing to evaluate. "
            "Run `pxprofile update` first, or write lines with `pxprofile edit`."
        )
    choices = load_choices(db)
    if not choices:
        raise InputError(
            "No recorded choices to score: eval needs replies you regenerated and kept, A/B "
            "comparisons, or a thumbs up and a thumbs down on two replies to the same message. "
            "Ingest an export that has them with `pxprofile ingest FILE`."
        )
    scorable, by_evidence, untraceable = _split_leaks(db, choices, lines, name)
    if not scorable:
        raise InputError(
            f"All {len(choices)} recorded choices are evidence for lines of the profile, so none "
            "can be scored without leakage. Ingest newer chats, then run `pxprofile eval` again."
        )
    if engine is None:
        from .engine import load_engine

        engine = load_engine(model, **(engine_options or {}))
    start = time.perf_counter()
    scorer = _Scorer(engine)
    text = profile_text(lines)
    picked, too_long = _select(scorer, text, scorable, limit)
    if not picked:
        raise InferenceError(
            f"None of the {len(scorable)} choices fits {engine.name}'s context of {engine.n_ctx} "
            "tokens with the profile. Raise --ctx."
        )
    total = len(picked) * (2 + (len(lines) if per_line and len(lines) > 1 else 0))
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    full = _score_all(scorer, text, picked, tick)
    none = _score_all(scorer, None, picked, tick)
    effects = _line_effects(scorer, lines, picked, full, none, tick) if per_line else None
    return EvalResult(
        model=engine.name,
        profile=name,
        lines=len(lines),
        available=len(choices),
        left_out_evidence=by_evidence,
        left_out_untraceable=untraceable,
        too_long=too_long,
        results=[
            ChoiceResult(c, kept_first(c), f, n) for c, f, n in zip(picked, full, none, strict=True)
        ],
        per_line=effects,
        calls=scorer.calls,
        seconds=time.perf_counter() - start,
        margin_note=scorer.margin_error,
    )
