"""A worker for tests/test_durability.py: profile updates with a fake model, in a loop.

Not a test module (no test_ prefix): the durability test's zygote imports it in a forked child,
and the test itself uses run(..., once=True) to finish the work after the kills.
"""

from __future__ import annotations

import random

from fake_engine import FakeEngine

from pxprofile import infer


def _answer(rnd: random.Random):
    def answer(system, segments, schema):
        props = schema["properties"]
        if "observations" in props:  # the reading step: an observation per cited message
            item = props["observations"]["items"]["properties"]
            labels = item["messages"]["items"]["enum"]
            return {
                "observations": [
                    {"kind": "preference", "text": f"Likes topic {rnd.getrandbits(24):06x}",
                     "messages": [label]}
                    for label in labels[:3]
                ]
            }  # fmt: skip
        labels = props["operations"]["items"]["properties"]["evidence"]["items"]["enum"]
        ops = []
        for label in labels[:3]:
            words = " ".join(f"{rnd.getrandbits(24):06x}" for _ in range(rnd.randint(1, 6)))
            ops.append(
                {
                    "op": "add",
                    "section": rnd.choice(["Communication style", "Interests"]),
                    "line": 0,
                    "text": f"Likes topic {words}",
                    "evidence": [label],
                }
            )
        return {"operations": ops}

    return answer


def run(db, seed: int, *, once: bool = False) -> str:
    """Update until nothing is new (once=True: one update). Otherwise, keep adding a chat and
    updating forever: the test kills it at a random point."""
    from fake_engine import add_conversation

    rnd = random.Random(seed)
    i = 0
    while True:
        engine = FakeEngine()
        engine.enqueue(*[_answer(rnd)] * 50)
        result = infer.update(db, engine=engine, budget=400)
        if once:
            return result.status
        i += 1
        add_conversation(
            db,
            f"w{seed}-{i}",
            [("user", f"I prefer examples about item {seed} {i}.")],
            start=f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        )
