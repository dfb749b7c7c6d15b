"""What an update tells people and pipelines: the summary line, --verbose detail, --json."""

from __future__ import annotations

from collections import Counter

from .signals import VOICELESS


def _n(k: int, word: str, plural: str | None = None) -> str:
    return f"{k:,} {word if k == 1 else plural or word + 's'}"


def _share(part: int, whole: int) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def summary(r) -> str:
    """A few lines for people (stderr): coverage of the user's messages, changes, what next."""
    if r.status == "nothing-new":
        return "Nothing new to learn from: the profile is up to date."
    if r.status == "no-model":
        return ""
    verb = "Would change" if r.dry_run else "Changed"
    text = (
        f"Read {r.user_messages_read:,} of {_n(r.user_messages_available, 'new message')} you "
        f"wrote{_share(r.user_messages_read, r.user_messages_available)}"
    )
    if r.readings or r.cached or r.observations:
        text += f", {_n(r.observations, 'observation')}"
    text += ". "
    counts = Counter(c.action for c in r.applied)
    if r.applied:
        text += (
            f"{verb} the profile: {counts['add']} added, {counts['revise']} revised, "
            f"{counts['retire']} retired"
        )
    else:
        text += "No change to the profile"
    if r.rejected:
        text += f"; {_n(len(r.rejected), 'proposed change')} rejected"
    text += "."
    if r.errors:
        text += " " + " ".join(dict.fromkeys(r.errors))
    if r.proposed_path:
        text += (
            f" The profile changed while updating: the proposal is in {r.proposed_path};"
            " merge it by hand or run `pxprofile update` again."
        )
    left = r.user_messages_left
    if left and r.status != "interrupted":
        text += f"\n{_n(left, 'message')} you wrote not read yet"
        if r.conversations_left:
            text += f" ({_n(r.conversations_left, 'conversation')})"
        if r.errors and not r.conversations_left:
            text += ": `pxprofile update` tries again."
        else:
            text += ": `pxprofile update` continues; `--all` reads the rest."
    return text


def explain(r) -> list[str]:
    """--verbose: what counted as read without the model and why, rejections, costs."""
    out = []
    if r.voiceless:
        parts = "; ".join(
            f"{VOICELESS.get(why, why)}: {n:,}" for why, n in r.voiceless.most_common()
        )
        out.append(
            f"Not the user's own voice, counted as read with their conversation: {parts}. "
            "Only what the user wrote, chose or rated is evidence."
        )
    out.append(
        f"Model calls: {r.readings} reading, {r.batches} merge; {r.cached} conversation"
        f"{'s' if r.cached != 1 else ''} reused from earlier readings; "
        f"{r.prompt_tokens:,} prompt and {r.completion_tokens:,} generated tokens."
    )
    for op, reason in r.rejected:
        out.append(f"Rejected {describe(op)}: {reason}")
    return out


def describe(op: dict) -> str:
    action = op.get("op") or ("observation" if "kind" in op else "?")
    if action == "add":
        return f"add to {op.get('section')!s}: {op.get('text')!r}"
    if action == "observation":
        return f"observation {op.get('text')!r}"
    where = op.get("line") if op.get("line") is not None else op.get("line_id")
    return f"{action} line {where}" + (f": {op.get('text')!r}" if op.get("text") else "")


def as_dict(r) -> dict:
    return {
        "status": r.status,
        "update_id": r.update_id,
        "model": r.model,
        "user_messages_read": r.user_messages_read,
        "user_messages_available": r.user_messages_available,
        "user_messages_left": r.user_messages_left,
        "messages_read": r.messages_read,
        "messages_available": r.messages_available,
        "conversations_read": r.conversations_read,
        "conversations_left": r.conversations_left,
        "readings": r.readings,
        "cached": r.cached,
        "observations": r.observations,
        "batches": r.batches,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "version": r.version,
        "voiceless": dict(r.voiceless),
        "applied": [
            {
                "op": c.action,
                "section": c.section,
                "line_id": c.line_id,
                "text": c.text,
                "evidence": list(c.evidence),
            }
            for c in r.applied
        ],
        "rejected": [{"op": op, "reason": reason} for op, reason in r.rejected],
        "errors": list(r.errors),
        "diff": r.diff,
        "dry_run": r.dry_run,
    }
