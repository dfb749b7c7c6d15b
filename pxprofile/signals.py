"""Evidence selection: what the user said and chose, from messages not yet digested.

Each piece of evidence is one short text in the user's own voice (or a choice the user made),
with the message ids behind it and a score:

    custom_instructions  what the user typed into custom-instructions fields        (strongest)
    explicit             "I prefer ...", "please always ...", "don't ...", "I'm a ...",
                         "my stack is ..."
    correction           a user turn right after an assistant reply: "shorter", "no, I meant ..."
    feedback             thumbs up/down, with a snippet of the rated reply (labelled as a reply)
    pair                 (query, chosen, rejected) from branches / regenerations / comparisons
    topic                recurring topics and expertise terms across conversations (aggregate)

Only user-authored visible text (plus custom instructions) is presented as the user's; assistant
text appears only labelled as a reply inside pairs, corrections and feedback. Texts are
truncated and deduplicated by a normalized-text hash. Everything a model sees is
coalesce(redacted, text).

    collect(db, profile=None) -> Pool             every candidate from undigested messages/signals
    select(db, profile=None, *, budget=DEFAULT_BUDGET, count_tokens=None, read_all=False)
        -> Selection
    pending(db, profile=None) -> int              undigested messages + signals (cheap; no model)
    label(evidence) -> dict[str, Evidence]        assigns E1..En in order
    mark_digested(db, ids, signal_ids, profile, update_id)
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .export import estimate_tokens
from .profile import normalize

DEFAULT_BUDGET = 6000  # evidence tokens a budgeted (first) run puts in front of the model

SCORES = {
    "custom_instructions": 10.0,
    "explicit": 8.0,
    "correction": 6.0,
    "feedback": 5.0,
    "pair": 4.0,
    "topic": 3.0,
}

MAX_USER_CHARS = 320  # one explicit statement / correction
MAX_REPLY_CHARS = 160  # an assistant reply quoted as context
MAX_PAIR_CHARS = 280  # query / chosen / rejected in a pair
MAX_CUSTOM_CHARS = 600
MAX_TOPICS = 5
MIN_TOPIC_CONVERSATIONS = 3

# Standing preferences: how the user wants to be answered, in so many words.
_STRONG = re.compile(
    r"""(?ix)
    \bI\s+(?:really\s+|much\s+|strongly\s+|generally\s+|usually\s+|always\s+)?
        (?:prefer|like|love|hate|dislike|enjoy|can'?t\s+stand)\b(?!\s+to\s+know\b)
  | \bplease\s+(?:always|never|don'?t|do\s+not|stop|avoid|keep|be|answer|reply|respond)\b
  | (?:^|[.!?]\s+)(?:don'?t|do\s+not|never|stop|avoid)\s+
        (?:use|using|give|add|adding|include|write|say|explain|apologi[sz]e|mention|repeat|suggest)\b
  | \b(?:keep\s+it|be|more|less)\s+(?:short|brief|concise|terse|formal|casual|detailed|technical)\b
  | \b(?:from\s+now\s+on|in\s+(?:the\s+)?future|going\s+forward|every\s+time\s+you)\b
  | \bI'?d\s+(?:rather|prefer|like\s+you\s+to)\b
  | \b(?:answer|reply|respond|write|talk)\s+(?:to\s+me\s+)?(?:in|with|using)\s+(?:\w+\s+)?
        (?:english|german|french|spanish|portuguese|italian|japanese|chinese|bullets?|tables?|
        code|markdown|plain|prose|lists?)\b
    """
)
# Facts about the user that shape answers (identity, expertise, tools), or softer wishes.
_WEAK = re.compile(
    r"""(?ix)
    \b(?:I'?m|I\s+am)\s+(?:an?\s+|the\s+)(?!bit\b|little\b|lot\b|few\b|quick\b|question\b)\w+
  | \bmy\s+(?:tech\s+)?(?:stack|setup|editor|ide|os|language|languages|team|job|role|background|
        field|profession|work|company|preferred|favou?rite|native\s+language)\b
  | \bI\s+(?:work|code|program|develop|write)\s+(?:in|with|as|on|at|for)\b
  | \bI\s+(?:use|am\s+using|mostly\s+use|only\s+use)\s+\w+
  | \bI\s+(?:really\s+)?(?:want|need)\b(?!\s+to\b|\s+help\b)
  | \bplease\s+(?:use|write|give)\b
    """
)
_CORRECTION = re.compile(
    r"""(?ix)^\s*(?:
        no\b|nope\b|not\s+quite\b|not\s+what\b|that'?s\s+(?:not|wrong|too)\b|wrong\b|actually\b|
        I\s+meant\b|I\s+said\b|shorter\b|longer\b|too\s+(?:long|short|verbose|wordy|formal|casual)\b|
        less\b|more\b|stop\b|don'?t\b|do\s+not\b|instead\b|again\b|simpler\b|without\b|just\b|
        only\b|please\s+(?:don'?t|stop|just|only)\b|can\s+you\s+(?:make\s+it|be)\b|
        (?:make|keep)\s+it\b|rewrite\b|redo\b|try\s+again\b
    )"""
)
_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
_QUOTED = re.compile(r"(?m)^\s*>.*$")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#.\-]{2,}")
_STOP = frozenset(
    """about above after again against all also although always am among an and another any
    anyone anything are aren't around as ask asked at back be because been before being below
    best better between both but by can can't cannot could couldn't did didn't different do
    does doesn't doing done don't down during each either else enough even ever every example
    explain few find first for from further get gets give given go going good got had has have
    having he help her here hers him his how however i i'd i'll i'm i've if in into is isn't
    it it's its itself just know last least less let like likely make many may me might mine
    more most much must my myself need new next no nor not now of off often on once one only
    or other our ours out over own please point possible pretty probably put quite rather
    really right same say see seem should show since so some something still such sure take
    tell than thank thanks that that's the their them then there these they thing things think
    this those though through thus to too try two under until up upon us use used using very
    want was way we well were what when where whether which while who why will with within
    without won't would write yes yet you your yours also okay ok hello hi hey answer question
    give want code file files work works working time way make makes made version use uses
    look looks great sure lot lots bit number numbers kind sort stuff today tomorrow prefer
    prefers preferred like likes love hate want wants need needs always never answer answers
    reply replies please keep short long yesterday day days week year years people person
    another same part could would should also something anything everything nothing
    """.split()
)


@dataclass
class Evidence:
    kind: str
    text: str  # rendered for the model (untrusted content), already truncated
    message_ids: tuple[str, ...]
    conversation_ids: tuple[str, ...] = ()
    score: float = 0.0
    created_at: str | None = None
    signal_ids: tuple[str, ...] = ()  # "pair:<id>" / "feedback:<id>"
    query: str = ""  # pairs (native mode): the user's prompt
    chosen: str = ""
    rejected: str = ""
    label: str = ""
    tokens: int = 0
    support: int = 1  # how many times the same statement was seen

    @property
    def key(self) -> str:
        return hashlib.sha1(normalize(self.text).encode()).hexdigest()


@dataclass
class Pool:
    evidence: list[Evidence]
    message_ids: set[str]  # every undigested message
    signal_ids: set[str]  # every undigested pair/feedback


@dataclass
class Selection:
    evidence: list[Evidence]
    read_ids: set[str]  # messages this update reads (digested when it succeeds)
    signal_ids: set[str]
    available: int  # undigested messages before the update
    left_ids: set[str] = field(default_factory=set)  # undigested messages left for later

    @property
    def read(self) -> int:
        return len(self.read_ids)


def truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def _profile_key(profile: str | None) -> str:
    return profile or "default"


def _visible(m: dict) -> bool:
    return not m.get("hidden")


def _is_custom_instructions(m: dict) -> bool:
    return m.get("role") == "user" and (m.get("author_name") or "") == "custom_instructions"


def _user_voice(m: dict) -> bool:
    return (
        m.get("role") == "user"
        and _visible(m)
        and (m.get("content_type") or "text") in ("text", "multimodal_text", "")
        and not _is_custom_instructions(m)
    )


def _own_words(text: str) -> str:
    """The user's own words: without code fences and quoted ("> ") lines."""
    return _QUOTED.sub(" ", _FENCE.sub(" ", text))


_MESSAGE_COLUMNS = (
    "m.id, m.conversation_id, m.parent_id, m.role, m.author_name, m.content_type, m.hidden, "
    "m.on_active_path, m.created_at, m.seq, coalesce(m.redacted, m.text) as text"
)


def _undigested_messages(db, profile: str) -> list[dict]:
    sql = (
        f"select {_MESSAGE_COLUMNS} from messages m where not exists "
        "(select 1 from digested d where d.profile = ? and d.message_id = m.id) "
        "order by m.created_at, m.conversation_id, m.seq"
    )
    return [dict(r) for r in db.query(sql, [profile])]


def _messages_by_id(db, ids: Iterable[str]) -> dict[str, dict]:
    ids = [i for i in set(ids) if i]
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.query(
            f"select {_MESSAGE_COLUMNS} from messages m where m.id in ({marks})", chunk
        ):
            out[r["id"]] = dict(r)
    return out


def pending(db, profile: str | None = None) -> int:
    """How many messages and signals are not yet digested (cheap: no text is read)."""
    key = _profile_key(profile)
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


def _explicit_snippet(text: str) -> tuple[str, float] | None:
    """The sentences that state a preference, and how strong the statement is."""
    own = _own_words(text)
    sentences = [s.strip() for s in _SENTENCE.findall(own)]
    strong = [s for s in sentences if _STRONG.search(s)]
    hits = [s for s in sentences if s in strong or _WEAK.search(s)]
    if not hits:
        return None
    score = SCORES["explicit"] if strong else SCORES["explicit"] - 1.5
    if len(own) <= 240:
        score += 0.5  # a message that is only the statement, not a task that mentions one
    return truncate(" ".join(hits), MAX_USER_CHARS), score


def collect(db, profile: str | None = None) -> Pool:
    """Every candidate piece of evidence among undigested messages and signals."""
    key = _profile_key(profile)
    messages = _undigested_messages(db, key)
    by_id = {m["id"]: m for m in messages}
    evidence: list[Evidence] = []

    parents = _messages_by_id(db, (m["parent_id"] for m in messages if m.get("parent_id")))
    for m in messages:
        text = (m.get("text") or "").strip()
        if not text:
            continue
        if _is_custom_instructions(m):
            evidence.append(
                Evidence(
                    "custom_instructions",
                    truncate(text, MAX_CUSTOM_CHARS),
                    (m["id"],),
                    (m["conversation_id"],),
                    SCORES["custom_instructions"],
                    m.get("created_at"),
                )
            )
            continue
        if not _user_voice(m):
            continue
        parent = parents.get(m.get("parent_id") or "") or by_id.get(m.get("parent_id") or "")
        own = _own_words(text).strip()
        after_reply = parent is not None and parent.get("role") == "assistant" and _visible(parent)
        if after_reply and own and len(own) <= 400 and _CORRECTION.match(own):
            reply = truncate(parent.get("text") or "", MAX_REPLY_CHARS)
            evidence.append(
                Evidence(
                    "correction",
                    f"After the reply «{reply}» the user wrote: {truncate(own, MAX_USER_CHARS)}",
                    (m["id"], parent["id"]),
                    (m["conversation_id"],),
                    SCORES["correction"] + (1.0 if _STRONG.search(own) else 0.0),
                    m.get("created_at"),
                )
            )
            continue
        found = _explicit_snippet(text)
        if found:
            snippet, score = found
            evidence.append(
                Evidence(
                    "explicit",
                    snippet,
                    (m["id"],),
                    (m["conversation_id"],),
                    score,
                    m.get("created_at"),
                )
            )

    pairs, pair_ids = _pairs(db, key)
    feedback, feedback_ids = _feedback(db, key)
    evidence.extend(pairs)
    evidence.extend(feedback)
    evidence.extend(_topics(messages))
    return Pool(_dedupe(evidence), set(by_id), pair_ids | feedback_ids)


def _pairs(db, key: str) -> tuple[list[Evidence], set[str]]:
    rows = [
        dict(r)
        for r in db.query(
            "select * from pairs p where not exists (select 1 from digested_signals s "
            "where s.profile = ? and s.signal_id = 'pair:' || p.id)",
            [key],
        )
    ]
    seen = {f"pair:{r['id']}" for r in rows}
    rows = [r for r in rows if not r.get("interrupted")]
    if not rows:
        return [], seen
    msgs = _messages_by_id(
        db, (r[c] for r in rows for c in ("prompt_id", "chosen_id", "rejected_id") if r.get(c))
    )
    out = []
    for r in rows:
        prompt = msgs.get(r.get("prompt_id") or "")
        chosen = msgs.get(r.get("chosen_id") or "")
        rejected = msgs.get(r.get("rejected_id") or "")
        if prompt is not None and not (prompt.get("role") == "user" and _visible(prompt)):
            continue  # only the user's own prompt is presented as the user's
        q = (prompt or {}).get("text") or r.get("prompt_text") or ""
        c = (chosen or {}).get("text") or r.get("chosen_text") or ""
        j = (rejected or {}).get("text") or r.get("rejected_text") or ""
        if not c.strip() or not j.strip() or normalize(c) == normalize(j):
            continue
        q, c, j = (truncate(x, MAX_PAIR_CHARS) for x in (q, c, j))
        ids = tuple(i for i in (r.get("prompt_id"), r.get("chosen_id"), r.get("rejected_id")) if i)
        verb = "picked" if r.get("origin") == "comparison" else "kept"
        out.append(
            Evidence(
                "pair",
                f"The user asked: {q or '(not recorded)'}\n"
                f"Reply the user {verb}: «{c}»\nReply the user rejected: «{j}»",
                ids,
                (r.get("conversation_id"),) if r.get("conversation_id") else (),
                SCORES["pair"],
                r.get("created_at"),
                signal_ids=(f"pair:{r['id']}",),
                query=q,
                chosen=c,
                rejected=j,
            )
        )
    return out, seen


def _feedback(db, key: str) -> tuple[list[Evidence], set[str]]:
    rows = [
        dict(r)
        for r in db.query(
            "select * from feedback f where not exists (select 1 from digested_signals s "
            "where s.profile = ? and s.signal_id = 'feedback:' || f.id)",
            [key],
        )
    ]
    seen = {f"feedback:{r['id']}" for r in rows}
    if not rows:
        return [], seen
    msgs = _messages_by_id(db, (r["message_id"] for r in rows))
    prompts = _messages_by_id(db, (m.get("parent_id") for m in msgs.values()))
    out = []
    for r in rows:
        reply = msgs.get(r.get("message_id") or "")
        if reply is None:
            continue
        prompt = prompts.get(reply.get("parent_id") or "")
        rating = r.get("rating") or 0
        verdict = "thumbs up" if rating > 0 else "thumbs down"
        parts = []
        if prompt is not None and prompt.get("role") == "user" and _visible(prompt):
            parts.append(f"The user asked: {truncate(prompt.get('text') or '', MAX_REPLY_CHARS)}")
        parts.append(
            f"The user gave a {verdict} to the reply "
            f"«{truncate(reply.get('text') or '', MAX_REPLY_CHARS)}»"
        )
        if (r.get("text") or "").strip():
            parts.append(f"The user's comment: {truncate(r['text'], MAX_USER_CHARS)}")
        ids = tuple(i for i in ((prompt or {}).get("id"), reply["id"]) if i)
        out.append(
            Evidence(
                "feedback",
                "\n".join(parts),
                ids,
                (reply["conversation_id"],),
                SCORES["feedback"] + (1.0 if (r.get("text") or "").strip() else 0.0),
                r.get("created_at"),
                signal_ids=(f"feedback:{r['id']}",),
            )
        )
    return out, seen


def _topics(messages: list[dict]) -> list[Evidence]:
    """Recurring terms across conversations: a hint of interests and expertise."""
    conv_terms: dict[str, set[str]] = defaultdict(set)
    examples: dict[str, list[dict]] = defaultdict(list)
    for m in messages:
        if not _user_voice(m):
            continue
        own = _own_words(m.get("text") or "")
        terms = {w.lower().rstrip(".-") for w in _WORD.findall(own)}
        for t in terms:
            if t in _STOP or len(t) < 3 or t.isdigit():
                continue
            if m["conversation_id"] not in conv_terms[t]:
                conv_terms[t].add(m["conversation_id"])
                examples[t].append(m)
    counts = Counter(
        {t: len(c) for t, c in conv_terms.items() if len(c) >= MIN_TOPIC_CONVERSATIONS}
    )
    out = []
    for term, n in counts.most_common(MAX_TOPICS):
        ex = examples[term][-3:]
        snippets = "; ".join(f"«{_around(e.get('text') or '', term)}»" for e in ex)
        out.append(
            Evidence(
                "topic",
                f"The user brought up “{term}” in {n} conversations, e.g. {snippets}",
                tuple(e["id"] for e in ex),
                tuple(e["conversation_id"] for e in ex),
                SCORES["topic"] + min(n, 20) / 10,
                ex[-1].get("created_at"),
            )
        )
    return out


def _around(text: str, term: str, width: int = 90) -> str:
    flat = " ".join(_own_words(text).split())
    i = flat.lower().find(term)
    if i < 0:
        return truncate(flat, width)
    start = max(0, i - width // 2)
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


def _dedupe(evidence: list[Evidence]) -> list[Evidence]:
    """Same statement (normalized text hash) seen again: keep one, stronger, citing all."""
    seen: dict[str, Evidence] = {}
    out = []
    for e in evidence:
        k = e.key
        if e.kind in ("explicit", "custom_instructions", "correction") and k in seen:
            first = seen[k]
            first.message_ids = tuple(dict.fromkeys(first.message_ids + e.message_ids))
            first.conversation_ids = tuple(
                dict.fromkeys(first.conversation_ids + e.conversation_ids)
            )
            first.support += 1
            first.score += 0.5
            if (e.created_at or "") > (first.created_at or ""):
                first.created_at = e.created_at
            continue
        seen[k] = e
        out.append(e)
    return out


def rank(evidence: list[Evidence]) -> list[Evidence]:
    """Strongest first; newer first among equals."""
    return sorted(evidence, key=lambda e: (-e.score, _neg(e.created_at or "")))


def _neg(s: str) -> tuple:
    return tuple(-ord(c) for c in s)


def select(
    db,
    profile: str | None = None,
    *,
    budget: int | None = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
    read_all: bool = False,
    pool: Pool | None = None,
) -> Selection:
    """Choose evidence within ``budget`` tokens (all of it with read_all) and what that reads.

    Messages that carry no candidate evidence are read (there is nothing in them to learn);
    messages behind candidates that did not fit the budget stay undigested for a later run.
    """
    pool = pool or collect(db, profile)
    count = count_tokens or estimate_tokens
    chosen: list[Evidence] = []
    left: list[Evidence] = []
    used = 0
    for e in rank(pool.evidence):
        e.tokens = count(e.text)
        if read_all or budget is None or used + e.tokens <= budget:
            chosen.append(e)
            used += e.tokens
        else:
            left.append(e)
    left_ids = {i for e in left for i in e.message_ids} & pool.message_ids
    chosen_ids = {i for e in chosen for i in e.message_ids}
    read_ids = (pool.message_ids - left_ids) | (chosen_ids & pool.message_ids)
    left_ids -= chosen_ids
    left_signals = {s for e in left for s in e.signal_ids}
    chosen.sort(key=lambda e: (e.created_at or "", e.kind))
    return Selection(
        evidence=chosen,
        read_ids=read_ids,
        signal_ids=pool.signal_ids - left_signals,
        available=len(pool.message_ids),
        left_ids=left_ids,
    )


def label(evidence: list[Evidence]) -> dict[str, Evidence]:
    out = {}
    for i, e in enumerate(evidence, 1):
        e.label = f"E{i}"
        out[e.label] = e
    return out


def mark_digested(
    db,
    message_ids: Iterable[str],
    signal_ids: Iterable[str],
    profile: str | None,
    update_id: int | None,
) -> None:
    """Record what an update read. Call inside the transaction that records the update."""
    key = _profile_key(profile)
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
