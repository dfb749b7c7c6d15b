"""Google Takeout "My Activity" for Gemini Apps (MyActivity.json).

Each row is one prompt ("Prompted ...") plus the model's HTML answer(s); several answers in one
row are regenerations (the first is taken as the one kept). Rows from other products and
non-chat verbs ("Created", "Used", "Gave feedback") are ignored. There are no ids: a row's key is
a hash of its time and prompt; rows are grouped into conversations by the gemini.google.com/app
id in `details`, else by UTC day (chat-formats.md section 3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from typing import Any

from .common import Conversation, Message, Pair, Record, Skipped, content_hash, to_utc

FORMAT = "gemini"
HEADERS = {"gemini apps", "bard", "gemini"}
CHAT_VERBS = ("Prompted", "Branched", "Answered", "Asked", "You said")
_APP = re.compile(r"gemini\.google\.com/app/([0-9A-Za-z_-]+)")


def _is_gemini(row: Any) -> bool:
    if not isinstance(row, dict):
        return False
    header = str(row.get("header") or "").lower()
    products = [str(p).lower() for p in row.get("products") or []]
    return (
        header in HEADERS
        or header.startswith("gemini")
        or any("gemini" in p or p == "bard" for p in products)
    )


def matches(first: Any) -> bool:
    return (
        isinstance(first, dict)
        and "header" in first
        and "time" in first
        and "title" in first
        and (_is_gemini(first) or "safeHtmlItem" in first)
    )


def records(items: Iterable[Any]) -> Iterator[Record]:
    for i, row in enumerate(items):
        if not _is_gemini(row) or "safeHtmlItem" not in row and not _chat_title(row):
            continue
        try:
            conv = _row(row)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            yield Skipped(f"row #{i + 1}", f"unexpected structure ({type(e).__name__}: {e})")
            continue
        if conv is not None:
            yield conv


def _chat_title(row: dict) -> str | None:
    title = row.get("title")
    if not isinstance(title, str):
        return None
    for verb in CHAT_VERBS:
        if title.startswith(verb):
            return title[len(verb) :].lstrip(": ").strip() if len(title) > len(verb) else ""
    return None


def _row(row: dict) -> Conversation | None:
    prompt = _chat_title(row)
    if prompt is None:
        return None
    time = row.get("time")
    when = to_utc(time)
    answers = [
        html_to_text(h.get("html", ""))
        for h in row.get("safeHtmlItem") or []
        if isinstance(h, dict)
    ]
    answers = [a for a in answers if a.strip()]
    conv_id = None
    for d in row.get("details") or []:
        match = _APP.search(str((d or {}).get("url") or (d or {}).get("name") or ""))
        if match:
            conv_id = match.group(1)
            break
    if conv_id is None:
        conv_id = "day-" + (when or "unknown")[:10]
    key = content_hash(time, prompt)
    user = Message(
        id=key,
        role="user",
        text=prompt,
        created_raw=time,
        created_at=when,
        hidden=not prompt.strip(),
    )
    if row.get("attachedFiles") or row.get("imageFile"):
        user.meta = {
            "files": list(row.get("attachedFiles") or [])
            + ([row["imageFile"]] if row.get("imageFile") else [])
        }
    messages = [user]
    for j, text in enumerate(answers):
        messages.append(
            Message(
                id=f"{key}:a{j}",
                role="assistant",
                text=text,
                parent=key,
                created_raw=time,
                created_at=when,
                on_active_path=j == 0,
                seq=1,
            )
        )
    pairs = [
        Pair(
            chosen=messages[1].id, rejected=m.id, prompt=key, origin="regeneration", created_at=when
        )
        for m in messages[2:]
        if m.text.strip() != messages[1].text.strip()
    ]
    return Conversation(
        id=conv_id,
        messages=messages,
        title=prompt[:80] or None,
        created_raw=time,
        created_at=when,
        updated_at=when,
        pairs=pairs,
    )


class _Text(HTMLParser):
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "ul",
        "ol",
        "table",
        "hr",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "li":
            self.out.append("\n- ")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        self.out.append(data)


def html_to_text(html: str) -> str:
    if not isinstance(html, str):
        return ""
    p = _Text()
    p.feed(html)
    p.close()
    text = "".join(p.out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
