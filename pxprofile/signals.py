"""What the model reads: each conversation's unread user turns, in their context.

A *unit* is one conversation's unread material (or a slice of a long one). Its *turns* are what
the user did, each with what the assistant had just said:

    message              what the user wrote (own words; pasted blocks are cut and counted)
    custom_instructions  what the user typed into a custom-instructions field
    regeneration         a pair: the user's prompt, the reply kept and the reply rejected
                         (regenerations, branches, A/B comparisons, agent edits: any origin)
    rating               feedback on a reply (thumbs, agent-rejected tool calls: any origin)

No keyword decides what is read: every message in the user's voice goes into some unit.
Heuristic scores only decide what is read *first* when a budget applies. Messages that hold none
of the user's voice (assistant replies, tool output, system text, hidden content, blocks the user
pasted) are read along with their conversation; `voiceless` says which and why.

    units(db, profile=None, *, profile_texts=(), count=estimate_tokens, max_tokens=...)
        -> Material
    pending(db, profile=None) -> int              unread messages + signals (cheap; no model)
    mark_digested(db, ids, signal_ids, profile, update_id)
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .guard import own_words
from .text import estimate_tokens, normalize, similar, truncate

MAX_TURN_CHARS = 1200  # the user's own words in one turn
MAX_REPLY_CHARS = 500  # an assistant reply shown as context (head and tail)
MAX_PAIR_CHARS = 400  # a kept / rejected reply
MAX_PASTE_CHARS = 300  # a block the user pasted, shown as context
MAX_CUSTOM_CHARS = 1500
DEFAULT_UNIT_TOKENS = 1500  # a long conversation is read in slices of about this size
READING_VERSION = "r1"  # part of a unit's key: a new way of reading reads again

VOICELESS = {
    "assistant": "assistant replies (read as the user's context)",
    "tool": "tool output",
    "system": "system text",
    "hidden": "hidden content (reasoning, browsing, tool calls)",
    "pasted": "user messages holding only pasted or quoted text",
    "empty": "empty messages",
}


@dataclass
class Turn:
    kind: str  # message | custom_instructions | regeneration | rating
    message_ids: tuple[str, ...]  # provenance: the user's message first, then replies chosen
    voice_ids: tuple[str, ...]  # the user's own messages among them
    text: str = ""  # the user's own words
    context: str = ""  # what the assistant had just said
    chosen: str = ""
    rejected: str = ""
    rated: str = ""
    rating: int = 0
    comment: str = ""
    origin: str = ""
    signal_ids: tuple[str, ...] = ()
    created_at: str = ""
    label: str = ""

    @property
    def verdict(self) -> str:
        verdict = "thumbs up" if self.rating > 0 else "thumbs down"
        return f"{verdict} ({self.origin})" if self.origin else verdict

    def triple(self) -> tuple[str, str, str]:
        """(query, chosen, rejected) for the AlignXplore+ template."""
        if self.kind == "regeneration":
            return self.text or "(not recorded)", self.chosen, self.rejected
        if self.kind == "rating":
            liked = self.rating > 0
            return (
                self.text or "(not recorded)",
                self.rated if liked else self.comment or "None",
                "None" if liked else self.rated,
            )
        return self.context or "(start of the conversation)", self.text, "None"


@dataclass
class Unit:
    conversation_id: str
    title: str
    turns: list[Turn]
    read_ids: set[str]  # every unread message this unit covers (context and voiceless included)
    voice_ids: set[str]  # the user's own messages in it
    signal_ids: set[str]
    created_at: str = ""
    ending: str = ""  # the assistant's last reply, which the user never answered
    tokens: int = 0
    score: float = 0.0

    @property
    def key(self) -> str:
        """Identity of what this unit reads (never read twice by the same model)."""
        h = hashlib.sha256(f"{READING_VERSION}\0{self.conversation_id}".encode())
        for i in sorted(self.read_ids | self.signal_ids):
            h.update(b"\0" + i.encode())
        return h.hexdigest()[:32]


@dataclass
class Material:
    units: list[Unit]  # most informative first
    voiceless: Counter = field(default_factory=Counter)  # reason -> messages
    voiceless_ids: set[str] = field(default_factory=set)  # read without the model
    user_messages: int = 0  # unread messages in the user's voice
    unread: int = 0  # all unread messages


def head_tail(text: str, limit: int) -> str:
    """Both ends of a long reply: offers and questions sit at its start and its end."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    half = limit // 2
    return truncate(text[:half], half) + " … " + text[-half:].lstrip()


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")  # a dot inside "ASP.NET" ends nothing


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _key(profile: str | None) -> str:
    return profile or "default"


def voice(m: dict) -> str | None:
    """None when the message is in the user's voice; otherwise the reason it is not."""
    role = m.get("role")
    if role == "user" and m.get("author_name") == "custom_instructions":
        return None
    if m.get("hidden"):
        return "hidden"
    if role in ("tool", "system"):
        return role
    if role != "user":
        return "assistant"
    if (m.get("content_type") or "text") not in ("text", "multimodal_text", ""):
        return "hidden"
    text = (m.get("text") or "").strip()
    if not text:
        return "empty"
    own, _pasted = own_words(text)
    return None if re.search(r"\w", own) else "pasted"


_COLUMNS = (
    "m.id, m.conversation_id, m.parent_id, m.role, m.author_name, m.content_type, m.hidden, "
    "m.on_active_path, m.created_at, m.seq, coalesce(m.redacted, m.text) as text"
)


def _unread(db, key: str, exclude: set[str]) -> list[dict]:
    sql = (
        f"select {_COLUMNS} from messages m where not exists "
        "(select 1 from digested d where d.profile = ? and d.message_id = m.id) "
        "order by m.conversation_id, m.seq, m.created_at"
    )
    return [dict(r) for r in db.query(sql, [key]) if r["id"] not in exclude]


def messages_by_id(db, ids: Iterable[str]) -> dict[str, dict]:
    ids = [i for i in set(ids) if i]
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.query(f"select {_COLUMNS} from messages m where m.id in ({marks})", chunk):
            out[r["id"]] = dict(r)
    return out


def _unread_signals(db, table: str, prefix: str, key: str, exclude: set[str]) -> list[dict]:
    rows = db.query(
        f"select * from {table} t where not exists (select 1 from digested_signals s "
        "where s.profile = ? and s.signal_id = ? || t.id)",
        [key, prefix],
    )
    return [dict(r) for r in rows if f"{prefix}{r['id']}" not in exclude]


def pending(db, profile: str | None = None) -> int:
    """How many messages and signals are not yet read (cheap: no text is read)."""
    key = _key(profile)
    n = db.execute(
        "select count(*) from messages m where not exists "
        "(select 1 from digested d where d.profile = ? and d.message_id = m.id)",
        [key],
    ).fetchone()[0]
    for table, prefix in (("pairs", "pair:"), ("feedback", "feedback:")):
        n += db.execute(
            f"select count(*) from {table} t where not exists (select 1 from digested_signals s "
            "where s.profile = ? and s.signal_id = ? || t.id)",
            [key, prefix],
        ).fetchone()[0]
    return n


# --- turns -----------------------------------------------------------------------------------


def _shown_words(text: str, profile_texts: list[str], limit: int) -> str:
    """The user's own words; the profile's own text pasted back is cut (it is not new support)."""
    own, pasted = own_words(text)
    kept, echoed = [], 0
    for s in sentences(own):
        if profile_texts and any(
            similar(s, p) or normalize(p) in normalize(s) for p in profile_texts
        ):
            echoed += 1
            continue
        kept.append(s)
    shown = truncate(" ".join(kept), limit)
    if echoed:
        shown += " [the user's own profile text, pasted back: left out]"
    if pasted.strip():  # context for what the user asked, never their own words
        shown += (
            f" [pasted or quoted, not the user's words: «{head_tail(pasted, MAX_PASTE_CHARS)}»]"
        )
    return shown.strip()


def _message_turn(m: dict, parent: dict | None, profile_texts: list[str]) -> Turn:
    custom = m.get("author_name") == "custom_instructions"
    limit = MAX_CUSTOM_CHARS if custom else MAX_TURN_CHARS
    context = ""
    if parent is not None and parent.get("role") == "assistant" and not parent.get("hidden"):
        context = head_tail(parent.get("text") or "", MAX_REPLY_CHARS)
    return Turn(
        kind="custom_instructions" if custom else "message",
        message_ids=(m["id"], parent["id"]) if context else (m["id"],),
        voice_ids=(m["id"],),
        text=_shown_words(m.get("text") or "", profile_texts, limit),
        context=context,
        created_at=m.get("created_at") or "",
    )


def _pair_turn(r: dict, msgs: dict[str, dict]) -> Turn | None:
    prompt = msgs.get(r.get("prompt_id") or "")
    chosen = (msgs.get(r.get("chosen_id") or "") or {}).get("text") or r.get("chosen_text") or ""
    rejected = (
        (msgs.get(r.get("rejected_id") or "") or {}).get("text") or r.get("rejected_text") or ""
    )
    if r.get("interrupted") or not chosen.strip() or not rejected.strip():
        return None
    if normalize(chosen) == normalize(rejected):
        return None
    users = prompt is not None and voice(prompt) is None
    query = (prompt or {}).get("text") if users else r.get("prompt_text") or ""
    ids = tuple(i for i in (r.get("prompt_id"), r.get("chosen_id"), r.get("rejected_id")) if i)
    return Turn(
        kind="regeneration",
        message_ids=ids,
        voice_ids=(prompt["id"],) if users else (),
        text=truncate(own_words(query or "")[0], MAX_TURN_CHARS // 2),
        chosen=head_tail(chosen, MAX_PAIR_CHARS),
        rejected=head_tail(rejected, MAX_PAIR_CHARS),
        signal_ids=(f"pair:{r['id']}",),
        created_at=r.get("created_at") or "",
    )


def _rating_turn(r: dict, msgs: dict[str, dict]) -> Turn | None:
    reply = msgs.get(r.get("message_id") or "")
    if reply is None:
        return None
    prompt = msgs.get(reply.get("parent_id") or "")
    users = prompt is not None and voice(prompt) is None
    return Turn(
        kind="rating",
        message_ids=tuple(
            i for i in ((prompt or {}).get("id") if users else None, reply["id"]) if i
        ),
        voice_ids=(prompt["id"],) if users else (),
        text=truncate(own_words((prompt or {}).get("text") or "")[0], MAX_TURN_CHARS // 2)
        if users
        else "",
        rated=head_tail(reply.get("text") or "", MAX_PAIR_CHARS),
        rating=int(r.get("rating") or 0),
        comment=truncate(r.get("text") or "", MAX_TURN_CHARS // 2),
        origin=r.get("origin") or "",
        signal_ids=(f"feedback:{r['id']}",),
        created_at=r.get("created_at") or "",
    )


# --- units -----------------------------------------------------------------------------------

# Hints for the reading order only (nothing is left unread for lacking them): the user speaking
# about themselves, in a few languages, and an assistant reply that offered a choice.
_FIRST_PERSON = re.compile(
    r"(?i)\b(?:I|I'm|I've|I'd|my|me|mine|ich|mein\w*|mir|je|j'|moi|mon|ma|mes|yo|mi|mis|me|"
    r"io|eu|meu|minha|ik|mijn|jag|min)\b|私|我|저는|나는"
)
_OFFER = re.compile(r"\?|(?:^|\s)(?:\d[.)]|[•*-])\s|\bor\b|:\s*$")
_WEIGHTS = {"message": 0.5, "custom_instructions": 8.0, "regeneration": 4.0, "rating": 3.0}


def _turn_score(t: Turn) -> float:
    """How much a turn may teach (only the reading order depends on it)."""
    words = len(t.text.split()) if t.text else len(t.text)
    if t.kind == "message" and words < 3 and not re.search(r"[^\x00-\x7f]", t.text):
        return 0.1  # "thanks", "ok", "why?": little to learn
    score = _WEIGHTS[t.kind] + min(words, 80) / 40
    if t.kind == "message" and t.context and _OFFER.search(t.context):
        score += 2.0  # an answer to what the assistant offered or asked: a choice, a correction
    if _FIRST_PERSON.search(t.text):
        score += 1.5
    return score


def _conversation_info(db, cids: Iterable[str]) -> dict[str, dict]:
    ids = list(set(cids))
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.query(
            f"select id, title, meta from conversations where id in ({marks})", chunk
        ):
            out[r["id"]] = dict(r)
    return out


def _title(info: dict | None) -> str:
    """The conversation's title, and its project as context (a project is not a preference)."""
    import json

    info = info or {}
    title = truncate(info.get("title") or "", 120)
    try:
        meta = json.loads(info.get("meta") or "{}")
    except ValueError:
        meta = {}
    where = isinstance(meta, dict) and (meta.get("project") or meta.get("cwd"))
    if where:
        title += f" (in project {truncate(str(where), 80)}: context, not a preference)"
    return title


@dataclass
class _Builder:
    """Collects one conversation's turns into units of about max_tokens."""

    cid: str
    title: str
    count: Callable[[str], int]
    max_tokens: int
    units: list[Unit] = field(default_factory=list)

    def _current(self) -> Unit:
        if not self.units:
            self.units.append(Unit(self.cid, self.title, [], set(), set(), set()))
        return self.units[-1]

    def message(self, m: dict, turn: Turn | None) -> None:
        unit = self._current()
        if turn is not None:
            cost = self.count(turn.text) + self.count(turn.context) + 12
            if unit.turns and unit.tokens + cost > self.max_tokens:
                unit = Unit(self.cid, self.title, [], set(), set(), set())
                self.units.append(unit)
            self._add(unit, turn, cost)
        unit.read_ids.add(m["id"])

    def signal(self, turn: Turn) -> None:
        unit = next((u for u in self.units if set(turn.voice_ids) & u.voice_ids), None)
        unit = unit or self._current()
        cost = self.count(turn.text + turn.chosen + turn.rejected + turn.rated + turn.comment)
        self._add(unit, turn, cost + 24)

    def _add(self, unit: Unit, turn: Turn, cost: int) -> None:
        unit.turns.append(turn)
        unit.tokens += cost
        unit.voice_ids.update(turn.voice_ids)
        unit.signal_ids.update(turn.signal_ids)
        unit.created_at = max(unit.created_at, turn.created_at)


def units(
    db,
    profile: str | None = None,
    *,
    profile_texts: Iterable[str] = (),
    count: Callable[[str], int] = estimate_tokens,
    max_tokens: int = DEFAULT_UNIT_TOKENS,
    exclude: set[str] = frozenset(),
) -> Material:
    """Every unread message and signal, as units of the user's turns in context.

    ``exclude``: message and signal ids already held by readings that wait for their merge.
    """
    key = _key(profile)
    texts = [t for t in profile_texts if len(normalize(t).split()) >= 3]
    msgs = _unread(db, key, set(exclude))
    pairs = _unread_signals(db, "pairs", "pair:", key, set(exclude))
    ratings = _unread_signals(db, "feedback", "feedback:", key, set(exclude))
    known = {m["id"]: m for m in msgs}
    need = [m.get("parent_id") for m in msgs] + [
        r.get(c) for r in pairs for c in ("prompt_id", "chosen_id", "rejected_id")
    ]
    known |= messages_by_id(db, (i for i in need + [r.get("message_id") for r in ratings]
                                 if i and i not in known))  # fmt: skip
    known |= messages_by_id(
        db,
        (known[r["message_id"]].get("parent_id") for r in ratings if r.get("message_id") in known),
    )
    material = Material(units=[], unread=len(msgs))
    builders: dict[str, _Builder] = {}
    info = _conversation_info(
        db,
        [m["conversation_id"] for m in msgs]
        + [r.get("conversation_id") or "" for r in pairs + ratings],
    )

    def builder(cid: str) -> _Builder:
        if cid not in builders:
            builders[cid] = _Builder(cid, _title(info.get(cid)), count, max_tokens)
        return builders[cid]

    for m in msgs:
        why = voice(m)
        if why:
            material.voiceless[why] += 1
            builder(m["conversation_id"]).message(m, None)
            continue
        material.user_messages += 1
        parent = known.get(m.get("parent_id") or "")
        builder(m["conversation_id"]).message(m, _message_turn(m, parent, texts))
    _add_signals(pairs, ratings, known, builder, material)
    for b in builders.values():
        _finish(b, known, material)
    material.units.sort(key=lambda u: (-u.score, _neg(u.created_at)))
    return material


def _add_signals(pairs, ratings, known, builder, material: Material) -> None:
    for rows, make in ((pairs, _pair_turn), (ratings, _rating_turn)):
        for r in rows:
            turn = make(r, known)
            cid = r.get("conversation_id") or next(
                (known[i]["conversation_id"] for i in (r.get("message_id"), r.get("chosen_id"))
                 if i in known), "")  # fmt: skip
            b = builder(cid)
            if turn is None:  # interrupted, identical or empty: nothing to choose between
                b._current().signal_ids.add(
                    ("pair:" if make is _pair_turn else "feedback:") + str(r["id"])
                )
                continue
            b.signal(turn)


def _finish(b: _Builder, known: dict[str, dict], material: Material) -> None:
    for unit in b.units:
        if not unit.turns:  # nothing in the user's voice: read without the model
            material.voiceless_ids |= unit.read_ids
            material.units.append(unit)
            continue
        unit.turns.sort(key=lambda t: t.created_at)
        last = max((known[i] for i in unit.read_ids if i in known), key=_order, default=None)
        if last is not None and last.get("role") == "assistant" and not last.get("hidden"):
            unit.ending = head_tail(last.get("text") or "", MAX_REPLY_CHARS)
        unit.score = sum(_turn_score(t) for t in unit.turns) / (1 + unit.tokens / 600)
        material.units.append(unit)


def _order(m: dict) -> tuple:
    return (m.get("seq") or 0, m.get("created_at") or "")


def _neg(s: str) -> tuple:
    return tuple(-ord(c) for c in s)


def within(units_: list[Unit], budget: int | None) -> tuple[list[Unit], list[Unit]]:
    """The units to read now (in order, within ``budget`` tokens; all when None) and the rest.

    Units with no turns cost nothing and are always taken."""
    take, rest, used = [], [], 0
    for u in units_:
        if budget is None or not u.turns or used + u.tokens <= budget:
            take.append(u)
            used += u.tokens
        else:
            rest.append(u)
    if budget is not None and not any(u.turns for u in take):
        smallest = min((u for u in rest if u.turns), key=lambda u: u.tokens, default=None)
        if smallest is not None:  # a budget below the first unit still reads one
            rest.remove(smallest)
            take.append(smallest)
    return take, rest


def mark_digested(
    db,
    message_ids: Iterable[str],
    signal_ids: Iterable[str],
    profile: str | None,
    update_id: int | None,
) -> None:
    """Record what an update read. Call inside the transaction that records the update."""
    key = _key(profile)
    db["digested"].insert_all(
        ({"message_id": i, "profile": key, "update_id": update_id} for i in message_ids),
        pk=("profile", "message_id"),
        ignore=True,
    )
    db["digested_signals"].insert_all(
        ({"signal_id": s, "profile": key, "update_id": update_id} for s in signal_ids),
        pk=("profile", "signal_id"),
        ignore=True,
    )
