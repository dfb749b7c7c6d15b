"""ChatGPT data export: conversations.json (array, {"conversations": [...]}, or one conversation),
plus message_feedback.json and model_comparisons.json from the export zip.

See ../shared/research/chat-formats.md section 1. The mapping is a tree; current_node is the leaf
the user kept; one assistant turn may span several nodes (thoughts -> tool -> recap -> text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .common import (
    Conversation,
    CorruptConversation,
    Feedback,
    Message,
    Pair,
    Record,
    Skipped,
    branch_pairs,
    content_hash,
    link_tree,
    raw_time,
    to_utc,
)

FORMAT = "chatgpt"

HIDDEN_TYPES = {
    "code",
    "execution_output",
    "tether_browsing_display",
    "tether_browsing_code",
    "tether_quote",
    "sonic_webpage",
    "system_error",
    "computer_output",
    "citable_code_output",
    "thoughts",
    "reasoning_recap",
    "user_editable_context",
    "model_editable_context",
}
KNOWN_ROLES = {"user", "assistant", "system", "tool"}


def matches(first: Any) -> bool:
    return (
        isinstance(first, dict)
        and isinstance(first.get("mapping"), dict)
        and ("current_node" in first or isinstance(first.get("create_time"), (int, float)))
    )


def conversations_of(obj: Any) -> Iterable[Any] | None:
    """The conversation list inside a top-level object, or None if it is not ChatGPT-shaped."""
    if matches(obj):
        return [obj]
    convs = obj.get("conversations") if isinstance(obj, dict) else None
    if isinstance(convs, list) and convs and matches(next((c for c in convs if c), None)):
        return convs
    return None


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, conv in enumerate(items):
        if conv is None:
            continue
        cid = _conv_id(conv) if isinstance(conv, dict) else None
        try:
            if not isinstance(conv, dict) or not isinstance(conv.get("mapping"), dict):
                raise CorruptConversation("no message mapping")
            yield parse_conversation(conv)
        except CorruptConversation as e:
            yield Skipped(cid or f"#{i + 1}", str(e))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(cid or f"#{i + 1}", f"unexpected structure ({type(e).__name__}: {e})")


def _conv_id(conv: dict) -> str:
    cid = conv.get("conversation_id") or conv.get("id")
    if isinstance(cid, str) and cid:
        return cid
    mapping = conv.get("mapping")
    keys = sorted(mapping) if isinstance(mapping, dict) else []
    return "h" + content_hash(conv.get("title"), conv.get("create_time"), keys)


def parse_conversation(conv: dict) -> Conversation:
    mapping: dict = conv["mapping"]
    messages = []
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise CorruptConversation(f"node {key!r} is not an object")
        msg = node.get("message")
        if not msg:
            continue
        parent = node.get("parent")
        if parent is not None and parent in mapping and not (mapping[parent] or {}).get("message"):
            parent = _through_empty(mapping, parent)
        if not isinstance(msg, dict):
            raise CorruptConversation(f"node {key!r} has a message that is not an object")
        messages.append(_message(str(key), msg, parent if isinstance(parent, str) else None))
    leaf = conv.get("current_node")
    kept = _skip_empty_to_message(mapping, leaf)
    used = link_tree(messages, kept)
    return Conversation(
        id=_conv_id(conv),
        messages=messages,
        title=conv.get("title"),
        created_raw=raw_time(conv.get("create_time")),
        created_at=to_utc(conv.get("create_time")),
        updated_at=to_utc(conv.get("update_time")),
        current_leaf=used if kept is not None and used == kept else None,
        meta=_conv_meta(conv),
        pairs=branch_pairs(messages),
    )


def _through_empty(mapping: dict, parent: Any) -> Any:
    """Message-less nodes (the root) are not stored: the nearest ancestor with a message, or
    the parent id where the chain leaves the mapping (None at the root)."""
    seen = set()
    while parent is not None and parent in mapping and not (mapping[parent] or {}).get("message"):
        if parent in seen:
            raise CorruptConversation("the message tree has a cycle (a node is its own ancestor)")
        seen.add(parent)
        parent = (mapping[parent] or {}).get("parent")
    return parent


def _skip_empty_to_message(mapping: dict, leaf: Any) -> str | None:
    """current_node may name a message-less node; walk up to the nearest stored message."""
    seen = set()
    while isinstance(leaf, str) and leaf in mapping and leaf not in seen:
        seen.add(leaf)
        node = mapping[leaf] or {}
        if node.get("message"):
            return leaf
        leaf = node.get("parent")
    return None


def _conv_meta(conv: dict) -> dict | None:
    meta = {
        k: conv[k]
        for k in (
            "default_model_slug",
            "gizmo_id",
            "is_archived",
            "is_do_not_remember",
            "memory_scope",
        )
        if conv.get(k) is not None
    }
    return meta or None


def _message(key: str, msg: dict, parent: str | None) -> Message:
    get = msg.get  # one message costs about 7 µs here: every lookup counts (issue 14)
    author = get("author") or {}
    role = author.get("role") or "unknown"
    if role == "function":
        role = "tool"
    content = get("content") or {}
    ctype = content.get("content_type") or "text"
    metadata = get("metadata") or {}
    name = author.get("name")
    text = text_of(content)
    recipient = get("recipient")
    hidden = (
        role not in ("user", "assistant")
        or ctype in HIDDEN_TYPES
        or bool(metadata.get("is_visually_hidden_from_conversation"))
        or recipient not in (None, "all")
        or get("weight") == 0
        or not text.strip()
    )
    if (
        ctype == "user_editable_context"
        or metadata.get("is_user_system_message")
        or metadata.get("user_context_message_data")
    ):  # what _custom_instructions() reads; it is None for every other message
        instructions = _custom_instructions(content, metadata)
    else:
        instructions = None
    if instructions is not None:
        role, name, text, hidden = "user", "custom_instructions", instructions, True
    elif role not in KNOWN_ROLES:
        hidden = True
    status = get("status")
    finish = (metadata.get("finish_details") or {}).get("type")
    if finish == "interrupted" or status == "in_progress":
        status = "interrupted"
    elif status == "finished_successfully":
        status = "finished"
    meta = {}
    if recipient not in (None, "all"):
        meta["recipient"] = recipient
    channel = get("channel")
    if channel:
        meta["channel"] = channel
    attachments = metadata.get("attachments")
    if attachments:
        meta["attachments"] = [a.get("name") for a in attachments if isinstance(a, dict)]
    created = get("create_time")
    return Message(
        id=key,
        role=role,
        text=text,
        parent=parent,
        author_name=name,
        content_type=ctype,
        created_raw=raw_time(created),
        created_at=to_utc(created),
        hidden=hidden,
        status=status,
        model=metadata.get("model_slug"),
        meta=meta or None,
    )


def text_of(content: dict) -> str:
    """The text of a message's content, whatever field this content type keeps it in."""
    ctype = content.get("content_type")
    if ctype == "text":  # most messages: one plain part, itself the text
        parts = content.get("parts")
        if type(parts) is list and len(parts) == 1 and type(parts[0]) is str:
            return parts[0]
    elif ctype == "thoughts":
        out = []
        for t in content.get("thoughts") or []:
            if isinstance(t, dict):
                out += [s for s in (t.get("summary"), t.get("content")) if isinstance(s, str) and s]
        return "\n\n".join(out)
    elif ctype == "user_editable_context":
        return "\n\n".join(
            s for s in (content.get("user_profile"), content.get("user_instructions")) if s
        )
    elif ctype in ("tether_quote", "sonic_webpage"):
        return "\n\n".join(
            s for s in (content.get("title"), content.get("text")) if isinstance(s, str) and s
        )
    elif ctype == "system_error":
        return ": ".join(
            s for s in (content.get("name"), content.get("text")) if isinstance(s, str) and s
        )
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(t for t in (_part_text(p) for p in parts) if t)
    for key in ("text", "result", "content", "output_str", "model_set_context", "summary"):
        v = content.get(key)
        if isinstance(v, str):
            return v
    return ""


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("content_type", "")
    if isinstance(part.get("text"), str):
        return part["text"]
    if kind == "image_asset_pointer":
        return "[image]"
    if kind in ("audio_asset_pointer", "real_time_user_audio_video_asset_pointer"):
        return "[audio]"
    return ""


_FENCE = re.compile(r"```+\s*\n?(.*?)\n?```+", re.S)


def _custom_instructions(content: dict, metadata: dict) -> str | None:
    """The user's own custom-instruction text, without OpenAI's wrapper, or None."""
    if content.get("content_type") == "user_editable_context":
        fields = [content.get("user_profile"), content.get("user_instructions")]
    elif metadata.get("is_user_system_message") or metadata.get("user_context_message_data"):
        data = metadata.get("user_context_message_data") or {}
        fields = [data.get("about_user_message"), data.get("about_model_message")]
    else:
        return None
    out = [_unwrap(f) for f in fields if isinstance(f, str) and f.strip()]
    return "\n\n".join(s for s in out if s)


def _unwrap(text: str) -> str:
    """user_editable_context wraps the user's text in instructions to the model and a fence."""
    if "```" in text and re.search(r"(?i)the user provided|user profile:|user instructions:", text):
        blocks = [b.strip() for b in _FENCE.findall(text)]
        if blocks:
            return "\n\n".join(b for b in blocks if b)
    return text.strip()


# -- companion files ------------------------------------------------------------------------------

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def norm_id(value: Any) -> str | None:
    """Ids appear with and without dashes: 32 hex digits get the 8-4-4-4-12 dashes back."""
    if not isinstance(value, str) or not value:
        return None
    if _HEX32.fullmatch(value):
        v = value.lower()
        return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"
    return value


RATINGS = {"thumbsup": 1, "thumbs_up": 1, "thumbsdown": -1, "thumbs_down": -1}


def is_feedback(first: Any) -> bool:
    return isinstance(first, dict) and "rating" in first and "conversation_id" in first


def feedback_records(items: Iterable[Any]) -> Iterator[Record]:
    for i, row in enumerate(items):
        if not isinstance(row, dict):
            continue
        rating = RATINGS.get(str(row.get("rating", "")).lower())
        msg = norm_id(row.get("message_id") or row.get("id"))
        if rating is None or msg is None:
            yield Skipped(
                f"feedback #{i + 1}", f"unknown rating {row.get('rating')!r} or no message id"
            )
            continue
        text = None
        body = row.get("content")
        if isinstance(body, str) and body.strip():
            try:
                body = json.loads(body)
            except ValueError:
                body = {"text": body}
        if isinstance(body, dict) and isinstance(body.get("text"), str):
            text = body["text"]
        yield Feedback(
            id=f"{msg}:{'up' if rating > 0 else 'down'}",
            rating=rating,
            conversation=norm_id(row.get("conversation_id")),
            message=msg,
            text=text,
            created_at=to_utc(row.get("create_time")),
        )


def is_comparison(first: Any) -> bool:
    return (
        isinstance(first, dict)
        and isinstance(first.get("input"), dict)
        and "output" in first
        and ("prompt_convo" in first["input"])
    )


def comparison_records(items: Iterable[Any]) -> Iterator[Record]:
    """model_comparisons.json: explicit A/B choices between an original and a regenerated turn."""
    for i, row in enumerate(items):
        try:
            step2 = ((row.get("output") or {}).get("feedback_step_2")) or {}
            verdict = step2.get("completion_comparison_rating")
            original = _turn_text(step2.get("original_turn"))
            new = _turn_text(step2.get("new_turn"))
            if verdict not in ("new", "original") or not original or not new or original == new:
                continue
            convo = (row.get("input") or {}).get("prompt_convo") or {}
            prompt = next(
                (
                    text_of(m.get("content") or {})
                    for m in reversed(convo.get("messages") or [])
                    if (m.get("author") or {}).get("role") == "user"
                ),
                None,
            )
            chosen, rejected = (new, original) if verdict == "new" else (original, new)
            yield Pair(
                chosen=None,
                rejected=None,
                origin="comparison",
                prompt_text=prompt,
                chosen_text=chosen,
                rejected_text=rejected,
                native_id=str(row.get("id") or content_hash(prompt, chosen, rejected)),
                conversation=norm_id((row.get("input") or {}).get("conversation_id")),
                created_at=to_utc(row.get("create_time")),
            )
        except (AttributeError, TypeError, KeyError) as e:
            yield Skipped(f"comparison #{i + 1}", f"unexpected structure ({type(e).__name__})")


def _turn_text(turn: Any) -> str:
    if not isinstance(turn, list):
        return ""
    out = []
    for m in turn:
        if isinstance(m, dict) and (m.get("author") or {}).get("role") == "assistant":
            out.append(text_of(m.get("content") or {}))
    return "\n".join(t for t in out if t).strip()
