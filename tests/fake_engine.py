"""A deterministic stand-in for pxprofile.engine.Engine (llm's MockModel with enqueue).

    engine = FakeEngine()
    engine.enqueue({"operations": [...]})      # parsed JSON, as a schema-constrained completion
    engine.enqueue('not json')                 # raw text (data stays None)
    engine.enqueue(InferenceError("boom"))     # raised from complete()
    engine.enqueue(lambda system, segments, schema: {...})   # computed from the prompt
    ... run code that calls engine.complete(...) ...
    engine.calls[0].system, engine.calls[0].segments, engine.calls[0].schema, engine.calls[0].prompt

It does not enforce the schema: it behaves like a compromised model that returns whatever was
prepared, so the code under test must validate everything itself. With an empty queue it answers
``default`` when set (e.g. tests/standin.py's Perfect model), else an empty list under the schema's
first required key ({"observations": []}, {"operations": []}), or "" when no schema was given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pxprofile.engine import Completion, Engine, Segment

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class Call:
    system: str
    segments: list[Segment]
    schema: dict | None
    max_tokens: int

    @property
    def prompt(self) -> str:
        return self.system + "\n" + "".join(s.text for s in self.segments)

    @property
    def untrusted(self) -> str:
        return "".join(s.text for s in self.segments if not s.trusted)


@dataclass
class FakeEngine(Engine):
    """Subclasses the real Engine, so its interface cannot drift from what infer calls."""

    name: str = "fake"
    n_ctx: int = 4096
    prompt_style: str = "default"
    has_chat_template: bool = True
    backend: str = "fake"
    queue: list[Any] = field(default_factory=list)
    default: Any = None  # answers when the queue is empty: a callable like enqueue's
    calls: list[Call] = field(default_factory=list)

    def enqueue(self, *outputs: Any) -> FakeEngine:
        self.queue.extend(outputs)
        return self

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text))

    def complete(
        self, system: str, user: list[Segment], *, schema: dict | None = None, max_tokens: int = 512
    ) -> Completion:
        call = Call(system, list(user), schema, max_tokens)
        self.calls.append(call)
        empty = {(schema.get("required") or ["operations"])[0]: []} if schema else ""
        out = self.queue.pop(0) if self.queue else (self.default or empty)
        if callable(out) and not isinstance(out, BaseException):
            out = out(system, user, schema)
        if isinstance(out, BaseException):
            raise out
        if isinstance(out, str):
            text, data = out, None
            if schema is not None:
                try:
                    data = json.loads(out)
                except ValueError:
                    data = None
        else:
            text, data = json.dumps(out), out
        return Completion(
            text=text,
            data=data,
            prompt_tokens=self.count_tokens(call.prompt),
            completion_tokens=self.count_tokens(text),
        )


def add_conversation(
    db,
    cid: str,
    turns,
    *,
    title: str = "",
    start: str = "2025-01-01T00:00:00Z",
    source_id: int | None = None,
) -> list[str]:
    """Insert a linear chat: turns are (role, text) or (role, text, extra-columns dict).

    Message ids are "<cid>:<n>"; each message's parent is the previous one; created_at goes up
    one second per turn from ``start``. Returns the message ids.
    """
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    db["conversations"].insert(
        {"id": cid, "format": "test", "native_id": cid, "title": title or cid, "created_at": start},
        pk="id",
        replace=True,
    )
    ids, parent = [], None
    for n, turn in enumerate(turns):
        role, text, *rest = turn
        mid = f"{cid}:{n}"
        row = {
            "id": mid,
            "conversation_id": cid,
            "native_id": str(n),
            "parent_id": parent,
            "role": role,
            "author_name": None,
            "content_type": "text",
            "text": text,
            "redacted": None,
            "created_at": (t0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
            "hidden": 0,
            "on_active_path": 1,
            "status": "finished",
            "seq": n,
            "source_id": source_id,
        }
        if rest:
            row.update(rest[0])
        db["messages"].insert(row, pk="id")
        ids.append(mid)
        parent = mid
    return ids
