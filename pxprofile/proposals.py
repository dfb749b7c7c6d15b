"""From observations to profile changes: clustering, the evidence rules, summary diffs.

    cluster(observations) -> [Cluster]      the same observation across conversations, counted
    validate(db, ops, lines, labels, state) -> (changes, rejected)
    summary_to_operations(summary, lines, labels) -> ops   (AlignXplore+ free-text summaries)

This module checks *evidence*: the cited observations exist; a hypothetical is not a fact; a
correction never supports the line it corrects; the profile's own text coming back is not new
support; every add, revise and retire cites evidence; one update retires at most a quarter of the
model's lines. Line text, duplicates and ownership are profile.py's rules (an add that restates
a line becomes support for it there); guard.py's line and evidence checks run on every line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .errors import InferenceError
from .guard import MAX_NEW_LINES_PER_CONVERSATION, evidence_problem, line_problem
from .profile import Change, normalize, similar
from .prompts import MAX_LINE, is_placeholder
from .signals import messages_by_id, sentences


@dataclass
class Cluster:
    """One observation, as seen in one or more conversations."""

    kind: str
    text: str
    conversations: set[str] = field(default_factory=set)
    message_ids: list[str] = field(default_factory=list)
    voice_ids: list[str] = field(default_factory=list)
    members: list = field(default_factory=list)  # the observations behind it
    label: str = ""


def cluster(observations) -> list[Cluster]:
    """Group observations that say the same thing; recurring ones first."""
    out: list[Cluster] = []
    for o in observations:
        c = next((c for c in out if c.kind == o.kind and similar(c.text, o.text)), None)
        if c is None:
            c = Cluster(o.kind, o.text)
            out.append(c)
        c.conversations.add(o.conversation_id)
        c.message_ids += [i for i in o.message_ids if i not in c.message_ids]
        c.voice_ids += [i for i in o.voice_ids if i not in c.voice_ids]
        c.members.append(o)
    out.sort(key=lambda c: (-len(c.conversations), c.kind != "correction"))
    return out


def label(clusters: list[Cluster], prefix: str = "O") -> dict[str, Cluster]:
    out = {}
    for i, c in enumerate(clusters, 1):
        c.label = f"{prefix}{i}"
        out[c.label] = c
    return out


def sections_for(lines) -> list[str]:
    from .document import DEFAULT_SECTIONS

    out = list(DEFAULT_SECTIONS)
    for ln in lines:
        if ln.section and ln.section not in out:
            out.append(ln.section)
    return out


@dataclass
class State:
    """What spans the merge batches of one update."""

    max_retire: int = 1
    retired: int = 0
    new_lines: Counter = field(default_factory=Counter)  # conversation -> lines added

    @classmethod
    def for_lines(cls, lines) -> State:
        editable = sum(1 for ln in lines if ln.editable)
        return cls(max_retire=max(1, editable // 4))


def validate(
    db, ops: list, lines, labels: dict[str, Cluster], state: State
) -> tuple[list[Change], list[tuple[dict, str]]]:
    """Turn model operations into Changes; every rejected op comes back with its reason."""
    sections = sections_for(lines)
    rows = messages_by_id(db, (i for c in labels.values() for i in c.message_ids))
    changes: list[Change] = []
    rejected: list[tuple[dict, str]] = []
    touched: set[int] = set()
    for raw in ops:
        op = raw if isinstance(raw, dict) else {"op": raw}
        reason, change = _check(op, lines, labels, sections, touched, rows, state)
        if reason:
            rejected.append((op, reason))
            continue
        changes.append(change)
        if change.action == "retire":
            state.retired += 1
        if change.action == "add":
            for conv in {rows[i]["conversation_id"] for i in change.evidence if i in rows}:
                state.new_lines[conv] += 1
    return changes, rejected


def _check(op: dict, lines, labels, sections, touched, rows, state: State):
    action = op.get("op")
    if action not in ("add", "revise", "retire"):
        return f"unknown operation {action!r}", None
    cites = op.get("evidence") or []
    if not isinstance(cites, list) or not all(isinstance(c, str) for c in cites):
        return "evidence must be a list of labels", None
    unknown = [c for c in cites if c not in labels]
    if unknown:
        return f"cites evidence that does not exist: {', '.join(unknown)}", None
    cited = [labels[c] for c in dict.fromkeys(cites)]
    if not cited:
        return "cites no evidence", None
    text = " ".join(str(op.get("text") or "").split())
    target, section = None, str(op.get("section") or "")
    if action != "add":
        target, why = _target(op.get("line"), lines, touched, state, action)
        if why:
            return why, None
        section = target.section
    why = _evidence_rules(action, text, cited, lines, target, rows, state)
    if why:
        return why, None
    if action != "retire":
        why = _text_rules(action, text, section, sections)
        if why:
            return why, None
    message_ids = tuple(dict.fromkeys(i for c in cited for i in c.message_ids))
    if target is not None:
        touched.add(lines.index(target) + 1)
    change = Change(
        action=action,
        text=text if action != "retire" else "",
        section=section,
        line_id=target.id if target is not None else None,
        evidence=message_ids,
        reason="evidence " + ", ".join(c.label for c in cited),
    )
    return None, change


def _target(line_no, lines, touched, state: State, action: str):
    if not isinstance(line_no, int) or isinstance(line_no, bool) or not 1 <= line_no <= len(lines):
        return None, f"line {line_no} does not exist"
    target = lines[line_no - 1]
    if not target.editable:
        return None, f"line {line_no} belongs to the user and cannot be changed"
    if line_no in touched:
        return None, f"line {line_no} is already changed by another operation"
    if action == "retire" and state.retired >= state.max_retire:
        return None, (
            f"one update retires at most {state.max_retire} "
            f"line{'s' if state.max_retire != 1 else ''} (a quarter of the model's lines)"
        )
    return target, None


def _text_rules(action, text, section, sections) -> str | None:
    if not text:
        return "empty text"
    if is_placeholder(text) or normalize(text) in {normalize(s) for s in sections}:
        return "it repeats the answer format, not what the user showed"
    if len(text) > MAX_LINE:
        return f"longer than {MAX_LINE} characters"
    problem = line_problem(text)
    if problem:
        return f"line rejected: {problem}"
    if action == "add" and section not in sections:
        return f"unknown section {section!r}"
    return None


def _evidence_rules(action, text, cited, lines, target, rows, state: State) -> str | None:
    kinds = {c.kind for c in cited}
    if "hypothetical" in kinds:
        return "a hypothetical is not a fact about the user"
    restated = target if action == "revise" else None
    if action == "add":
        restated = next((ln for ln in lines if similar(text, ln.text)), None)
    if restated is not None and action == "add" and "correction" in kinds:
        return "a correction never supports the line it corrects"
    voice = [rows[i] for c in cited for i in c.voice_ids if i in rows]
    if restated is not None and voice and all(_echoes(restated.text, m) for m in voice):
        return "the profile's own text coming back is not new support"
    seen = [rows[i] for i in dict.fromkeys(i for c in cited for i in c.message_ids) if i in rows]
    problem = evidence_problem(seen, text if action != "retire" else None)
    if problem:
        return f"evidence rejected: {problem}"
    if action == "add":
        convs = {m["conversation_id"] for m in voice}
        if any(state.new_lines[c] >= MAX_NEW_LINES_PER_CONVERSATION for c in convs):
            return (
                f"conversation already added {MAX_NEW_LINES_PER_CONVERSATION} lines in this update"
            )
    return None


def _echoes(line: str, message: dict) -> bool:
    """The message repeats the profile line (pasted back, or an assistant echo quoted)."""
    text = message.get("text") or ""
    if normalize(line) and normalize(line) in normalize(text):
        return True
    return any(similar(line, s) for s in sentences(text))


# --- AlignXplore+ free-text summaries --------------------------------------------------------

_THINK_TAIL = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s*(.+?)\s*#*|\*\*(.+?):?\*\*:?)\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+(.*\S)\s*$")
_HINTS = (
    ("Avoid", r"\b(avoid|dislikes?|don'?t|never|not\s+to|hates?)\b"),
    ("Expertise", r"\b(expert|experienced|works?\s+(as|with|in|on)|engineer|developer|stack)\b"),
    ("Values and constraints", r"\b(values?|privacy|budget|must|constraint|ethic\w*|licen[cs]e)\b"),
    ("Interests", r"\b(interest\w*|enjoys?|hobb\w+|curious)\b"),
)


def strip_think(text: str) -> str:
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    m = _THINK_TAIL.search(text)
    return (m.group(1) if m else text).strip()


def parse_summary(text: str) -> list[tuple[str | None, str]]:
    """A free-text preference summary as (section or None, item) pairs."""
    items: list[tuple[str | None, str]] = []
    section, loose = None, []
    for raw in strip_think(text).splitlines():
        if not raw.strip():
            continue
        h = _HEADING.match(raw)
        if h:
            section = (h.group(1) or h.group(2)).strip().rstrip(":")
        elif m := _ITEM.match(raw):
            items.append((section, _clean(m.group(1))))
        else:
            loose.append(raw.strip())
    if not items and loose:
        items = [(None, _clean(s)) for s in sentences(" ".join(loose)) if len(s.split()) >= 3]
    return [(s, t) for s, t in items if t]


def _clean(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text).strip()[:MAX_LINE].strip()


def guess_section(text: str, sections: list[str]) -> str:
    for name, rx in _HINTS:
        if name in sections and re.search(rx, text, re.I):
            return name
    return sections[0]


def summary_to_operations(summary: str, lines, labels: list[str]) -> list[dict]:
    """Diff a complete new summary against the profile into line operations.

    Items close to a line leave it alone; new items are added; model lines the summary dropped
    are retired (within the update's retire bound). User lines are never touched. Every
    operation cites every label: the summary rests on all of what was read."""
    items = parse_summary(summary)
    if not items:
        raise InferenceError("the model's summary is empty; nothing was changed")
    sections = sections_for(lines)
    matched: set[int] = set()
    ops: list[dict] = []
    for section, text in items:
        hit = next(
            (i for i, ln in enumerate(lines, 1) if i not in matched and similar(text, ln.text)),
            None,
        )
        if hit is not None:
            matched.add(hit)
            continue
        named = next((s for s in sections if section and normalize(s) == normalize(section)), None)
        sec = named or guess_section(text, sections)
        ops.append({"op": "add", "section": sec, "line": 0, "text": text, "evidence": labels})
    for i, ln in enumerate(lines, 1):
        if i not in matched and ln.editable:
            ops.append(
                {"op": "retire", "section": ln.section, "line": i, "text": "", "evidence": labels}
            )
    return ops
