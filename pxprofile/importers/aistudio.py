"""Google AI Studio prompt files (saved to Drive, no extension): one object
``{"runSettings": {...}, "systemInstruction": {...}, "chunkedPrompt": {"chunks": [...]}}``.

Each chunk is ``{"role": "user"|"model", "text", "tokenCount", "isThought"?, ...}``: user chunks
are the user's turns, model chunks the assistant's; chunks with ``isThought`` (or ``parts`` marked
``thought``) are the model's reasoning, stored hidden and never read as the user's voice. The
file has no ids or times: message keys are content hashes chained to the previous message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .common import Conversation, Message, Record, Skipped, content_hash, link_tree

FORMAT = "aistudio"
ROLES = {"user": "user", "model": "assistant", "assistant": "assistant", "system": "system"}


def _chunks(obj: Any) -> list | None:
    prompt = obj.get("chunkedPrompt") if isinstance(obj, dict) else None
    chunks = prompt.get("chunks") if isinstance(prompt, dict) else None
    return chunks if isinstance(chunks, list) else None


def matches(obj: Any) -> bool:
    return _chunks(obj) is not None


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, obj in enumerate(items):
        if not matches(obj):
            yield Skipped(f"#{i + 1}", "no chunkedPrompt.chunks list")
            continue
        conv = _conversation(obj)
        if conv is None:
            yield Skipped(f"#{i + 1}", "no chunk holds text")
            continue
        yield conv


def _text(chunk: dict) -> tuple[str, bool]:
    """The chunk's text and whether it is a thought."""
    thought = bool(chunk.get("isThought"))
    if isinstance(chunk.get("text"), str):
        return chunk["text"], thought
    parts = [p for p in chunk.get("parts") or [] if isinstance(p, dict)]
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str)]
    if parts and all(p.get("thought") for p in parts if "text" in p):
        thought = thought or bool(texts)
    return "".join(texts), thought


def _system(obj: dict) -> str:
    si = obj.get("systemInstruction")
    if isinstance(si, str):
        return si
    if not isinstance(si, dict):
        return ""
    if isinstance(si.get("text"), str):
        return si["text"]
    return "".join(p.get("text", "") for p in si.get("parts") or [] if isinstance(p, dict))


def _conversation(obj: dict) -> Conversation | None:
    messages: list[Message] = []
    prev: str | None = None
    system = _system(obj).strip()
    if system:
        prev = "s" + content_hash("system", system)
        messages.append(Message(prev, "system", system, None, hidden=True))
    for chunk in _chunks(obj) or []:
        if not isinstance(chunk, dict):
            continue
        text, thought = _text(chunk)
        role = ROLES.get(str(chunk.get("role") or "").lower(), "unknown")
        files = [
            (chunk.get(k) or {}).get("name") or (chunk.get(k) or {}).get("id")
            for k in ("driveDocument", "driveImage", "driveVideo")
            if isinstance(chunk.get(k), dict)
        ]
        if not text.strip() and not files:
            continue
        key = content_hash(prev, role, text, thought, files)
        messages.append(
            Message(
                key,
                "assistant" if thought else role,
                text.strip() if role == "assistant" else text,
                prev,
                content_type="thought" if thought else "text",
                hidden=thought or role not in ("user", "assistant") or not text.strip(),
                model=_model(obj) if role == "assistant" else None,
                meta={"files": [f for f in files if f]} if any(files) else None,
            )
        )
        prev = key
    if not any(not m.hidden for m in messages):
        return None
    link_tree(messages, prev)
    first_user = next((m.text for m in messages if m.role == "user" and m.text.strip()), "")
    return Conversation(
        id=str(obj.get("id") or content_hash([(m.role, m.text) for m in messages[:4]])),
        messages=messages,
        title=obj.get("title") or (first_user.strip().splitlines()[0][:80] if first_user else None),
        current_leaf=prev,
    )


def _model(obj: dict) -> str | None:
    rs = obj.get("runSettings")
    return rs.get("model") if isinstance(rs, dict) and isinstance(rs.get("model"), str) else None
