"""Redaction of secrets and PII (offline, idempotent): pure regexes, no network, no models.

CONTRACT: redact(text) -> text with secrets/PII replaced by placeholders such as
``[REDACTED:aws-key]``; redact(redact(x)) == redact(x). Ingest stores the result in
messages.redacted when it differs from the text; everything shown to a model or written to the
profile uses coalesce(redacted, text).

Also here:
    scan(text, *, pii=None) -> Redaction(text, counts, invisible)
        What redact() does, with counts per placeholder kind and the number of invisible
        characters (Unicode Tags, bidi controls, zero-width) stripped: ingest reports these.
    find_secrets(text, *, pii=None) -> list[Finding]
        Every secret (and configured PII) in a text, for the export egress check.
    strip_invisible(text) -> (text, n_removed)
    configured_pii() -> tuple[str, ...]
        The PII kinds to redact: config.toml ``[redact] pii = ["email", "phone", "card"]``
        (the default is all three; ``pii = []`` turns PII redaction off; secrets are always on).

Detectors are format-anchored (fixed prefixes, checksums, keyword context), so high-entropy
non-secrets that fill chat exports (UUIDs, git SHAs, base64 images, model slugs) are left alone.
A token split across a line break (a pasted key that wrapped) is joined and caught too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .text import HIDDEN_RE

PII_KINDS = ("email", "phone", "card")
PLACEHOLDER = "[REDACTED:{}]"
_PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z0-9-]+\]")
_FILLER = re.compile(
    r"(?i)x{6,}|\*{4,}|\.{3,}|…|your[-_]?(?:api[-_]?|access[-_]?|secret[-_]?)?(?:key|token|secret|"
    r"password)|<[^>]*>|\{\{[^}]*\}\}|^(?:replace[-_]?me|change[-_]?me|todo|tbd|fixme|"
    r"placeholder|dummy|redacted|none|null|secret|password|token)$"
)

# what strip_invisible() removes: text.HIDDEN_RE (invisible and byte-smuggling characters)
INVISIBLE_RE = HIDDEN_RE


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str


@dataclass
class Redaction:
    text: str
    counts: Counter = field(default_factory=Counter)  # placeholder kind -> how many
    invisible: int = 0  # invisible characters removed

    @property
    def changed(self) -> bool:
        return bool(self.counts) or self.invisible > 0


# --- secret detectors -------------------------------------------------------------------------
# (kind, pattern, group): the group (0 = whole match) is what gets replaced. Order matters:
# specific formats before generic keyword rules.

_B = r"(?<![A-Za-z0-9_])"  # a token boundary that treats _ as part of a token
_E = r"(?![A-Za-z0-9_])"

_TOKEN_PATTERNS: list[tuple[str, str]] = [
    (
        "aws-access-key",
        _B + r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}" + _E,
    ),
    ("github-token", _B + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251}" + _E),
    ("github-token", _B + r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _E),
    ("anthropic-key", r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{32,}"),
    (
        "openai-key",
        r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-|"
        r"None-)?[A-Za-z0-9_-]{8,}T3BlbkFJ[A-Za-z0-9_-]{8,}",
    ),
    ("openai-key", r"(?<![A-Za-z0-9_-])sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}"),
    ("api-key", r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9]{32,}" + _E),
    ("stripe-key", _B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E),
    ("stripe-key", _B + r"whsec_[A-Za-z0-9]{24,}" + _E),
    ("slack-token", _B + r"xox[abposre]-(?:[A-Za-z0-9]+-){1,4}[A-Za-z0-9]{6,}" + _E),
    ("slack-token", r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"),
    ("google-api-key", _B + r"AIza[0-9A-Za-z_-]{35}" + r"(?![A-Za-z0-9_-])"),
    ("huggingface-token", _B + r"hf_[A-Za-z]{34}" + _E),
    ("gitlab-token", _B + r"glpat-[A-Za-z0-9_-]{20}" + r"(?![A-Za-z0-9_-])"),
    ("npm-token", _B + r"npm_[A-Za-z0-9]{36}" + _E),
    ("jwt", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
]
_TOKENS = [(kind, re.compile(p)) for kind, p in _TOKEN_PATTERNS]

# A fragment at the end of a line that could be the start of one of the tokens above.
_PREFIXES = (
    "AKIA ASIA ABIA ACCA AGPA AIDA AIPA ANPA ANVA APKA AROA ASCA ghp_ gho_ ghu_ ghs_ ghr_ "
    "github_pat_ sk- sk_ rk_ whsec_ xox AIza hf_ glpat- npm_ eyJ"
).split()
_SPLIT = re.compile(
    r"(?<![A-Za-z0-9_-])(?:" + "|".join(re.escape(p) for p in _PREFIXES) + r")[A-Za-z0-9_.-]*"
    r"(?:[ \t]*(?:\r?\n|\\n)[ \t>\"'+]*[A-Za-z0-9_.-]+)+"
)
_KEY_MATERIAL = re.compile(r"(?=[A-Za-z0-9_.-]*\d)[A-Za-z0-9_.-]{8,}")
_LINEBREAK = re.compile(r"[ \t]*(?:\r?\n|\\n)[ \t>\"'+]*")

_PEM = re.compile(
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,\\\"-]*)"
)

# AWS secret access keys are 40 base64 characters with no fixed prefix: only near an access key
# id or an aws/secret keyword, and only with mixed case and a digit (a git SHA is lowercase hex).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_CONTEXT = re.compile(
    r"(?i)\baws|secret[_ -]?access|access[_ -]?key|(?-i:(?:AKIA|ASIA)[A-Z0-9]{16})"
)

# Credentials in URLs and connection strings: scheme://user:PASSWORD@host
_URL_CREDS = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,30}://[^\s:/@\[\]]+:([^\s@/\[\]]{1,200})@[\w.-]"
)

_SECRET_WORDS = (
    r"password|passwd|passphrase|pwd|pass|secret|client[_-]?secret|api[_-]?key|apikey|"
    r"access[_-]?key|secret[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|"
    r"refresh[_-]?token|bearer|token|accountkey|sharedaccesskey|credentials?"
)
# key=value / key: value, in code, env files, JSON, YAML and connection strings
_ASSIGN = re.compile(
    r"(?i)(?<![A-Za-z0-9])[\"']?(?:[A-Za-z0-9_.-]*[_.-]|(?-i:[a-z0-9]+)(?=(?-i:[A-Z])))?"
    r"(?:" + _SECRET_WORDS + r")(?![a-z])[\"']?"
    r"[ \t]*(?::=|=>|[:=])[ \t]*(?:\\?[\"'`])?(?P<v>[^\s\"'`,;}\]\\]+)"
)
# other languages' password words, for _PROSE (English ones are in its own alternation)
_FOREIGN_ASCII = (
    "passwort",
    "kennwort",
    "contrase",
    "clave",
    "mot de passe",
    "senha",
    "wachtwoord",
    "parola",
    "salasana",
    "haslo",
)
# the words that neither _has_word's gates (pass, kennwort, contrase, clave, parola) nor the
# ASCII words _has_foreign_word names catch
_FOREIGN_UNGATED = (
    "lösenord",
    "hasło",
    "şifre",
    "пароль",
    "密码",
    "口令",
    "パスワード",
    "비밀번호",
)
_FOREIGN_WORDS = (*_FOREIGN_ASCII, "contraseña", *_FOREIGN_UNGATED)
_FOREIGN_PW = (
    r"passwort|kennwort|contraseña|contrasena|clave|mot de passe|senha|wachtwoord|parola|"
    r"lösenord|salasana|hasło|haslo|şifre(?:si|n)?|пароль|密码|口令|パスワード|비밀번호"
)
# prose: "my password is hunter2", "das Passwort lautet X", "密码是X"
_PROSE = re.compile(
    r"(?i)(?<![A-Za-z])(?P<k>password|passwd|passphrase|passcode|pin(?: code| number)?|"
    + _FOREIGN_PW
    + r")(?![A-Za-z])"
    r"(?:[ \t]+(?:for|to|of|on|für|zum|vom|von|para|de|del|do|da|dos|das|du|des|pour|della|"
    r"dello|voor|van|per|dla|для|от)(?:[ \t]+[\w.@-]+){1,3}?)?"
    r"[ \t]*(?:is|was|=|:|：|->|lautet|ist|war|es|era|est|était|é|è|є|это|to|jest|是|为|は|는|은)"
    r"[ \t:：]*\s*[\"'`„“«]?(?P<v>[^\s\"'`“”»]{3,})"
)
_PAIR_NAMES = ("admin", "root", "login", "postgres", "guest", "creds", "user /", "user/")
# "admin / hunter2", "login: root/Tr0ub4dor" -- a user name, a slash, then the password
_PAIR = re.compile(
    r"(?i)\b(?:admin|administrator|root|user(?:name)?|login|guest|postgres|ubuntu|pi)"
    r"[ \t]*/[ \t]*(?P<v>[^\s/,;'\"`]{4,})(?=[\s,;.!?)'\"`]|$)"
)
_AUTH_HEADER = re.compile(
    r"(?i)(?:\b(?:bearer|basic)|authorization:[ \t]*token)[ \t]+(?P<v>[A-Za-z0-9._~+/=-]{20,})"
)

_NOT_A_VALUE = set(
    """
    required incorrect wrong correct invalid expired missing empty not too the a an my your
    their our this that set saved stored hashed encrypted changed reset same different
    strong weak long short case-sensitive none null true false undefined nil still being
    also now only just never always fine ok okay valid secure insecure forgotten lost
    unknown needed optional provided given shown visible hidden masked rejected accepted
    ignored updated generated random unique new old it in on of for and or to be at by
    managed protected sent used counted limited expiring expires field input type length
    value variable env environment string str int bytes getpass prompt input() config
    settings secret secrets password token tokens key keys auth sensitive confidential
    private public placeholder example xxx xxxx xxxxxx *** ***** changeme redacted
    """.split()
)

_ASSIGN_HINTS = ("pass", "pwd", "secret", "key", "token", "bearer", "credential", "auth")
# at least 8 digits close together: the cheap pre-check before the card and phone patterns
_DIGITS = re.compile(r"\d(?:[ ()./+-]{0,3}\d){7}")
_ASCII_DIGITS = b"0123456789"

# --- cheap pre-checks -----------------------------------------------------------------------------
# Most chat text holds no secret, and the detectors above cost a regex pass each. These gates
# decide which detectors can match at all. Each is a superset of what its detectors need (a gate
# that fires too often costs time, one that misses costs recall), and each pattern starts with one
# literal character, so re scans for it with memchr instead of testing every position: a
# character-class start ("[kp]...") or a case-insensitive start is several times slower.

# the fixed token prefixes above (_PREFIXES and hooks.slack), case-sensitive, on the original text
_AWS_PREFIX = re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA|Iza)").search
_UNDERSCORE_PREFIX = re.compile(
    r"_(?:(?<=gh[pousr]_)|(?<=github_)|(?<=[sr]k_)|(?<=whsec_)|(?<=hf_)|(?<=npm_))"
).search
_DASH_PREFIX = re.compile(r"-(?:(?<=sk-)|(?<=glpat-))").search
# the keyword rules (_ASSIGN, _PROSE, _AUTH_HEADER, _AWS_CONTEXT), on the lowercased text: every
# word in _ASSIGN_HINTS, pass/pin, bearer/basic/authorization and aws/secret/access
_K_WORD = re.compile(r"k(?:ey|en(?<=token)|ennwort)").search
_P_WORD = re.compile(r"p(?:ass|wd|in|arola)").search
_C_WORD = re.compile(r"c(?:ret(?<=secret)|cess(?<=access)|redential|ontrase|lave)").search
_B_WORD = re.compile(r"b(?:earer|asic)").search
# _PROSE's keyword as a whole word (\b on both sides): not the "pin" in "mapping"
_PROSE_GATE = re.compile(r"p(?<![a-z0-9_]p)(?:ass(?:word|wd|phrase|code)|in)(?![a-z0-9_])")
# _AUTH_HEADER: "bearer <token>" / "basic <token>", or an Authorization header (not the value's
# characters: under (?i) its [A-Za-z] also takes letters that lower() turns into two characters)
_AUTH_GATE = re.compile(r"b(?:earer|asic)[ \t]")


def _has_prefix(text: str) -> bool:
    """Whether ``text`` may hold a fixed-prefix token (a superset of "any _PREFIXES in text")."""
    # spelled out, not any(... for ...): this runs once per message and the generator costs more
    # than the searches on a short one. A one-character search is a memchr, several times faster
    # than a three-character one: the rare J and x go first.
    return bool(
        _AWS_PREFIX(text)
        or _UNDERSCORE_PREFIX(text)
        or _DASH_PREFIX(text)
        or ("J" in text and "eyJ" in text)
        or ("x" in text and "xox" in text)
        or "hooks.slack" in text
    )


# bytes -> b"x", except the ASCII whitespace of str.split() -> b" "
_RUNS = bytes(32 if chr(b).isspace() else 120 for b in range(128)) + b"x" * 128
_RUN16 = b"x" * 16


def _has_long_chunk(text: str) -> bool:
    """Whether ``text`` holds 16+ characters without whitespace (where any token could be)."""
    if len(text) < 16:
        return False
    # first on the UTF-8 bytes with one translate and one substring search, several times faster
    # than splitting into words: a run of 16 characters is a run of 16+ bytes none of them ASCII
    # whitespace, so no run here means none in the text. Non-ASCII text (where U+00A0 and friends
    # are whitespace too) that may have one is checked exactly.
    if _RUN16 not in text.encode("utf-8", "surrogatepass").translate(_RUNS):
        return False
    return text.isascii() or max(map(len, text.split()), default=0) >= 16


def _has_foreign_word(text: str, low: str) -> bool:
    """Credential words of other languages (_PROSE) and user names before a slash (_PAIR).
    Most are caught by _has_word's gates (passwort, kennwort, parola, contraseña, clave), and
    every caller asks both: this looks for the rest only."""
    if "/" in text and any(w in low for w in _PAIR_NAMES):
        return True
    if "senha" in low or "wachtwoord" in low or "salasana" in low or "haslo" in low:
        return True
    if text.isascii():
        return False
    # each word of _FOREIGN_UNGATED holds one of these letters: a one-character search each, where
    # looking for every word of _FOREIGN_WORDS cost 10 µs on a message with one dash or quote
    return (
        "ö" in low
        or "ł" in low
        or "ş" in low
        or "п" in low
        or "密" in low
        or "口" in low
        or "パ" in low
        or "비" in low
    ) and any(w in low for w in _FOREIGN_UNGATED)


def _has_word(low: str) -> bool:
    """Whether lowercased text holds a keyword that one of the keyword rules starts from."""
    return bool(
        _K_WORD(low)
        or _P_WORD(low)
        or _C_WORD(low)
        or _B_WORD(low)
        or "auth" in low
        or "aws" in low
    )


def _nothing_to_find(text: str, pii: tuple[str, ...] | list[str]) -> bool:
    """Whether no detector can match ``text`` (find_secrets would return [])."""
    low = text.lower()
    return not (
        "@" in text
        or _has_word(low)
        or _has_prefix(text)
        or _has_long_chunk(text)
        or _has_foreign_word(text, low)
        or (("card" in pii or "phone" in pii) and _may_have_digit_run(text))
    )


def _may_have_digit_run(text: str) -> bool:
    """Whether the card and phone detectors can match: _DIGITS, after a cheap count of digits."""
    if text.isascii():
        b = text.encode("ascii")
        if len(b) - len(b.translate(None, _ASCII_DIGITS)) < 8:
            return False
    else:
        # \d also takes other scripts' digits, but every card or phone pattern starts with an
        # ASCII digit or a +
        b = text.encode("utf-8", "surrogatepass")
        if len(b) == len(b.translate(None, _ASCII_DIGITS)) and "+" not in text:
            return False
    return _DIGITS.search(text) is not None


# --- PII ----------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
_PHONE = re.compile(
    r"(?<![\w+.:/-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # +country ...
    r"|\([2-9]\d{2}\)[ ]?[2-9]\d{2}[ .-]\d{4}"  # (555) 123-4567
    r"|[2-9]\d{2}[.-][2-9]\d{2}[.-]\d{4}"  # 555-234-4567 / 555.234.4567
    r"|0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}"  # 020 7946 0958 (national trunk prefix)
    r")(?!\w)(?![.:/-]?\d)"
)
# 555 234 4567 looks like a row of figures too: only after a word that says it is a phone number
_PHONE_SPACED = re.compile(
    r"(?i)\b(?:call|phone|tel|telephone|mobile|cell|cellphone|text|sms|whatsapp|fax|number|reach)"
    r"\b[^\n\d]{0,24}(?P<v>\(?[2-9]\d{2}\)? [2-9]\d{2} \d{4})(?!\w)"
)
_CARD = re.compile(r"(?<![\w.-])[2-6]\d(?:[ -]{0,3}\d){11,17}(?![\w-])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return False
    if len(set(digits)) == 1:  # 2222 2222 2222 2222
        return False
    groups = re.split(r"[ -]+", value.strip())
    # a spaced number must look like card groups (4-4-4-4, 4-6-5, ...), not a row of figures
    return len(groups) == 1 or all(2 <= len(g) <= 6 for g in groups)


def _is_phone(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if value.startswith("+"):
        return 8 <= len(digits) <= 15
    return 10 <= len(digits) <= 11


# --- the pass -------------------------------------------------------------------------------------


_ASCII_BYTES = bytes(range(128))


def _has_invisible(text: str) -> bool:
    """Whether ``text`` holds a character strip_invisible() removes: INVISIBLE_RE.search(text).

    Every such character is outside ASCII, so only the text's non-ASCII characters are searched:
    its UTF-8 bytes without the ASCII ones are exactly their encodings, in order. In chat text
    they are a few dashes, quotes and emoji, and this costs a third of searching the whole text
    (one character class tested at every position)."""
    if text.isascii():  # O(1)
        return False
    rest = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return INVISIBLE_RE.search(rest.decode("utf-8", "surrogatepass")) is not None


def strip_invisible(text: str) -> tuple[str, int]:
    """Remove Unicode Tag, bidi-control and zero-width characters; return (text, how many)."""
    if not _has_invisible(text):
        return text, 0
    out, n = INVISIBLE_RE.subn("", text)
    return out, n


class _Spans:
    """The findings so far: non-overlapping; placeholders and filler are never findings."""

    def __init__(self, text: str):
        self.text = text
        self.found: list[Finding] = []
        self.taken: list[tuple[int, int]] = []

    def add(self, kind: str, start: int, end: int, *, longer_wins: bool = False) -> None:
        if start >= end:
            return
        taken = self.taken
        for a, b in taken:
            inside_new = start <= a and b <= end and end - start > b - a
            if start < b and a < end and not (longer_wins and inside_new):
                return
        # a longer match of the same token (a routable glpat- with its suffix) replaces the shorter
        inside = [i for i, (a, b) in enumerate(taken) if start <= a and b <= end]
        for i in reversed(inside):
            del taken[i], self.found[i]
        value = self.text[start:end]
        if _PLACEHOLDER_RE.fullmatch(value) or (kind != "private-key" and _FILLER.search(value)):
            return  # a placeholder in docs or a config template, not a secret
        taken.append((start, end))
        self.found.append(Finding(kind, start, end, value))


def find_secrets(text: str, *, pii: tuple[str, ...] | list[str] | None = None) -> list[Finding]:
    """Every secret (and configured PII kind) in ``text``, non-overlapping, in text order."""
    if pii is None:
        pii = configured_pii()
    spans = _Spans(text)
    add = spans.add
    low = text.lower()
    has_prefix = _has_prefix(text)
    has_word = _has_word(low) or _has_foreign_word(text, low)
    has_digits = ("card" in pii or "phone" in pii) and _may_have_digit_run(text)
    has_long = _has_long_chunk(text)
    if not (has_prefix or has_word or has_digits or has_long or "@" in text):
        return spans.found  # the common case: ordinary chat text, nothing could match
    if "PRIVATE KEY" in text:
        for m in _PEM.finditer(text):
            add("private-key", m.start(), m.end())
    if "://" in text and "@" in text:
        for m in _URL_CREDS.finditer(text):
            if not m.group(1).startswith("[REDACTED"):
                add("password", m.start(1), m.end(1))
    if has_prefix and ("\n" in text or "\\n" in text):
        _find_split_tokens(text, spans)
    if has_prefix:
        for kind, rx in _TOKENS:
            for m in rx.finditer(text):
                add(kind, m.start(), m.end())
    if has_word and "/" in text:
        for m in _PAIR.finditer(text):
            if _plausible_secret_value(m.group("v"), prose=False) and not m.group("v").isalpha():
                add("password", m.start("v"), m.end("v"))
    if (
        (has_word and ("aws" in low or "secret" in low or "access" in low)) or has_prefix
    ) and _AWS_CONTEXT.search(text):
        for m in _AWS_SECRET.finditer(text):
            v = m.group(0)
            if _mixed(v) and _near(text, m.start(), _AWS_CONTEXT, 300):
                add("aws-secret-key", m.start(), m.end())
    if has_word:
        _find_assignments(text, low, spans)
    if has_long:  # vendored rules, token shape and credential words (secret_rules.py)
        from .secret_rules import token_findings

        for kind, start, end in token_findings(text, low):
            add(kind, start, end, longer_wins=True)
    _find_pii(text, pii, spans, has_digits)
    spans.found.sort(key=lambda f: f.start)
    return spans.found


def _find_split_tokens(text: str, spans: _Spans) -> None:
    """Tokens wrapped across a line break (a pasted key that wrapped), joined."""
    for m in _SPLIT.finditer(text):
        frag = m.group(0)
        pieces = _LINEBREAK.split(frag)
        joined = "".join(pieces)
        for kind, rx in _TOKENS:
            jm = rx.match(joined)
            if not jm or jm.end() <= len(pieces[0]):
                continue
            # a complete token at the end of a line continues onto the next only when what
            # follows looks like key material too (not "Thanks" on the next line)
            if rx.fullmatch(pieces[0]) and not _KEY_MATERIAL.fullmatch(pieces[1]):
                continue
            spans.add(kind, m.start(), m.start() + _orig_offset(frag, jm.end()))
            break


def _find_assignments(text: str, low: str, spans: _Spans) -> None:
    """key=value, key: value, "my password is ..." and Authorization headers."""
    rules = []
    if ("=" in text or ":" in text) and any(w in low for w in _ASSIGN_HINTS):
        rules.append(_ASSIGN)  # key=value and key: value need the = or the :
    if _PROSE_GATE.search(low) or any(w in low for w in _FOREIGN_WORDS):
        rules.append(_PROSE)
    if "authorization" in low or _AUTH_GATE.search(low):
        rules.append(_AUTH_HEADER)
    for rx in rules:
        for m in rx.finditer(text):
            prose = rx is _PROSE
            v = m.group("v").rstrip(".!?),:") if prose else m.group("v")
            if prose and m.group("k").lower().startswith("pin") and not any(c.isdigit() for c in v):
                continue
            if (
                prose
                and re.fullmatch(r"[a-z]+", v)
                and re.match(r"[ \t]+[a-z]", text[m.start("v") + len(v) :])
            ):
                continue  # "the password is probably wrong": the sentence goes on, not a value
            if _plausible_secret_value(v, prose=prose):
                kind = "password" if rx is not _AUTH_HEADER else "token"
                spans.add(kind, m.start("v"), m.start("v") + len(v))


def _find_pii(text: str, pii, spans: _Spans, has_digits: bool) -> None:
    """The configured personal-data kinds: e-mail addresses, card and phone numbers."""
    if "email" in pii and "@" in text:
        for m in _EMAIL.finditer(text):
            local = m.group(0).split("@", 1)[0].lower()
            if local not in {"git", "noreply", "no-reply"}:
                spans.add("email", m.start(), m.end())
    if not has_digits:
        return
    if "card" in pii:
        for m in _CARD.finditer(text):
            if _is_card(m.group(0)):
                spans.add("card", m.start(), m.end())
    if "phone" in pii:
        for m in _PHONE.finditer(text):
            if _is_phone(m.group(0)):
                spans.add("phone", m.start(), m.end())
        for m in _PHONE_SPACED.finditer(text):
            spans.add("phone", m.start("v"), m.end("v"))


def _orig_offset(frag: str, joined_end: int) -> int:
    """Map an offset in the line-joined fragment back to an offset in the original fragment."""
    pos = 0
    consumed = 0
    for m in _LINEBREAK.finditer(frag):
        chunk = m.start() - pos
        if consumed + chunk >= joined_end:
            return pos + (joined_end - consumed)
        consumed += chunk
        pos = m.end()
    return pos + (joined_end - consumed)


def _mixed(v: str) -> bool:
    return (
        any(c.isupper() for c in v) and any(c.islower() for c in v) and any(c.isdigit() for c in v)
    )


def _near(text: str, pos: int, rx: re.Pattern, window: int) -> bool:
    return bool(rx.search(text, max(0, pos - window), min(len(text), pos + window)))


def _plausible_secret_value(v: str, *, prose: bool) -> bool:
    if len(v) < (3 if prose else 6) or v.startswith("[REDACTED"):
        return False
    low = v.lower()
    if low in _NOT_A_VALUE or low.strip("*x.<>") == "":
        return False
    if v[0] in "$%<{([@&*#!|>" or "(" in v or "[" in v or "{" in v:  # !vault: a YAML tag
        return False  # $VAR, ${VAR}, %(x)s, <your-key>, getpass(), os.environ[...]
    if re.fullmatch(r"(?:os|process|env|settings|config|self|this|ENV)\.[\w.]+", v):
        return False
    if not prose and re.fullmatch(r"[a-z_]+", v) and len(v) < 12:
        return False  # token=counter, password=pw_var: identifiers, not values
    if not prose and re.fullmatch(r"\d{1,5}", v):
        return False  # max_token=512, pin: 4 (digit counts), but a longer PIN is redacted
    return not prose or not re.fullmatch(r"[a-z]+", v) or len(v) >= 6


def scan(text: str, *, pii: tuple[str, ...] | list[str] | None = None) -> Redaction:
    """Redact ``text`` and count what was replaced (kinds) and stripped (invisible characters)."""
    if pii is None:
        pii = configured_pii()
    out, invisible = strip_invisible(text)
    counts: Counter = Counter()
    for _ in range(4):  # repeat to a fixed point so redact() is idempotent
        findings = find_secrets(out, pii=pii)
        if not findings:
            break
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts.append(out[pos : f.start])
            parts.append(PLACEHOLDER.format(f.kind))
            # keep the line breaks a wrapped token spanned, so lines do not merge
            parts.append("\n" * f.value.count("\n") if f.kind != "private-key" else "")
            counts[f.kind] += 1
            pos = f.end
        parts.append(out[pos:])
        out = "".join(parts)
    return Redaction(out, counts, invisible)


def redact(text: str, *, pii: tuple[str, ...] | list[str] | None = None) -> str:
    """Text with secrets and PII as ``[REDACTED:kind]``, invisible characters removed."""
    if not text:
        return text
    if pii is None:
        pii = configured_pii()
    if _nothing_to_find(text, pii) and not _has_invisible(text):
        return text  # the common case, without scan()'s bookkeeping
    return scan(text, pii=pii).text


# --- configuration ---------------------------------------------------------------------------

_config_cache: dict[str, tuple[int, tuple[str, ...]]] = {}


def configured_pii() -> tuple[str, ...]:
    """PII kinds from config.toml ``[redact] pii`` (default: email, phone, card)."""
    from .config import load_config
    from .errors import PxprofileError
    from .paths import config_path

    path: Path = config_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return PII_KINDS
    key = str(path)
    cached = _config_cache.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    section = load_config(path).get("redact", {})
    kinds = section.get("pii", list(PII_KINDS)) if isinstance(section, dict) else list(PII_KINDS)
    if not isinstance(kinds, list) or any(k not in PII_KINDS for k in kinds):
        raise PxprofileError(
            f"{path}: [redact] pii must be a list drawn from {', '.join(PII_KINDS)} (got "
            f"{kinds!r}). "
            "Fix the setting."
        )
    result = tuple(kinds)
    _config_cache[key] = (mtime, result)
    return result


def count_invisible(text: str) -> int:
    """How many invisible characters (Tags, bidi, zero-width) redact() would strip from ``text``."""
    return len(INVISIBLE_RE.findall(text)) if text else 0
