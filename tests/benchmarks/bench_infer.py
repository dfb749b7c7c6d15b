"""Inference benchmarks (on demand; not collected by pytest).

    python tests/benchmarks/bench_infer.py            # all three, (b) with the real model
    python tests/benchmarks/bench_infer.py --no-model # (b) from the tokenizer only

(a) prompt tokens of an update with 20 new messages after 0, 1,000 and 10,000 digested messages
    (target: largest / smallest <= 1.15), with the real Gemma 3 270M tokenizer;
(b) generated tokens per update against the number of lines changed: the token cost of the
    constrained JSON for k operations (real tokenizer), and real-model updates;
(c) reading order: a generated history of 600 conversations with 30 planted explicit
    preferences among ordinary chat; the share of planted messages a first update reads within
    the default budget and within tighter ones (every message is read eventually: `--all`).
    The planted-preference benchmark with a perfect model is bench_planted.py.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_engine import FakeEngine, add_conversation  # noqa: E402

TASKS = [
    "How do I {verb} a {thing} in {lang}?",
    "I need to {verb} a {thing} in {lang}, what's the best way?",
    "I want to {verb} a {thing}. Where do I start?",
    "Why does my {lang} code fail when I {verb} the {thing}?",
    "Can you explain how {lang} handles {thing}s?",
    "What's the difference between a {thing} and a {thing2}?",
    "I use {lang} at work and get an error when I {verb} the {thing}: TypeError: unexpected None",
    "Write a short poem about {topic}.",
    "Summarize the history of {topic} in a few paragraphs.",
    "Give me ideas for a weekend trip to {place}.",
    "What should I cook tonight with {food}?",
    "I'm trying to understand {topic}, can you help?",
    "Is it true that {topic} started in {place}?",
    "Translate 'good morning, how are you' into {language}.",
    "Recommend three books about {topic}.",
    "I think the bug is in my {thing} handling, here it is:\n"
    "```\nfor x in items:\n    process(x)\n```",
]
FOLLOWUPS = [
    "thanks",
    "ok and what about {thing2}?",
    "can you give an example?",
    "why?",
    "that worked, thank you",
    "and in {lang}?",
    "hmm, I still get the error",
    "cool",
]
REPLIES = [
    "Sure! Here is how you can do it: first, {verb} the {thing}, then check the result.",
    "Great question. In {lang}, a {thing} is usually handled by the standard library.",
    "Here are a few ideas: 1. {place} old town 2. the museum 3. a food tour.",
    "The short answer is yes, with some caveats about {topic}.",
]
WORDS = {
    "verb": ["parse", "sort", "serialize", "validate", "merge", "deploy", "cache", "profile"],
    "thing": ["list", "dictionary", "CSV file", "JSON payload", "HTTP request", "date", "regex"],
    "thing2": ["tuple", "set", "stream", "promise", "iterator", "struct"],
    "lang": ["Python", "Go", "Rust", "JavaScript", "TypeScript", "Java", "SQL", "bash"],
    "topic": [
        "the Roman empire",
        "quantum computing",
        "sourdough",
        "jazz",
        "chess openings",
        "black holes",
        "the French revolution",
        "machine learning",
        "gardening",
    ],
    "place": ["Lisbon", "Kyoto", "Oaxaca", "Edinburgh", "Tbilisi", "Montreal"],
    "food": ["chickpeas", "leftover rice", "spinach and feta", "salmon", "tofu"],
    "language": ["German", "Japanese", "Portuguese", "Italian"],
}
PLANTED = [
    "I prefer answers without emojis.",
    "Please always show code examples in Python.",
    "Don't use bullet points unless I ask for a list.",
    "From now on, give me the short answer first and details after.",
    "I'm a pediatric nurse, so keep medical explanations practical.",
    "My stack is Django, Postgres and htmx.",
    "I'd rather you skip the disclaimers.",
    "Please never apologize in your replies.",
    "I like metric units, not imperial.",
    "Answer in British English please.",
    "I hate long introductions, get to the point.",
    "Keep it short, three sentences at most.",
    "I work in embedded C for medical devices.",
    "Please always cite the Python version your code needs.",
    "I really dislike when you use the word 'delve'.",
    "In the future, format tables as Markdown.",
    "I prefer type hints in every Python example.",
    "Don't suggest paid tools, I only use open source.",
    "I'm a vegetarian, so no meat in recipes.",
    "Please use 24-hour time.",
    "I enjoy dry humour, a little is fine.",
    "Be concise when I ask yes/no questions.",
    "I prefer dark-roast coffee recommendations.",
    "My native language is Portuguese, so simple English helps.",
    "Never use exclamation marks.",
    "I love historical context when you explain words.",
    "Please always include the command to run tests.",
    "I'd like you to ask before writing long code.",
    "I use vim, so skip IDE-specific steps.",
    "I can't stand marketing speak.",
]


def fill(template: str, rng: random.Random) -> str:
    out = template
    for key, values in WORDS.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", rng.choice(values), 1)
    return out


def ordinary_turns(rng: random.Random) -> list[tuple[str, str]]:
    turns = []
    for i in range(rng.randint(1, 3)):
        turns.append(("user", fill(rng.choice(TASKS if i == 0 else FOLLOWUPS), rng)))
        turns.append(("assistant", fill(rng.choice(REPLIES), rng)))
    return turns


def fresh_db(name: str):
    from pxprofile.store import open_db

    home = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    os.environ["PXPROFILE_HOME"] = str(home)
    return open_db(home / "px.db")


class TokenizerEngine(FakeEngine):
    """FakeEngine counting with a real tokenizer: prompt sizes without generation."""

    def __init__(self, tokenizer, n_ctx: int = 8192):
        super().__init__(name="gemma3-270m-tokenizer", n_ctx=n_ctx)
        self.tokenizer = tokenizer

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count_tokens(text)


PROFILE = (
    "# Preference profile\n\n## Communication style\n\n- Prefers short answers\n"
    "- Likes worked examples\n\n## Expertise\n\n- Works as a backend developer\n"
    "- Knows SQL well\n\n## Interests\n\n- Chess\n- Sourdough baking\n\n"
    "## Values and constraints\n\n- Privacy matters\n\n## Avoid\n\n- Marketing speak\n"
)


def bench_flat(tokenizer) -> None:
    from pxprofile import infer, profile, signals

    print("(a) prompt tokens of an update with 20 new messages after N digested messages")
    results = {}
    for n in (0, 1_000, 10_000):
        db = fresh_db(f"flat{n}")
        profile.profile_file().write_text(PROFILE)
        rng = random.Random(1)
        rows, ids = [], []
        for c in range(n // 2):
            cid = f"h{c}"
            db["conversations"].insert({"id": cid, "title": cid}, pk="id")
            for k, (role, text) in enumerate(
                [
                    ("user", fill(rng.choice(TASKS), rng)),
                    ("assistant", fill(rng.choice(REPLIES), rng)),
                ]
            ):
                mid = f"{cid}:{k}"
                rows.append(
                    {
                        "id": mid,
                        "conversation_id": cid,
                        "role": role,
                        "text": text,
                        "hidden": 0,
                        "content_type": "text",
                        "seq": k,
                        "parent_id": f"{cid}:0" if k else None,
                        "created_at": f"2024-01-01T00:{c % 60:02d}:00Z",
                    }
                )
                ids.append(mid)
        if rows:
            db["messages"].insert_all(rows, pk="id", batch_size=2000)
            signals.mark_digested(db, ids, [], None, None)
        new = random.Random(2)
        for c in range(10):
            turns = [
                ("user", PLANTED[c] if c % 3 == 0 else fill(new.choice(TASKS), new)),
                ("assistant", fill(new.choice(REPLIES), new)),
            ]
            add_conversation(db, f"new{c}", turns, start="2025-06-01T00:00:00Z")
        engine = TokenizerEngine(tokenizer)
        t = time.perf_counter()
        result = infer.update(db, engine=engine)
        elapsed = time.perf_counter() - t
        assert result.messages_read == 20, result
        results[n] = result.prompt_tokens
        print(
            f"    {n:>6,} digested: {result.prompt_tokens:5d} prompt tokens, "
            f"{result.readings} reading call(s), update {elapsed * 1000:.0f} ms"
        )
    ratio = max(results.values()) / min(results.values())
    print(
        f"    largest / smallest = {ratio:.3f} (target <= 1.15): "
        f"{'PASS' if ratio <= 1.15 else 'FAIL'}"
    )


def bench_output(tokenizer, use_model: bool) -> None:
    from pxprofile import infer

    print("(b) generated tokens per update against lines changed")
    texts = [
        "Prefers short answers without preamble",
        "Works mostly in Rust and Go",
        "Uses metric units",
        "Dislikes emojis in technical answers",
        "Wants code examples with type hints",
        "Reads documentation before asking",
    ]
    for k in range(0, 7):
        ops = [
            {
                "op": "add",
                "section": "Communication style",
                "line": 0,
                "text": texts[i],
                "evidence": [f"O{i + 1}"],
            }
            for i in range(k)
        ]
        out = json.dumps({"operations": ops})
        print(f"    {k} lines changed: {tokenizer.count_tokens(out):4d} tokens of constrained JSON")
    if not use_model:
        return
    from pxprofile import profile
    from pxprofile.engine import load_engine

    engine = load_engine("gemma3-270m", n_ctx=2048, n_threads=2, gpu_layers=0)
    scenarios = {
        "nothing new (a repeated line)": [
            ("user", "what's a good name for a cat?"),
            ("assistant", "Whiskers."),
        ],
        "two new preferences": [
            ("user", "I prefer short answers. Please always use metric units."),
            ("assistant", "OK."),
        ],
    }
    for name, turns in scenarios.items():
        db = fresh_db("model")
        profile.profile_file().write_text(PROFILE)
        add_conversation(db, "c1", turns)
        add_conversation(
            db, "c2", [("user", "I prefer short answers")], start="2025-02-01T00:00:00Z"
        )
        t = time.perf_counter()
        result = infer.update(db, engine=engine, max_tokens=160)
        elapsed = time.perf_counter() - t
        print(
            f"    real model, {name}: {result.completion_tokens} generated tokens, "
            f"{len(result.applied)} lines changed, {len(result.rejected)} rejected, "
            f"status {result.status}, {elapsed:.1f} s"
        )


def bench_recall(tokenizer) -> None:
    from pxprofile import infer, signals

    print("(c) reading order: planted messages a first update reads within a budget")
    db = fresh_db("recall")
    rng = random.Random(7)
    n_conv = 600
    planted_at = dict(zip(rng.sample(range(n_conv), len(PLANTED)), PLANTED, strict=True))
    planted_ids = {}
    for c in range(n_conv):
        turns = ordinary_turns(rng)
        if c in planted_at:
            statement = planted_at[c]
            if rng.random() < 0.5:  # standalone, as a later turn
                turns.insert(2 if len(turns) > 2 else len(turns), ("user", statement))
                turns.insert(3 if len(turns) > 3 else len(turns), ("assistant", "Noted."))
            else:  # inside a task message
                turns[0] = ("user", f"{turns[0][1]} {statement} Thanks in advance.")
        day = 1 + c % 28
        ids = add_conversation(
            db, f"c{c}", turns, start=f"2025-{1 + c // 60 % 12:02d}-{day:02d}T10:00:00Z"
        )
        if c in planted_at:
            planted_ids[planted_at[c]] = next(
                i for i, t in zip(ids, turns, strict=True) if planted_at[c] in t[1]
            )
    t = time.perf_counter()
    material = signals.units(db, count=tokenizer.count_tokens)
    elapsed = time.perf_counter() - t
    total = sum(u.tokens for u in material.units)
    print(
        f"    {n_conv} conversations, {material.user_messages:,} user messages, {total:,} tokens "
        f"of material, units built in {elapsed:.2f} s"
    )
    for budget in (infer.DEFAULT_BUDGET, 10_000, 4_000):
        take, _rest = signals.within(material.units, budget)
        read = set().union(*(u.voice_ids for u in take))
        hits = sum(1 for mid in planted_ids.values() if mid in read)
        print(
            f"    --budget {budget:,}: {len(read):,} of {material.user_messages:,} user messages "
            f"({len(read) / material.user_messages:.0%}); planted {hits}/{len(PLANTED)} "
            f"= {hits / len(PLANTED):.0%}"
        )


def main() -> None:
    from pxprofile.engine import load_tokenizer

    use_model = "--no-model" not in sys.argv
    tokenizer = load_tokenizer("gemma3-270m")
    bench_flat(tokenizer)
    bench_output(tokenizer, use_model)
    bench_recall(tokenizer)


if __name__ == "__main__":
    main()
