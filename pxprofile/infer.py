"""Preference inference: read what is new, merge it into the profile (a streaming update).

    update(db, *, model=None, engine=None, engine_options=None, profile=None,
           budget=DEFAULT_BUDGET, read_all=False, dry_run=False, review=None, progress=None,
           on_step=None, max_tokens=None, parallel=1) -> UpdateResult

1. signals.units: every unread conversation as the user's turns in context, most informative
   first; a plain update takes them within ``budget`` tokens, ``read_all`` takes them all.
2. reading: one call per few conversations -> observations citing the user's messages, stored
   per conversation and model (never redone); concurrent on a server backend (``parallel``).
3. merge: observations clustered across conversations (recurring ones weigh more) -> profile
   operations -> proposals.validate (evidence rules) -> profile.apply_changes (the only write
   path). A reading counts as read for the profile once its observations reached the profile.

Models whose prompt_style is "alignxplore" get the released AlignXplore+ template instead
(previous summary + (query, chosen, rejected) triples -> a new free-text summary), turned into
the same line operations by a diff.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import prompts, proposals, reading, signals
from .engine import TruncatedOutputError
from .errors import InferenceError, ModelError, PxprofileError
from .profile import Change
from .store import write_tx
from .text import utc_now

DEFAULT_BUDGET = 20_000  # tokens of chat material a plain update reads (most informative first)
MERGE_MAX_OPS = 8
OUTPUT_TOKENS_PER_OP = 70
NATIVE_MAX_TOKENS = 2048  # AlignXplore+ reasons before it writes the summary
MAX_TEXT = prompts.MAX_LINE


@dataclass
class Step:
    """Progress: reading steps (conversations) done of total, tokens so far."""

    phase: str  # reading | merging
    done: int
    total: int
    tokens: int = 0


@dataclass
class UpdateResult:
    status: str  # nothing-new | noop | ok | rejected | failed | conflict | interrupted
    update_id: int | None = None
    model: str | None = None
    dry_run: bool = False
    user_messages_read: int = 0
    user_messages_available: int = 0
    messages_read: int = 0
    messages_available: int = 0
    conversations_read: int = 0
    conversations_left: int = 0
    readings: int = 0  # reading calls to the model
    cached: int = 0  # conversations whose reading was reused
    observations: int = 0
    batches: int = 0  # merge calls
    applied: list[Change] = field(default_factory=list)
    rejected: list[tuple[dict, str]] = field(default_factory=list)
    diff: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    version: int | None = None
    proposed_path: Any = None
    errors: list[str] = field(default_factory=list)
    voiceless: Counter = field(default_factory=Counter)

    @property
    def user_messages_left(self) -> int:
        return max(0, self.user_messages_available - self.user_messages_read)

    @property
    def messages_left(self) -> int:
        return max(0, self.messages_available - self.messages_read)

    def summary(self) -> str:
        from .report import summary

        return summary(self)

    def explain(self) -> list[str]:
        from .report import explain

        return explain(self)

    def as_dict(self) -> dict:
        from .report import as_dict

        return as_dict(self)


@contextlib.contextmanager
def _no_interrupt():
    """Ctrl-C waits until the block is done (a profile write and its record stay together)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def _start(db, profile, model, mode) -> int:
    with write_tx(db):
        return (
            db["updates"]
            .insert(
                {
                    "profile": profile or "default",
                    "started_at": utc_now(),
                    "model": model,
                    "mode": mode,
                    "status": "running",
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "batches": 0,
                    "evidence": 0,
                    "messages_read": 0,
                    "messages_available": 0,
                    "applied": 0,
                    "rejected": "[]",
                }  # fmt: skip
            )
            .last_pk
        )


def _record(db, uid, r: UpdateResult, finished: bool = False) -> None:
    if uid is None:
        return
    with write_tx(db):
        read = db.execute("select count(*) from digested where update_id = ?", [uid]).fetchone()[0]
        row = {
            "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
            "batches": r.batches, "evidence": r.observations, "observations": r.observations,
            "readings": r.readings, "messages_read": read,
            "messages_available": r.messages_available,
            "user_messages_read": r.user_messages_read,
            "user_messages_available": r.user_messages_available, "applied": len(r.applied),
            "rejected": json.dumps(
                [{"op": op, "reason": why} for op, why in r.rejected], ensure_ascii=False,
                default=str,
            ),
            "version": r.version, "error": " ".join(r.errors) or None,
        }  # fmt: skip
        if finished:
            row |= {"status": r.status, "finished_at": utc_now()}
        db["updates"].update(uid, row)


def _load(model, engine_options, say):
    from . import engine as engine_mod
    from . import models

    say(f"Loading model {models.chosen_model(model) or ''}".rstrip() + "...")
    return engine_mod.load_engine(model, **(engine_options or {}))


def update(
    db,
    *,
    model: str | None = None,
    engine=None,
    engine_options: dict | None = None,
    profile: str | None = None,
    budget: int | None = DEFAULT_BUDGET,
    read_all: bool = False,
    dry_run: bool = False,
    review=None,
    progress: Callable[[str], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
    max_tokens: int | None = None,
    parallel: int = 1,
) -> UpdateResult:
    """Read what is new (within ``budget`` unless ``read_all``), merge it into the profile.

    Returns before loading a model when nothing is new. Ctrl-C keeps what was read (stored
    readings) and writes nothing half-done; the next update continues."""
    from .profile import current_lines

    say = progress or (lambda _msg: None)
    lines = current_lines(db, profile)
    waiting = [] if dry_run else reading.waiting(db, profile)
    held = {i for w in waiting for i in w.message_ids | w.signal_ids}
    material = signals.units(db, profile, profile_texts=[ln.text for ln in lines], exclude=held)
    if not material.units and not waiting:
        return UpdateResult(status="nothing-new", dry_run=dry_run, model=model)
    take, rest = signals.within(material.units, None if read_all else budget)
    result = UpdateResult(status="noop", dry_run=dry_run, model=model, voiceless=material.voiceless)
    result.user_messages_available = material.user_messages + sum(len(w.voice_ids) for w in waiting)
    result.messages_available = material.unread + sum(len(w.message_ids) for w in waiting)
    result.conversations_left = len({u.conversation_id for u in rest})
    to_read = [u for u in take if u.turns]
    quiet = [reading.as_stored(reading.Reading(u)) for u in take if not u.turns]
    uid = None
    if to_read or waiting:
        engine = engine or _load(model, engine_options, say)
        result.model = engine.name
    native = engine is not None and getattr(engine, "prompt_style", "") == "alignxplore"
    if not dry_run:
        uid = result.update_id = _start(
            db, profile, result.model, "alignxplore" if native else "default"
        )
    try:
        if native:
            _native(db, engine, to_read, result, profile, dry_run, review, on_step)
        else:
            fresh = _read(db, engine, to_read, result, uid, dry_run, parallel, on_step)
            _merge(
                db, engine, waiting + fresh, result, profile, dry_run, review, max_tokens, on_step
            )
        if quiet and not dry_run:
            with write_tx(db):
                reading.mark_merged(db, quiet, profile, uid)
        result.messages_read += sum(len(q.message_ids) for q in quiet)
        result.status = _status(result)
        _record(db, uid, result, finished=True)
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.errors.append("Interrupted: what was read is kept; `pxprofile update` continues.")
        _record(db, uid, result, finished=True)
        raise
    except BaseException as e:
        result.status = "failed"
        result.errors.append(str(e) or type(e).__name__)
        _record(db, uid, result, finished=True)
        raise
    return result


UNUSABLE = ("The model failed", "Unusable model output")  # how errors about output begin


def _status(r: UpdateResult) -> str:
    """ok: the profile changed; failed: no output could be used at all (the CLI exits 1);
    rejected: usable output that the checks entirely rejected (said plainly, left unread)."""
    if r.proposed_path:
        return "conflict"
    if r.applied:
        return "ok"
    if any(e.startswith(UNUSABLE) for e in r.errors):
        return "failed"
    return "rejected" if r.errors else "noop"


# --- reading ---------------------------------------------------------------------------------


def _read(db, engine, units, result, uid, dry_run, parallel, on_step) -> list[reading.Stored]:
    """Read ``units`` (reusing stored readings); each reading is stored as it completes."""
    if not units:
        return []
    done: list[reading.Stored] = []
    hits = reading.cached(db, engine.name, units)
    total = len(units)
    step = Step("reading", 0, total)

    def finished(readings: list[reading.Reading]) -> None:
        for r in readings:
            step.done += 1
            result.prompt_tokens += r.prompt_tokens
            result.completion_tokens += r.completion_tokens
            step.tokens = result.prompt_tokens + result.completion_tokens
            result.rejected += r.rejected
            if r.error:
                if r.error not in result.errors:
                    result.errors.append(r.error)
                continue
            if not r.cached and not dry_run:
                reading.store(db, engine.name, r, uid)
            done.append(reading.as_stored(r))
        if on_step:
            on_step(step)

    cached = [hits[u.key] for u in units if u.key in hits]
    result.cached = len(cached)
    if cached:
        finished(cached)
    batches = list(reading.pack(engine, [u for u in units if u.key not in hits]))
    result.readings += len(batches)
    reading.read_all_calls(engine, batches, parallel=parallel, done=finished)
    return done


# --- merging ---------------------------------------------------------------------------------


def _merge_size(engine, max_tokens: int | None) -> tuple[int, int]:
    out = max_tokens or min(32 + MERGE_MAX_OPS * OUTPUT_TOKENS_PER_OP, engine.n_ctx // 3)
    return max(1, min(MERGE_MAX_OPS, (out - 32) // OUTPUT_TOKENS_PER_OP)), out


def _merge_batches(engine, lines, clusters, max_tokens) -> list[list[proposals.Cluster]]:
    size, out = _merge_size(engine, max_tokens)
    room = engine.n_ctx - out - reading.PROMPT_MARGIN
    batches, batch = [], []
    for c in clusters:
        trial = batch + [c]
        proposals.label(trial)
        system, segs = prompts.merge_prompt(lines, trial)
        fits = engine.count_tokens(system) + sum(engine.count_tokens(s.text) for s in segs) <= room
        if batch and (len(trial) > size or not fits):
            batches.append(batch)
            trial = [c]
        batch = trial
    if batch:
        batches.append(batch)
    return batches


def _merge(db, engine, stored, result, profile, dry_run, review, max_tokens, on_step) -> None:
    """Observations -> operations -> the profile; readings are marked merged as they land."""
    from .profile import current_lines

    owner = {id(o): s for s in stored for o in s.observations}
    clusters = proposals.cluster([o for s in stored for o in s.observations])
    result.observations += sum(len(s.observations) for s in stored)
    open_ = Counter(id(owner[id(o)]) for c in clusters for o in c.members)
    empty = [s for s in stored if not s.observations]
    _land(db, empty, result, profile, dry_run)
    if not clusters:
        return
    lines = current_lines(db, profile)
    state = proposals.State.for_lines(lines)
    batches = _merge_batches(engine, lines, clusters, max_tokens)
    for n, batch in enumerate(batches, 1):
        lines = current_lines(db, profile)
        ok = _merge_batch(
            db, engine, lines, batch, state, result, profile, dry_run, review, max_tokens
        )
        landed = []
        for c in batch:
            for o in c.members:
                s = owner[id(o)]
                open_[id(s)] -= 1
                if ok and open_[id(s)] == 0:
                    landed.append(s)
        _land(db, landed, result, profile, dry_run)
        if on_step:
            on_step(
                Step("merging", n, len(batches), result.prompt_tokens + result.completion_tokens)
            )
        if result.proposed_path:
            break


def _land(db, stored, result, profile, dry_run) -> None:
    result.messages_read += sum(len(s.message_ids) for s in stored)
    result.user_messages_read += sum(len(s.voice_ids) for s in stored)
    result.conversations_read += len({s.conversation_id for s in stored})
    if stored and not dry_run:
        with _no_interrupt(), write_tx(db):
            reading.mark_merged(db, stored, profile, result.update_id)


def _ask(engine, system, segs, schema, max_tokens, result) -> tuple[list | None, str | None]:
    """One model call for operations: (ops, None) or (None, error). ModelError stops the update."""
    try:
        c = engine.complete(system, segs, schema=schema, max_tokens=max_tokens)
    except TruncatedOutputError as e:
        ops = reading.salvage(e.text, "operations")
        return (ops, None) if ops else (None, f"The model failed: {str(e).rstrip('.')}.")
    except ModelError:
        raise
    except PxprofileError as e:
        return None, f"The model failed: {str(e).rstrip('.')}."
    result.prompt_tokens += c.prompt_tokens or 0
    result.completion_tokens += c.completion_tokens or 0
    data = c.data
    if data is None and schema is not None:
        try:
            data = json.loads(c.text)
        except ValueError:
            return None, "Unusable model output: it is not valid JSON; nothing was changed."
    if schema is None:
        return [c.text], None
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        return None, "Unusable model output: it has no operations list; nothing was changed."
    return list(data["operations"]), None


def _merge_batch(db, engine, lines, batch, state, result, profile, dry_run, review, max_tokens):
    labels = proposals.label(batch)
    system, segs = prompts.merge_prompt(lines, batch)
    size, out = _merge_size(engine, max_tokens)
    schema = prompts.merge_schema(proposals.sections_for(lines), len(lines), list(labels), size)
    result.batches += 1
    ops, error = _ask(engine, system, segs, schema, out, result)
    if error:
        result.errors.append(error)
        return False
    changes, rejected = proposals.validate(db, ops, lines, labels, state)
    return _apply(db, ops, changes, rejected, result, profile, dry_run, review)


def _apply(db, ops, changes, rejected, result, profile, dry_run, review) -> bool:
    """Apply valid changes; False (what it read stays unread) when non-empty output failed the
    checks entirely. Changes that profile.py declines (the user deleted or owns the line) are
    the user's decisions, not a failure: what was read stays read."""
    from .profile import apply_changes

    result.rejected += rejected
    if changes:
        with _no_interrupt():
            res = apply_changes(
                db, changes, profile=profile, update_id=result.update_id, dry_run=dry_run,
                review=review,
            )  # fmt: skip
        result.applied += res.applied
        result.rejected += [(_change_dict(c), why) for c, why in res.rejected]
        result.diff += res.diff or ""
        result.version = res.version if res.version is not None else result.version
        result.proposed_path = res.proposed_path or result.proposed_path
    if ops and not changes:  # every operation failed the checks: the output was unusable
        n = len(ops)
        result.errors.append(
            f"The model proposed {n} change{'s' if n != 1 else ''} and every one was rejected "
            "(see --verbose): what it read stays unread."
        )
        return False
    return True


def _change_dict(c: Change) -> dict:
    return {"op": c.action, "section": c.section, "line_id": c.line_id, "text": c.text}


# --- AlignXplore+ ------------------------------------------------------------------------------


def _native_batches(engine, lines, units) -> list[list[signals.Unit]]:
    room = engine.n_ctx - min(NATIVE_MAX_TOKENS, engine.n_ctx // 2) - reading.PROMPT_MARGIN
    batches, batch = [], []
    for u in units:
        system, segs = prompts.alignxplore_prompt(lines, batch + [u])
        size = engine.count_tokens(system) + sum(engine.count_tokens(s.text) for s in segs)
        if batch and size > room:
            batches.append(batch)
            batch = []
        batch.append(u)
    return batches + ([batch] if batch else [])


def _native(db, engine, units, result, profile, dry_run, review, on_step) -> None:
    """The released template: each batch's summary is diffed into line operations."""
    from .profile import current_lines

    state = proposals.State.for_lines(current_lines(db, profile))
    batches = _native_batches(engine, current_lines(db, profile), units)
    for n, batch in enumerate(batches, 1):
        lines = current_lines(db, profile)
        system, segs = prompts.alignxplore_prompt(lines, batch)
        result.batches += 1
        result.readings += 1
        texts, error = _ask(
            engine, system, segs, None, min(NATIVE_MAX_TOKENS, engine.n_ctx // 2), result
        )
        ok = False
        if error is None:
            clusters = [_unit_cluster(u) for u in batch]
            labels = proposals.label(clusters, "U")
            try:
                ops = proposals.summary_to_operations(texts[0], lines, list(labels))
            except InferenceError as e:
                result.errors.append(f"Unusable model output: {str(e).rstrip('.')}.")
            else:
                changes, rejected = proposals.validate(db, ops, lines, labels, state)
                ok = _apply(db, ops, changes, rejected, result, profile, dry_run, review)
        else:
            result.errors.append(error)
        if ok:
            _land(
                db, [reading.as_stored(reading.Reading(u)) for u in batch], result, profile, dry_run
            )
        if on_step:
            on_step(
                Step("reading", n, len(batches), result.prompt_tokens + result.completion_tokens)
            )


def _unit_cluster(u: signals.Unit) -> proposals.Cluster:
    return proposals.Cluster(
        "preference",
        u.title,
        {u.conversation_id},
        [i for t in u.turns for i in t.message_ids],
        [i for t in u.turns for i in t.voice_ids],
    )


# --- after ingest ------------------------------------------------------------------------------


def after_ingest(
    db, *, model: str | None = None, progress=None, on_step=None
) -> UpdateResult | None:
    """The update `pxprofile ingest` runs: None when nothing is new; when no model is on this
    machine: status "no-model" (nothing is read then: read means read by a model)."""
    from .models import chosen_model, on_this_machine

    if signals.pending(db) == 0:
        return None
    name = chosen_model(model)
    if not name or not on_this_machine(name):
        return UpdateResult(status="no-model")
    return update(db, model=name, progress=progress, on_step=on_step)
