"""Rules about text that several modules apply: each is written once, here.

Pure functions and patterns (no I/O, no database); cheap to import. What is "the same line",
how a count is written, what time it is, which characters are invisible, which strings are a
chat format's special tokens, what part of a message is the user's own words, how many tokens
a text is when no tokenizer is at hand.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime
from functools import cache

DEFAULT_PROFILE = "default"  # the profile kept in profile.md (others: profile-NAME.md)

SIMILARITY = 0.85  # difflib ratio on normalized text at or above which two lines are "the same"
TOKEN_JACCARD = 0.8  # or this word overlap (word order, small insertions)

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English with BPE tokenizers
SAFE_CHARS_PER_TOKEN = 3  # over-counts English, so a context window is never overrun


def profile_name(profile: str | None) -> str:
    """The stored name of a profile (None: the default one)."""
    return profile or DEFAULT_PROFILE


# -- sameness -------------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Case, punctuation and whitespace folded: the key for "the same or nearly the same words"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def similar(a: str, b: str) -> bool:
    """True when two lines say the same thing in the same or nearly the same words."""
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return True
    if not na or not nb:
        return False
    ta, tb = set(na.split()), set(nb.split())
    if len(ta) >= 3 and len(tb) >= 3 and len(ta & tb) / len(ta | tb) >= TOKEN_JACCARD:
        return True
    from difflib import SequenceMatcher

    m = SequenceMatcher(None, na, nb, autojunk=False)
    # the cheap upper bounds first: most pairs are far apart
    return (
        m.real_quick_ratio() >= SIMILARITY
        and m.quick_ratio() >= SIMILARITY
        and m.ratio() >= SIMILARITY
    )


# -- shaping text ---------------------------------------------------------------------------------


def squash(text: str) -> str:
    """Runs of whitespace (newlines included) as one space, ends trimmed."""
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    """``text`` squashed and cut to at most ``limit`` characters, at a word where one is near,
    ending with an ellipsis when anything was cut."""
    text = squash(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 message``, ``3 messages`` (``many``: the plural when it is not word + "s")."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def estimate_tokens(text: str, *, safe: bool = False) -> int:
    """Tokens when no tokenizer is at hand: characters / 4, rounded up (the usual estimate for
    English); ``safe``: characters / 3, which over-counts so a context window is never overrun."""
    return math.ceil(len(text) / (SAFE_CHARS_PER_TOKEN if safe else CHARS_PER_TOKEN))


# -- time -----------------------------------------------------------------------------------------


def utc_now() -> str:
    """The time now as pxprofile stores it: UTC to the second, ``2026-11-30T01:02:03Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_today() -> str:
    """Today's date in UTC, ``2026-11-30``."""
    return datetime.now(UTC).date().isoformat()


# -- characters and tokens that hide or smuggle ------------------------------------------------

# The patterns below are compiled on first use (module __getattr__): most commands need none.
_PATTERNS = {
    # Unicode Tags (ASCII smuggling), bidi controls, zero-width and other invisible format chars.
    "INVISIBLE_RE": (
        "[\U000e0000-\U000e007f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e"
        "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]",
        0,
    ),
    # Special-token strings of common chat formats (ChatML/Qwen, Llama 2/3, Gemma, Mistral, Phi).
    "SPECIAL_TOKEN_RE": (
        r"<\|[^|>\n]{1,40}\|>"  # <|im_start|>, <|eot_id|>, <|start_header_id|>, <|user|> ...
        r"|<(?:/?s|bos|eos|pad|unk|mask|start_of_turn|end_of_turn|start_of_image|end_of_image"
        r"|/?think|/?tool_call|/?tool_response)>"
        r"|<\|?(?:eot|eos|bos)[^>]*>"
        r"|\[/?INST\]|<</?SYS>>|\[/?(?:AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS|SYSTEM_PROMPT)\]",
        re.IGNORECASE,
    ),
}


def __getattr__(name: str):
    if name not in _PATTERNS:
        raise AttributeError(f"module 'pxprofile.text' has no attribute {name!r}")
    pattern, flags = _PATTERNS[name]
    compiled = globals()[name] = re.compile(pattern, flags)
    return compiled


def strip_think(text: str, *, opened: bool = False) -> str:
    """Drop <think>...</think> reasoning. ``opened``: the prompt itself ended with "<think>", so
    the output starts inside the block. Reasoning cut off before its "</think>" leaves nothing."""
    if opened:
        text = text.split("</think>", 1)[1] if "</think>" in text else ""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL).strip()
    return "" if text.startswith("<think>") else text


# -- the user's own words -------------------------------------------------------------------------


@cache
def _own_words_patterns() -> dict[str, re.Pattern]:
    return {
        "fence": re.compile(r"(?ms)^[ \t]*(```|~~~).*?(?:^[ \t]*\1[^\n]*$|\Z)"),
        "quote": re.compile(r"(?m)^[ \t]*>.*$"),
        "headers": re.compile(
            r"(?ims)^[ \t]*(?:from|to|cc|subject|date|sent|reply-to):[^\n]*\n"
            r"(?:[ \t]*[\w-]+:[^\n]*\n)*.*\Z"
        ),
        "forwarded": re.compile(r"(?is)-{3,}\s*(?:forwarded|original) message\s*-{3,}.*\Z"),
        # "Summarize this: <pasted>" and its relatives: what follows is someone else's text
        "paste": re.compile(_PASTE_TRIGGER),
    }


_PASTE_TRIGGER = (
    r"(?is)\b(?:summari[sz]e|translate|explain|review|proofread|rewrite|paraphrase|analy[sz]e|"
    r"fix|edit|check|shorten|simplify|tl;?dr|critique|respond to|reply to|answer)\b[^\n:]{0,60}?"
    r"(?:\b(?:this|these|the following|below|that|it|article|email|text|page|document|message|"
    r"post|code|passage|paragraph|excerpt|thread)\b)[^\n:]{0,30}[:\n]"
    r"|\b(?:here(?:'s| is) (?:the|an?|my|some)\s[^\n:]{0,40}[:\n])"
)
PASTED_PARAGRAPH_CHARS = 800


def own_words(text: str) -> tuple[str, str]:
    """Split a user message into (the user's own words, the pasted or quoted part): code fences,
    forwarded mail, e-mail headers, what follows "summarize this:", "> " quotes and long pasted
    paragraphs are not the user's words."""
    pasted: list[str] = []

    def cut(rx: re.Pattern, s: str) -> str:
        def keep(m: re.Match) -> str:
            pasted.append(m.group(0))
            return "\n"

        return rx.sub(keep, s)

    rx = _own_words_patterns()
    s = text or ""
    s = cut(rx["fence"], s)
    s = cut(rx["forwarded"], s)
    s = cut(rx["headers"], s)
    m = rx["paste"].search(s)
    if m:
        pasted.append(s[m.end() :])
        s = s[: m.end()]
    s = cut(rx["quote"], s)
    paragraphs = re.split(r"\n[ \t]*\n", s)
    kept = []
    for p in paragraphs:
        if len(p) > PASTED_PARAGRAPH_CHARS and len(paragraphs) > 1:
            pasted.append(p)
        else:
            kept.append(p)
    return "\n\n".join(kept).strip(), "\n".join(pasted)
