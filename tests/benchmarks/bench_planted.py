"""Planted-preference benchmark (on demand; not collected by pytest).

    python tests/benchmarks/bench_planted.py [--conversations 300] [--parallel 4]

A generated history of a few hundred ordinary conversations with 24 planted preferences,
revealed the way people reveal them: said in passing inside a message about something else, shown
by choosing one of several options the assistant offered, by the regenerated reply the user kept,
and in non-English conversations. A scripted "perfect" model (tests/standin.py) is served as an
OpenAI-compatible server on 127.0.0.1 and used through `pxprofile update --backend openai`: it
answers correctly whenever a planted preference is in what it is shown, and nothing otherwise.

Reported:
  (1) `update --all`: planted preferences that became profile lines (target >= 95%), the user's
      own messages that reached the model, i.e. appear in a prompt the server received (target
      >= 90%), prompt tokens per 1,000 user messages (Gemma 3 tokenizer), wall time;
  (2) a default-budget first `update`, then a second plain `update`: coverage of each, and that
      the second reads messages the first did not.

    python tests/benchmarks/bench_planted.py --model gemma3-270m --conversations 30

  with a real model in-process (2 threads): wall time, prompt tokens per 1,000 user messages,
  output tokens per conversation, planted preferences found (tiny models find few).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))

from bench_infer import FOLLOWUPS, REPLIES, TASKS, fill  # noqa: E402
from fake_engine import add_conversation  # noqa: E402
from standin import Perfect, Planted, StandIn  # noqa: E402

IN_PASSING = [
    (
        "Can you plan three dinners for the week? I've been vegetarian for years, so no meat, "
        "and I'd like one of them to be quick.",
        "vegetarian for years",
        "Is vegetarian",
        "Values and constraints",
    ),
    (
        "I need to write a cover letter for a data analyst job. Mostly I work in R and only "
        "touch Python when I have to. Where do I start?",
        "Mostly I work in R",
        "Works mostly in R",
        "Expertise",
    ),
    (
        "What's a good gift for my sister? We both get motion sick on planes, so we always "
        "travel by train, maybe something for that.",
        "always travel by train",
        "Travels by train rather than by plane",
        "Interests",
    ),
    (
        "Explain how HTTPS works. Skip the analogies, they confuse me more than they help.",
        "Skip the analogies",
        "Dislikes analogies in explanations",
        "Avoid",
    ),
    (
        "Write a birthday message for my colleague. My manager reads these, I'm on a night "
        "shift rota at the hospital.",
        "night shift rota at the hospital",
        "Works night shifts at a hospital",
        "Expertise",
    ),
    (
        "Help me fix this spreadsheet formula. I'm colour-blind, so please don't rely on red and "
        "green to mark cells.",
        "colour-blind",
        "Is colour-blind",
        "Values and constraints",
    ),
]
CHOICES = [
    (
        "What should I cook tonight?",
        "Three ideas: 1. a warm lentil salad 2. a beef burger "
        "3. pork ramen. Which one sounds good?",
        "The salad sounds perfect. The others don't quite work for me.",
        "salad sounds perfect",
        "Prefers salads for dinner",
        "Interests",
    ),
    (
        "Suggest a weekend trip.",
        "Options: a city break in Vienna, a hiking weekend in the Alps, or a beach resort.",
        "Hiking, definitely. Cities and resorts are not my thing.",
        "Hiking, definitely",
        "Prefers hiking trips",
        "Interests",
    ),
    (
        "Which editor setup should I try?",
        "You could go with VS Code, JetBrains, or Neovim.",
        "neovim. the others are too heavy for me",
        "neovim. the others",
        "Prefers Neovim as an editor",
        "Expertise",
    ),
    (
        "Recommend a podcast.",
        "Some picks: a true-crime series, a history podcast, or a comedy panel show.",
        "the history one please, crime stuff gives me nightmares",
        "the history one please",
        "Prefers history over true crime",
        "Interests",
    ),
    (
        "How should I learn Spanish?",
        "You could take a class, use an app daily, or find a conversation partner.",
        "A conversation partner. Apps bore me.",
        "A conversation partner. Apps bore me",
        "Prefers learning by conversation",
        "Interests",
    ),
    (
        "Help me pick a workout.",
        "Choices: running, swimming, or weight training.",
        "Swimming — my knees hate running.",
        "my knees hate running",
        "Prefers swimming",
        "Interests",
    ),
]
REGENERATIONS = [
    (
        "Is coffee bad for you?",
        "Short answer: no, in moderation. Details: up to 400 mg a day is fine for most adults.",
        "Coffee has a long and complicated history " * 6,
        "Short answer: no, in moderation",
        "Prefers the short answer first",
    ),
    (
        "How do I back up my laptop?",
        "• Plug in a drive\n• Turn on Time Machine\n• Check it weekly",
        "Backing up a laptop is an important practice that many people neglect " * 5,
        "Check it weekly",
        "Prefers bullet points over paragraphs",
    ),
    (
        "How do I reverse a list in Python?",
        "```python\nitems.reverse()\n```",
        "There are several approaches to reversing a list, each with trade-offs " * 5,
        "items.reverse()",
        "Prefers code examples over explanations",
    ),
    (
        "What's the weather like in Lisbon in May?",
        "Around 21 °C by day, 14 °C at night.",
        "Around 70 °F by day and 57 °F at night, with occasional showers.",
        "21 °C by day",
        "Prefers metric units",
    ),
    (
        "Can you explain recursion?",
        "Sure! Think of it as a function calling itself, like "
        "opening a box that holds a smaller box. Fun, right?",
        "Recursion is a method of solving a problem where the solution depends on solutions to "
        "smaller instances of the same problem.",
        "opening a box that holds a smaller box",
        "Prefers a casual, friendly tone",
    ),
    (
        "Is intermittent fasting effective?",
        "It can help some people (Smith 2022; NIH review 2023). Sources listed below.",
        "Yes, it is very effective for everyone.",
        "Sources listed below",
        "Prefers answers with sources",
    ),
]
NON_ENGLISH = [
    (
        "Kannst du mir ein Rezept vorschlagen? Ich bin Vegetarierin und koche am liebsten "
        "italienisch.",
        "koche am liebsten italienisch",
        "Prefers Italian cooking",
        "Interests",
    ),
    (
        "¿Me ayudas con un correo? Trabajo como enfermera pediátrica y escribo a los padres.",
        "enfermera pediátrica",
        "Works as a paediatric nurse",
        "Expertise",
    ),
    (
        "Peux-tu m'expliquer les impôts ? Réponds-moi toujours en français, s'il te plaît.",
        "toujours en français",
        "Wants answers in French",
        "Communication style",
    ),
    (
        "Puoi consigliarmi un libro? Leggo solo gialli, niente romanzi rosa.",
        "Leggo solo gialli",
        "Reads crime novels",
        "Interests",
    ),
    (
        "Você pode revisar meu texto? Prefiro frases curtas e diretas.",
        "frases curtas e diretas",
        "Prefers short, direct sentences",
        "Communication style",
    ),
    (
        "日本語で答えてください。私はエンジニアです。",
        "私はエンジニアです",
        "Works as an engineer",
        "Expertise",
    ),
]


def planted() -> list[Planted]:
    out = [Planted(t, line, sec) for _m, t, line, sec in IN_PASSING]
    out += [Planted(t, line, sec) for _q, _o, _a, t, line, sec in CHOICES]
    out += [Planted(t, line) for _q, _c, _r, t, line in REGENERATIONS]
    out += [Planted(t, line, sec) for _m, t, line, sec in NON_ENGLISH]
    return out


def ordinary(rng: random.Random) -> list[tuple]:
    turns = []
    for i in range(rng.randint(1, 3)):
        turns.append(("user", fill(rng.choice(TASKS if i == 0 else FOLLOWUPS), rng)))
        turns.append(("assistant", fill(rng.choice(REPLIES), rng)))
    if rng.random() < 0.1:
        turns.insert(1, ("tool", "search results: ...", {"hidden": 1}))
    return turns


def build(db, n: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    slots = rng.sample(range(n), 24)
    kinds = ["passing"] * 6 + ["choice"] * 6 + ["regen"] * 6 + ["foreign"] * 6
    plan = dict(zip(slots, zip(kinds, [0, 1, 2, 3, 4, 5] * 4, strict=True), strict=True))
    for c in range(n):
        cid, start = f"c{c:04d}", f"2025-{1 + c % 12:02d}-{1 + c % 28:02d}T10:00:00Z"
        kind, k = plan.get(c, ("ordinary", 0))
        if kind == "passing":
            turns = [("user", IN_PASSING[k][0]), ("assistant", "Here is a plan.")]
        elif kind == "choice":
            q, offer, answer, *_ = CHOICES[k]
            turns = [("user", q), ("assistant", offer), ("user", answer), ("assistant", "Great!")]
        elif kind == "foreign":
            turns = [("user", NON_ENGLISH[k][0]), ("assistant", "Claro / Gern / Bien sûr.")]
        else:
            turns = ordinary(rng)
        if kind != "regen":
            add_conversation(db, cid, turns, start=start)
            continue
        q, chosen, rejected, *_ = REGENERATIONS[k]
        ids = add_conversation(db, cid, [("user", q), ("assistant", chosen)], start=start)
        db["messages"].insert(
            {"id": f"{cid}:alt", "conversation_id": cid, "parent_id": ids[0], "role": "assistant",
             "text": rejected, "hidden": 0, "on_active_path": 0, "content_type": "text", "seq": 1},
            pk="id",
        )  # fmt: skip
        db["pairs"].insert(
            {"id": f"p{cid}", "conversation_id": cid, "prompt_id": ids[0], "chosen_id": ids[1],
             "rejected_id": f"{cid}:alt", "origin": "regeneration"},
            pk="id",
        )  # fmt: skip


def fresh(name: str, n: int):
    from pxprofile.store import open_db

    home = Path(tempfile.mkdtemp(prefix=f"bench-planted-{name}-"))
    os.environ["PXPROFILE_HOME"] = str(home)
    db = open_db(home / "px.db")
    build(db, n)
    return home / "px.db", db


def run_update(dbpath, server: StandIn, *extra: str):
    from typer.testing import CliRunner

    from pxprofile.cli import app

    args = ["update", "--db", str(dbpath), "--backend", "openai", "--base-url", server.url,
            "--model", server.name, "--json", *extra]  # fmt: skip
    t = time.perf_counter()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    import json

    return json.loads(result.stdout), time.perf_counter() - t


def user_messages(db) -> dict[str, str]:
    """The user's own messages: id -> the start of their own words (what must reach the model)."""
    from pxprofile import signals
    from pxprofile.guard import own_words

    out = {}
    for m in db.query("select * from messages"):
        if signals.voice(dict(m)) is None:
            out[m["id"]] = " ".join(own_words(m["text"])[0].split())[:50]
    return out


def reached(db, prompts: list[str]) -> float:
    """Share of the user's own messages whose text appears in a prompt the server received."""
    msgs = user_messages(db)
    blob = "\n".join(" ".join(p.split()) for p in prompts)
    return sum(1 for t in msgs.values() if t in blob) / len(msgs)


def recall(db) -> tuple[int, list[str]]:
    from pxprofile import profile

    texts = {ln.text for ln in profile.current_lines(db)}
    missed = [p.line for p in planted() if p.line not in texts]
    return len(planted()) - len(missed), missed


class Recording(Perfect):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.prompts: list[str] = []

    def __call__(self, system, text, schema):
        self.prompts.append(text)
        return super().__call__(system, text, schema)


def real_model(name: str, n: int) -> None:
    from pxprofile import infer
    from pxprofile.engine import load_engine

    _dbpath, db = fresh(f"model-{name}", n)
    users = len(user_messages(db))
    engine = load_engine(name, n_ctx=4096, n_threads=2, gpu_layers=0)
    t = time.perf_counter()
    r = infer.update(db, engine=engine, read_all=True)
    secs = time.perf_counter() - t
    print(f"{name}: {n} conversations, {users} user messages, 2 threads, n_ctx 4096")
    print(
        f"    {secs:.0f} s wall ({secs / n:.1f} s per conversation); status {r.status}; "
        f"{r.readings} reading + {r.batches} merge calls; read {r.user_messages_read}/{users}"
    )
    print(
        f"    prompt tokens {r.prompt_tokens:,} = {r.prompt_tokens * 1000 / users:,.0f} per "
        f"1,000 user messages; output tokens {r.completion_tokens:,} = "
        f"{r.completion_tokens / n:.1f} per conversation"
    )
    print(f"    {r.observations} observations; planted in profile {recall(db)[0]}/24; "
          f"errors: {r.errors[:2]}")  # fmt: skip


def main() -> None:
    from pxprofile.engine import load_tokenizer

    n = (
        int(sys.argv[sys.argv.index("--conversations") + 1])
        if "--conversations" in sys.argv
        else 300
    )
    par = sys.argv[sys.argv.index("--parallel") + 1] if "--parallel" in sys.argv else "4"
    if "--model" in sys.argv:
        return real_model(sys.argv[sys.argv.index("--model") + 1], n)
    tok = load_tokenizer("gemma3-270m")
    model = Recording(planted(), delay=0.02)  # a little model time: requests overlap
    server = StandIn(model).start()
    try:
        dbpath, db = fresh("all", n)
        users = len(user_messages(db))
        doc, secs = run_update(dbpath, server, "--all", "--parallel", par)
        got, missed = recall(db)
        share = reached(db, model.prompts)
        ptoks = sum(tok.count_tokens(p) for p in model.prompts)
        print(f"(1) update --all over {n} conversations, {users} user messages, --parallel {par}")
        print(f"    planted preferences in the profile: {got}/24 = {got / 24:.1%} (target >= 95%)")
        for m in missed:
            print(f"    missed: {m}")
        print(
            f"    user messages that reached the model: {share:.1%} (target >= 90%); "
            f"read: {doc['user_messages_read']}/{doc['user_messages_available']}"
        )
        print(
            f"    model calls: {doc['readings']} reading + {doc['batches']} merge; peak "
            f"concurrent requests at the server: {server.max_concurrent}; {secs:.1f} s"
        )
        print(
            f"    prompt tokens (Gemma 3 tokenizer): {ptoks:,} = "
            f"{ptoks * 1000 / users:,.0f} per 1,000 user messages"
        )

        dbpath, db = fresh("default", n)
        d, secs = run_update(dbpath, server)
        print(f"(2) a first `update` with the default budget: read {d['user_messages_read']} of "
              f"{d['user_messages_available']} user messages in {d['conversations_read']} "
              f"conversations ({d['conversations_left']} left), planted in profile "
              f"{recall(db)[0]}/24, {secs:.1f} s")  # fmt: skip
        budget = sys.argv[sys.argv.index("--budget") + 1] if "--budget" in sys.argv else "4000"
        dbpath, db = fresh("budget", n)
        first, _ = run_update(dbpath, server, "--budget", budget)
        got1, _ = recall(db)
        read1 = {r["message_id"] for r in db["digested"].rows}
        second, _ = run_update(dbpath, server, "--budget", budget)
        read2 = {r["message_id"] for r in db["digested"].rows} - read1
        got2, _ = recall(db)
        print(f"(3) --budget {budget}: a first `update`, then a second")
        for name, d, got_ in (("first", first, got1), ("second", second, got2)):
            print(f"    {name}: read {d['user_messages_read']} of "
                  f"{d['user_messages_available']} user messages in {d['conversations_read']} "
                  f"conversations ({d['conversations_left']} left); planted in profile "
                  f"{got_}/24")  # fmt: skip
        print(
            f"    the second read {len(read2)} messages the first did not; overlap "
            f"{len(read1 & read2)}: {'PASS' if read2 and not read1 & read2 else 'FAIL'}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
