"""The reading step: conversations (the user's turns in context) -> short observations.

One model call reads a few units (packed to fit the context) and answers observations that cite
the turns they rest on. Each unit's reading is stored (`readings`), keyed by the model and the
exact messages it covered, so the same conversation is never read twice by the same model, and
an interrupted update keeps what it read. Calls are independent: with a server backend they run
concurrently (`read_all_calls(..., parallel=N)`). Nothing here writes to the database except
`store`, which the caller runs on its own thread.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import prompts
from .engine import TruncatedOutputError
from .errors import InferenceError, ModelError, PxprofileError
from .signals import Unit
from .store import write_tx
from .text import utc_now

MAX_UNITS_PER_CALL = 8
OBSERVATIONS_PER_UNIT = 3
MAX_OBSERVATIONS = 12  # per call (schema maxItems)
TOKENS_PER_OBSERVATION = 56
PROMPT_MARGIN = 32  # chat-template tokens around system and user text


@dataclass
class Observation:
    kind: str
    text: str
    message_ids: tuple[str, ...]
    conversation_id: str
    voice_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "text": self.text,
            "message_ids": list(self.message_ids),
            "voice_ids": list(self.voice_ids),
        }


@dataclass
class Reading:
    """What one unit's reading produced (stored, or failed and left unread)."""

    unit: Unit
    observations: list[Observation] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    rejected: list[tuple[dict, str]] = field(default_factory=list)
    cached: bool = False
    id: int | None = None


def output_budget(n_units: int) -> int:
    n = min(MAX_OBSERVATIONS, OBSERVATIONS_PER_UNIT * n_units)
    return 32 + n * TOKENS_PER_OBSERVATION


def _label(units: list[Unit]) -> dict[str, tuple[Unit, object]]:
    labels = {}
    for unit in units:
        for turn in unit.turns:
            turn.label = f"M{len(labels) + 1}"
            labels[turn.label] = (unit, turn)
    return labels


def prompt_tokens(engine, units: list[Unit]) -> int:
    _label(units)
    system, segs = prompts.reading_prompt(units)
    return engine.count_tokens(system) + sum(engine.count_tokens(s.text) for s in segs)


def pack(engine, units: list[Unit]) -> Iterator[list[Unit]]:
    """Group units into calls that fit the model's context (greedy, in reading order)."""
    batch: list[Unit] = []
    for unit in units:
        trial = batch + [unit]
        room = engine.n_ctx - output_budget(len(trial)) - PROMPT_MARGIN
        if len(trial) <= MAX_UNITS_PER_CALL and prompt_tokens(engine, trial) <= room:
            batch = trial
            continue
        if batch:
            yield batch
        batch = [unit]
        if prompt_tokens(engine, batch) > engine.n_ctx - output_budget(1) - PROMPT_MARGIN:
            _shrink(engine, unit)
    if batch:
        yield batch


def _shrink(engine, unit: Unit) -> None:
    """A unit too long for the context alone: cut its texts until it fits (rare: units are
    sliced at DEFAULT_UNIT_TOKENS; this covers a model with a very small context)."""
    from .signals import truncate

    for limit in (800, 400, 200, 100, 50):
        for t in unit.turns:
            t.text, t.context = truncate(t.text, limit), truncate(t.context, limit // 2)
            t.chosen, t.rejected = truncate(t.chosen, limit // 2), truncate(t.rejected, limit // 2)
            t.rated, t.comment = truncate(t.rated, limit // 2), truncate(t.comment, limit // 2)
        unit.ending = truncate(unit.ending, limit // 2)
        if prompt_tokens(engine, [unit]) <= engine.n_ctx - output_budget(1) - PROMPT_MARGIN:
            return
    raise InferenceError(
        f"one conversation turn does not fit the model's {engine.n_ctx}-token context. "
        "Use a larger context (--ctx)"
    )


def read(engine, units: list[Unit]) -> list[Reading]:
    """One model call over ``units``; a reading per unit. Safe to run on a worker thread.

    A model that cannot run (ModelError, a crashed child process) raises: the update stops.
    Output that cannot be used comes back as an error on every reading: those units stay unread.
    """
    labels = _label(units)
    system, segs = prompts.reading_prompt(units)
    n = min(MAX_OBSERVATIONS, OBSERVATIONS_PER_UNIT * len(units))
    schema = prompts.reading_schema(list(labels), n)
    readings = [Reading(u) for u in units]
    try:
        completion = engine.complete(
            system, segs, schema=schema, max_tokens=output_budget(len(units))
        )
        items, tokens = _items(completion.data, completion.text), completion
    except TruncatedOutputError as e:
        items, tokens = salvage(e.text, "observations"), None
        if not items:
            return _failed(readings, f"The model failed: {str(e).rstrip('.')}.")
    except ModelError:
        raise
    except PxprofileError as e:
        return _failed(readings, f"The model failed: {str(e).rstrip('.')}.")
    if items is None:
        return _failed(readings, "Unusable model output: it has no observations list.")
    if tokens is not None:  # the call's cost goes on its first reading
        readings[0].prompt_tokens = tokens.prompt_tokens or 0
        readings[0].completion_tokens = tokens.completion_tokens or 0
    by_unit = {id(r.unit): r for r in readings}
    rejected: list[tuple[dict, str]] = []
    for item in items:
        obs, why = _observation(item, labels)
        if why:
            rejected.append((item if isinstance(item, dict) else {"item": item}, why))
        else:
            by_unit[id(labels[item["messages"][0]][0])].observations.append(obs)
    readings[0].rejected = rejected
    if items and len(rejected) == len(items):
        reasons = "; ".join(dict.fromkeys(w for _i, w in rejected))
        return _failed(
            readings,
            f"The model's {len(items)} observation{'s' if len(items) != 1 else ''} were all "
            f"rejected ({reasons}): what it read stays unread.",
        )
    return readings


def _failed(readings: list[Reading], error: str) -> list[Reading]:
    for r in readings:
        r.error, r.observations = error, []
    return readings


def _items(data, text: str) -> list | None:
    if data is None and text.strip():
        try:
            data = json.loads(text)
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("observations"), list):
        return None
    return list(data["observations"])


def _observation(item, labels) -> tuple[Observation | None, str | None]:
    if not isinstance(item, dict):
        return None, "not an object"
    kind, text, cites = (
        item.get("kind"),
        " ".join(str(item.get("text") or "").split()),
        item.get("messages"),
    )
    if kind not in prompts.READ_KINDS:
        return None, f"unknown kind {kind!r}"
    if not text:
        return None, "empty text"
    if prompts.is_placeholder(text):
        return None, "it repeats the answer format, not the conversation"
    if len(text) > prompts.MAX_OBSERVATION:
        return None, f"longer than {prompts.MAX_OBSERVATION} characters"
    if not isinstance(cites, list) or not cites or not all(isinstance(c, str) for c in cites):
        return None, "cites no messages"
    unknown = [c for c in cites if c not in labels]
    if unknown:
        return None, f"cites messages that do not exist: {', '.join(unknown)}"
    unit = labels[cites[0]][0]
    turns = [labels[c][1] for c in dict.fromkeys(cites) if labels[c][0] is unit]
    ids = tuple(dict.fromkeys(i for t in turns for i in t.message_ids))
    voice = tuple(dict.fromkeys(i for t in turns for i in t.voice_ids))
    if not voice:
        return None, "cites nothing in the user's own words"
    return Observation(kind, text, ids, unit.conversation_id, voice), None


def salvage(text: str, key: str) -> list[dict]:
    """The complete items at the start of JSON output cut off at max_tokens."""
    import re

    m = re.match(r'\s*\{\s*"' + key + r'"\s*:\s*\[', text or "")
    if not m:
        return []
    decoder = json.JSONDecoder(strict=False)
    pos, items = m.end(), []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return items
        if not isinstance(item, dict):
            return items
        items.append(item)


def read_all_calls(
    engine,
    batches: list[list[Unit]],
    *,
    parallel: int = 1,
    done: Callable[[list[Reading]], None],
) -> None:
    """Run the reading calls (up to ``parallel`` at once on a server backend) and hand each
    call's readings to ``done`` on this thread, as they complete.

    Workers are daemon threads: on Ctrl-C nothing waits for a request in flight, calls not
    started never start, and what ``done`` stored stays stored. A worker's exception (a crashed
    or unreachable model) is raised here."""
    if parallel <= 1 or getattr(engine, "backend", "") != "openai" or len(batches) <= 1:
        for batch in batches:
            done(read(engine, batch))
        return
    todo: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    for batch in batches:
        todo.put(batch)

    def work() -> None:
        while not stop.is_set():
            try:
                batch = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results.put((read(engine, batch), None))
            except BaseException as e:  # handed to the main thread, raised there
                results.put((None, e))

    for _ in range(min(parallel, len(batches))):
        threading.Thread(target=work, daemon=True, name="pxprofile-read").start()
    try:
        for _ in batches:
            readings, error = results.get()
            if error is not None:
                raise error
            done(readings)
    finally:
        stop.set()


# --- storage ---------------------------------------------------------------------------------


def cached(db, model: str, units: list[Unit]) -> dict[str, Reading]:
    """Readings this model already made of exactly these units (reused, never redone)."""
    out: dict[str, Reading] = {}
    by_key = {u.key: u for u in units}
    keys = list(by_key)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.query(
            f"select * from readings where model = ? and unit_key in ({marks})", [model, *chunk]
        ):
            unit = by_key[r["unit_key"]]
            out[r["unit_key"]] = Reading(unit, _load(r), cached=True, id=r["id"])
    return out


def _load(row: dict) -> list[Observation]:
    return [
        Observation(
            o["kind"],
            o["text"],
            tuple(o["message_ids"]),
            row["conversation_id"],
            tuple(o.get("voice_ids") or ()),
        )  # fmt: skip
        for o in json.loads(row["observations"] or "[]")
    ]


def store(db, model: str, reading: Reading, update_id: int | None) -> int:
    u = reading.unit
    with write_tx(db):
        db["readings"].insert(
            {
                "model": model,
                "unit_key": u.key,
                "conversation_id": u.conversation_id,
                "message_ids": json.dumps(sorted(u.read_ids)),
                "voice_ids": json.dumps(sorted(u.voice_ids)),
                "signal_ids": json.dumps(sorted(u.signal_ids)),
                "observations": json.dumps([o.as_dict() for o in reading.observations]),
                "prompt_tokens": reading.prompt_tokens,
                "completion_tokens": reading.completion_tokens,
                "created_at": utc_now(),
                "update_id": update_id,
            },
            replace=True,
        )
        reading.id = db.execute(
            "select id from readings where model = ? and unit_key = ?", [model, u.key]
        ).fetchone()[0]
    return reading.id


@dataclass
class Stored:
    """A stored reading waiting for its merge into a profile."""

    id: int
    conversation_id: str
    message_ids: set[str]
    voice_ids: set[str]
    signal_ids: set[str]
    observations: list[Observation]


def waiting(db, profile: str | None) -> list[Stored]:
    """Readings made for this profile's updates that have not reached the profile yet."""
    key = profile or "default"
    rows = db.query(
        "select r.* from readings r join updates u on u.id = r.update_id where u.profile = ? "
        "and not exists (select 1 from merged_readings m where m.profile = ? "
        "and m.reading_id = r.id) order by r.id",
        [key, key],
    )
    return [_stored(dict(r)) for r in rows]


def _stored(r: dict) -> Stored:
    return Stored(
        r["id"],
        r["conversation_id"],
        set(json.loads(r["message_ids"])),
        set(json.loads(r["voice_ids"])),
        set(json.loads(r["signal_ids"])),
        _load(r),
    )


def as_stored(reading: Reading) -> Stored:
    u = reading.unit
    return Stored(
        reading.id or 0, u.conversation_id, set(u.read_ids), set(u.voice_ids),
        set(u.signal_ids), list(reading.observations),
    )  # fmt: skip


def mark_merged(db, readings: list[Stored], profile: str | None, update_id: int | None) -> None:
    """Inside the caller's transaction: these readings reached the profile."""
    from .signals import mark_digested

    key = profile or "default"
    db["merged_readings"].insert_all(
        ({"profile": key, "reading_id": r.id, "update_id": update_id} for r in readings if r.id),
        pk=("profile", "reading_id"),
        ignore=True,
    )
    mark_digested(
        db,
        {i for r in readings for i in r.message_ids},
        {s for r in readings for s in r.signal_ids},
        profile,
        update_id,
    )


def forget(db, message_ids: list[str]) -> int:
    """Inside the caller's transaction: delete every reading that covered one of these messages
    (its observations are text derived from them). Returns how many were deleted."""
    ids: set[int] = set()
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        ids |= {
            r[0]
            for r in db.execute(
                "select distinct r.id from readings r, json_each(r.message_ids) j "
                f"where j.value in ({marks})",
                chunk,
            )
        }
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    db.execute(f"delete from merged_readings where reading_id in ({marks})", list(ids))
    return db.execute(f"delete from readings where id in ({marks})", list(ids)).rowcount
