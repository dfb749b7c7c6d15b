"""Secrets that no fixed prefix list in redact.py knows: vendored rules, shape and context.

redact.find_secrets calls ``token_findings(text, low)`` for texts that hold a long chunk (16+
characters without whitespace): every other message costs one ``str.split``. Three layers:

1. gitleaks' rule set (MIT; pxprofile/data/secret_rules.json, converted from Go RE2 syntax by
   tests/tools/gitleaks_rules.py with source commit and license noted in the file): a rule runs only
   when one of its keywords occurs in or just before a long chunk, the way gitleaks prefilters.
2. Shape: ``vendor_<random>`` / ``vnd-<random>`` tokens (a short prefix, then 16+ random
   characters of two or more classes and high entropy) -- new vendors' keys without a rule, e.g.
   mem0 ``m0-``, ``hsk-``, ``brv_``; query parameters that carry credentials (``sig=``,
   ``token=``); and any 32+ character mixed-case random token.
3. Context: a token-shaped value shortly after a word that names a credential, in English,
   German, Spanish, French, Portuguese, Italian, Dutch, Polish, Russian, Chinese, Japanese and
   Korean ("my key is ...", "Token: ...", "der API-Schlüssel lautet ...").

Look-alikes are left alone: hex digests (git SHAs, sha256), UUIDs, model names
(``Meta-Llama-3.1-8B``), base64 after ``base64,``, placeholders (``xxxx``, ``<your-key>``).
Everything compiles on first use, so importing pxprofile stays fast.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from functools import cache
from pathlib import Path

LONG = 16  # a chunk shorter than this holds no token these rules look for

_WINDOW = 60  # characters before a chunk searched for a rule's keyword or a credential word


@cache
def _rules() -> tuple[list[tuple[str, re.Pattern, float, int]], dict[str, list[tuple[str, list]]]]:
    """The vendored rules, and their keywords indexed by first three characters (shorter
    keywords under themselves), so a text is tested only against keywords that can occur."""
    data = json.loads((Path(__file__).parent / "data" / "secret_rules.json").read_text("utf-8"))
    rules, by_kw = [], {}
    for i, (rid, rx, kws, entropy, group) in enumerate(data["rules"]):
        rules.append((rid, re.compile(rx), float(entropy), int(group)))
        for k in kws:
            by_kw.setdefault(k, []).append(i)
    by_gram: dict[str, list[tuple[str, list]]] = {}
    for k, ids in by_kw.items():
        by_gram.setdefault(k[:3], []).append((k, ids))
    return rules, by_gram


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _classes(s: str) -> int:
    return any(c.islower() for c in s) + any(c.isupper() for c in s) + any(c.isdigit() for c in s)


_PLACEHOLDER = re.compile(
    r"(?i)(?:x{4,}|\*{4,}|\.{4,}|<[^>]*>|\{[^}]*\}|your|example|placeholder|redacted|changeme|"
    r"dummy|sample|0123456789|123456789|abcdefghij|qwertyuiop)"
)
_HEXISH = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_UUID = re.compile(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def looks_random(v: str, *, min_len: int = LONG, min_entropy: float = 3.3) -> bool:
    """Whether ``v`` looks like generated key material rather than a word, hash or placeholder."""
    if len(v) < min_len or _PLACEHOLDER.search(v) or _UUID.search(v):
        return False
    core = v.replace("-", "").replace("_", "")
    if _HEXISH.fullmatch(core):
        return False  # digests and ids: git SHAs, sha256, md5, object ids
    if _classes(core) < 2:
        return False
    longest = max(re.split(r"[-_.]", v), key=len)
    if len(longest) < 12 or _classes(longest) < 2:
        return False  # names: Meta-Llama-3.1-8B-Instruct-Q4_K_M, localization_settings_v2
    return entropy(core) >= min_entropy


_DIGEST_LABEL = re.compile(
    r"(?:sha(?:1|224|256|384|512)|md5|h1|blake2[bs]?(?:-\d+)?)[-:=~](?:\s*$|(?=[a-z0-9+/]))"
)
_DIGIT = re.compile(r"\d").search
_SUBRUN = re.compile(r"[A-Za-z0-9_\-]{16,}={0,2}")
_RUN = re.compile(r"[A-Za-z0-9_\-+/=.~%]{16,}")
# a short vendor prefix, up to two more short segments, then the random part
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9_])(?P<p>[A-Za-z][A-Za-z0-9]{0,11})[_-](?:[A-Za-z0-9]{1,8}[_-]){0,2}"
    r"(?P<v>[A-Za-z0-9][A-Za-z0-9_-]{15,}(?:\.[A-Za-z0-9_-]+)*)"
)
_NOT_VENDOR = {
    "sha",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "md5",
    "blake2b",
    "commit",
    "hash",
    "uuid",
    "id",
    "rev",
    "build",
    "v",
    "data",
    "base64",
}
# object ids that look like keys (OpenAI, Anthropic, Stripe objects): not secrets
_ID_PREFIXES = set(
    """msg file asst thread run chatcmpl req price prod cus sub pi ch evt inv txn acct batch
    ftjob resp call toolu step vs org cs seti src in ii po tr cmpl comp""".split()
)
# words that say the next value is an identifier, not a credential
_ID_WORDS = re.compile(
    r"(?:\bids?\b|\bdoc\b|\bdocs\b|document|\bfile\b|\bpage\b|video|playlist|channel|"
    r"\bthread\b|\brun\b|\border\b|tracking|\bhash\b|checksum|digest|revision|commit|"
    r"request|message|\bmsg\b|price|product|assistant|completion|\bevent\b|key_id|key id|"
    r"address|wallet|\baddr\b)"
)
_QUERY = re.compile(
    r"(?i)[?&;](?:sig|signature|x-amz-signature|x-goog-signature|token|access_token|api_key|"
    r"apikey|key|secret|password|pwd|auth|code)=(?P<v>[^&\s#\"'<>\[\];]{16,})"
)
_SHAPES = [  # (kind, a cheap gate, the pattern)
    (
        "telegram-bot-token",
        lambda t, low: ":AA" in t,
        re.compile(r"(?<![\w:])\d{8,10}:AA[A-Za-z0-9_-]{33}(?![\w-])"),
    ),
    (
        "discord-bot-token",
        lambda t, low: "." in t,
        re.compile(r"(?<![\w.-])[MNO][A-Za-z\d_-]{23,25}\.[\w-]{6}\.[\w-]{27,38}(?![\w-])"),
    ),
    (
        "azure-storage-key",
        lambda t, low: "accountkey=" in low,
        re.compile(r"(?i)accountkey=(?P<v>[A-Za-z0-9+/]{80,}={0,2})"),
    ),
]
# words that name a credential, in the languages named in the module docstring
_CRED_WORDS = re.compile(  # searched in lowercased text
    r"(?:api[ _-]?key|key|token|secret|passwor[dt]|passwd|credential|bearer|"
    r"schlüssel|kennwort|zugangs\w*|clave|contraseña|llave|clé|mot de passe|jeton|chave|senha|"
    r"chiave|segreto|sleutel|wachtwoord|klucz|hasło|ключ|токен|пароль|секрет|"
    r"密钥|秘钥|令牌|密码|口令|キー|トークン|パスワード|비밀번호|토큰|키)"
)


@cache
def _short_grams() -> tuple[str, ...]:
    """Keywords shorter than three characters ("sk", "ey", "s.", "q~"): always candidates."""
    return tuple(g for g in _rules()[1] if len(g) < 3)


def _keyword_rules(low: str, spans: list[tuple[int, int]]) -> set[int]:
    """Rules whose keyword occurs in a long chunk or just before it (gitleaks' prefilter)."""
    by_gram = _rules()[1]
    near = " ".join(low[max(0, s - _WINDOW) : e] for s, e in spans)
    grams = {near[i : i + 3] for i in range(len(near) - 2)}
    grams.update(_short_grams())
    hit: set[int] = set()
    for g in grams.intersection(by_gram):
        for k, ids in by_gram[g]:
            if k in near:
                hit.update(ids)
    return hit


def _long_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of token-character runs of 16+ inside whitespace-free chunks."""
    spans, pos = [], 0
    for word in [w for w in text.split() if len(w) >= LONG]:
        i = text.find(word, pos)
        pos = i + len(word)
        for m in _RUN.finditer(word):
            if _may_be_key(m.group(0)):
                spans.append((i + m.start(), i + m.end()))
    return spans


def _may_be_key(run: str) -> bool:
    """Key material has a digit, or is long and mixed-case: not a path, slug or plain word."""
    if _DIGIT(run):
        return True
    if len(run) < 20 or run.islower():
        return False
    upper = sum(map(str.isupper, run))
    return upper >= 4 and len(run) - upper >= 4


def token_findings(text: str, low: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every secret the three layers find in ``text`` (``low`` is lower)."""
    spans = _long_runs(text)
    if not spans:
        return []
    out: list[tuple[str, int, int]] = []
    rules = _rules()[0]
    for i in sorted(_keyword_rules(low, spans)):
        rid, rx, min_entropy, group = rules[i]
        for m in rx.finditer(text):
            g = group or (1 if rx.groups else 0)
            if m.group(g) is None:
                g = 0
            v = m.group(g)
            if min_entropy and entropy(v) < min_entropy or _PLACEHOLDER.search(v):
                continue
            out.append((rid, m.start(g), m.end(g)))
    for kind, gate, rx in _SHAPES:
        if gate(text, low):
            for m in rx.finditer(text):
                g = "v" if "v" in rx.groupindex else 0
                out.append((kind, m.start(g), m.end(g)))
    if "=" in text and ("?" in text or "&" in text or ";" in text):
        for m in _QUERY.finditer(text):
            out.append(("url-credential", m.start("v"), m.end("v")))
    for s, e in spans:
        out.extend(_shaped(text, low, s, e))
    return out


def _shaped(text: str, low: str, s: int, e: int) -> list[tuple[str, int, int]]:
    """Layers 2 and 3 on one chunk: vendor-prefix shape, long random tokens, credential words."""
    out = []
    chunk = text[s:e]
    for m in _PREFIXED.finditer(chunk):
        p = m.group("p").lower()
        if p in _NOT_VENDOR or p in _ID_PREFIXES or _ID_WORDS.search(low, max(0, s - 30), s):
            continue
        if looks_random(m.group("v")):
            out.append(("api-key", s + m.start(), s + m.end()))
    for m in _SUBRUN.finditer(chunk):
        v = m.group(0)
        core = v.rstrip("=").replace("_", "").replace("-", "")
        if core.isalpha() and (core.islower() or len(v) < 32):
            continue  # words and identifiers (config_production, FileNotFoundError)
        before = low[max(0, s + m.start() - 60) : s + m.start()]
        if (
            "base64," in before[-12:]
            or "data:" in before
            or _DIGEST_LABEL.search(before)
            or _DIGEST_LABEL.match(v.lower()[:12] + " ")
        ):
            continue  # an image, or a digest: sha384-..., SHA256:..., integrity="sha512-..."
        near = before[-25:]
        if _CRED_WORDS.search(near) and not _ID_WORDS.search(near):
            # right after "key", "token", "Passwort": hex and UUID-shaped values count too
            if looks_random(v, min_len=12, min_entropy=3.0) or _hex_token(v):
                out.append(("secret", s + m.start(), s + m.end()))
            continue
        if _CRED_WORDS.search(before) and looks_random(v, min_len=12, min_entropy=3.0):
            out.append(("secret", s + m.start(), s + m.end()))
        elif (
            len(v) >= 32
            and _classes(v) == 3
            and not _ID_WORDS.search(before[-30:])
            and looks_random(v, min_entropy=4.0)
        ):
            out.append(("secret", s + m.start(), s + m.end()))
    return out


def _hex_token(v: str) -> bool:
    core = v.replace("-", "")
    return len(core) >= 32 and bool(_HEXISH.fullmatch(core)) and entropy(core) >= 3.0
