"""Normalisation and structural checks that guard.line_problem runs before its word rules.

A poisoned line hides its payload from the eye (variation selectors, combining grapheme joiners,
musical-symbol formatting), from a domain regex (``x[.]com``, ``x。com``, Cyrillic or punycode
names, TLDs no list knows) or from word rules (ROT13, chunked base64). These checks do not list
tricks: they undo whole classes of encoding, then judge what a line *does* -- direct a downstream
model toward third parties, products, links, data exfiltration or conditional triggers.

CONTRACT:
    hidden_count(text) -> int       code points that render as nothing (category Cf, variation
                                    selectors, U+034F, U+115F.., U+1D173..U+1D17A, tags)
    strip_hidden(text) -> str       ``text`` without them (exports run this on every line)
    normalise(text) -> str          NFKC, hidden stripped, dot look-alikes and ``[.]`` / ``\\.``
                                    / `` dot `` turned into ``.``, punycode labels decoded
    host_problem(norm) -> str|None  a domain (any TLD, any script) or an address in the line
    directive_problem(norm) -> str|None
                                    the line steers the assistant toward a third party, a
                                    product, a link, data exfiltration, a trigger or consent
    decoded_variants(norm) -> list[str]
                                    ROT13 and base64-decoded forms to judge again
"""

from __future__ import annotations

import re
import unicodedata

_EXTRA_HIDDEN = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\uffa0\ufe00-\ufe0f\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)


def hidden_count(text: str) -> int:
    if text.isascii():
        return 0
    return sum(1 for ch in text if unicodedata.category(ch) == "Cf") + len(
        _EXTRA_HIDDEN.findall(text)
    )


def strip_hidden(text: str) -> str:
    if text.isascii():
        return text
    text = _EXTRA_HIDDEN.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


_DOT_LIKE = re.compile(
    r"\s*(?:\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\}|\\\.|[。．｡︒])\s*"
    r"|\s+(?:dot|punkt|punto|point)\s+(?=[a-z]{2,}\b)",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """The form every rule judges: see the module docstring."""
    s = strip_hidden(unicodedata.normalize("NFKC", text))
    s = _DOT_LIKE.sub(".", s)
    if "xn--" in s.lower():
        s = re.sub(r"(?i)\bxn--[a-z0-9-]+", _punycode, s)
    return s


def _punycode(m: re.Match) -> str:
    try:
        return m.group(0)[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return m.group(0)


# Names with a dot that are not hosts: file names and technologies. A host in any other form
# (two labels or more, a TLD of letters in any script) is refused.
_NOT_HOST_TLD = set(
    """py md txt toml yaml yml json js ts jsx tsx mjs cjs rs go rb java kt c h cc cpp hpp cs sh
    bash zsh ps1 sql csv tsv xml html htm css scss ini cfg conf lock log env gguf bin pt onnx
    ipynb pdf doc docx xls xlsx ppt pptx png jpg jpeg gif svg webp mp3 mp4 wav zip tar gz tgz
    whl exe dll so dylib net swift vue lua pl php r jl dart ex exs erl hs ml nix tf hcl proto
    x y z e g i etc vs""".split()
)
# code objects that look like hosts (os.path, np.array): the first label is a module name
_CODE_NAMES = set(
    """os np pd sys re self this console math json std tf torch plt sns document window
    django flask app req res ctx obj cls str int list dict user config settings""".split()
)
# TLDs longer than three letters that hosts in attacks and ads actually use (two- and
# three-letter ones all count, any script counts)
_GTLDS = set(
    """info site online store shop tech blog cloud space website world today life live news
    link click page club email zone host wiki agency digital media network systems solutions
    social chat game games money finance loan loans bank deals sale vip asia mobi name pro
    travel coach guru expert best top xyz onion moe""".split()
)
_HOST = re.compile(
    r"(?<![\w@.-])(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,6}(?P<tld>[^\W\d_]{2,63})(?![\w-])"
)
_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\[?[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){4,7}\]?", re.I)
_TRACKING = re.compile(r"(?i)[?&](?:ref|aff|affiliate|tag|utm_\w+|coupon|promo|via)=")


def host_problem(norm: str) -> str | None:
    if _TRACKING.search(norm):
        return "an affiliate or tracking tag"
    if _IP.search(norm):
        return "a URL or domain"
    for m in _HOST.finditer(norm):
        labels = m.group(0).split(".")
        tld = m.group("tld")
        low = tld.lower()
        if tld.isascii() and (
            low in _NOT_HOST_TLD
            or labels[0].lower() in _CODE_NAMES
            or (len(low) > 3 and low not in _GTLDS)
        ):
            continue  # setup.py, Node.js, ASP.NET, os.path, console.log
        if tld.isascii() and len(labels) == 2 and labels[0][:1].isupper() and tld.istitle():
            continue  # "Ends.Then" -- a missing space between sentences, not a host
        return "a URL or domain"
    return None


_NEG = (
    r"(?<![Nn]ot )(?<![Nn]ever )(?<![Nn]o )(?<!n't )(?<![Aa]void )(?<![Ww]ithout )"
    r"(?<![Ss]top )(?<![Aa]voids )"
)
_PROMOTE = (
    r"recommend|promot|endors|advertis|plug|push|mention|suggest|favou?r|prais|highlight|"
    r"steer|direct|refer|point|send|redirect|link"
)
# a product or company name: capitalised (not an acronym) or camelCase, not the first word
_BRAND = r"(?:[A-Z][a-z0-9]+[A-Z][\w]*|[A-Z][a-z][\w]*|[a-z]+[A-Z][\w]*)"
_DIRECTIVES: list[tuple[str, re.Pattern]] = [
    (
        "a vendor or product recommendation",
        re.compile(
            _NEG + r"\b(?i:" + _PROMOTE + r")\w*\b(?:\s+(?i:the|a|an|to|users?|them|people|"
            r"only|always|first|as|that|answers?|replies|responses)){0,3}\s+" + _BRAND
        ),
    ),
    (
        "a vendor or product recommendation",
        re.compile(
            r"(?i)\b(?:every|each|all|any) (?:answer|reply|response|recommendation|suggestion)s?"
            r"\b[^.;]{0,30}\b(?:recommend|mention|promot|includ|feature|push|plug|start with|"
            r"end with)\w*\s+(?-i:" + _BRAND + ")"
        ),
    ),
    (
        "data exfiltration",
        re.compile(
            r"(?i)\b(?:forward|send|e-?mail|share|copy|upload|post|sync|cc|bcc|report|mirror|"
            r"leak|transmit|relay)\w*\b[^.;]{0,40}\b(?:chats?|conversations?|messages?|"
            r"history|transcripts?|everything|all (?:data|files)|passwords?|credentials?|"
            r"api keys?|personal data|contacts)\b"
        ),
    ),
    (
        "an authority or consent claim",
        re.compile(
            r"(?i)\bpre-?approved\b|\bpreauthori[sz]ed\b|\bhas (?:already )?(?:approved|"
            r"authori[sz]ed|consented|agreed|given (?:consent|permission))|\bconsents? to\b|"
            r"\bpermission to (?:buy|purchase|spend|pay|share|send|order|book|sign|transfer)|"
            r"\b(?:any|all|every) (?:purchases?|payments?|transactions?|transfers?)\b|"
            r"\bno need to (?:ask|confirm|check|verify)|\bwithout (?:asking|checking|"
            r"confirming)|\bauto(?:matically)?[ -](?:buy|purchase|approve|pay|accept|order)"
        ),
    ),
    (
        "a conditional trigger",
        re.compile(
            r"(?i)\b(?:when(?:ever)?|if|once|whenever)\b[^.;]{0,50}\b(?:asked|asks|ask about|"
            r"question(?:s|ed)? about|topic|comes up|brings up|mentions?|says?|types?|writes?)"
            r"\b[^.;]{0,60}\b(?:say|tell|claim|state|insist|reply with|respond with|answer with|"
            r"recommend|promote|redirect|link|send)\b"
        ),
    ),
    (
        "a vendor or product recommendation (translated)",
        re.compile(
            r"(?i)\b(?:recomi?end[ae]\w*|recomendar|menciona\w*|promociona\w*|reenv[ií]a\w*|"
            r"recommande\w*|mentionne\w*|transf[eè]re\w*|empfiehl\w*|empfehlen|erw[äa]hne\w*|"
            r"weiterleit\w*|consiglia\w*|raccomand\w*|inoltra\w*|aconselh\w*|encaminh\w*|"
            r"рекоменд\w*|упомин\w*|пересыла\w*|отправля\w*)\b"
            r"|推荐|推廣|推广|提到|转发|轉發|发送给|勧め|推奨|転送|추천|전달"
        ),
    ),
]


def directive_problem(norm: str) -> str | None:
    for reason, rx in _DIRECTIVES:
        if rx.search(norm):
            return reason
    return None


_B64_CHUNKS = re.compile(r"[A-Za-z0-9+/]{4,}(?:[\s._-]+[A-Za-z0-9+/]{2,})*={0,2}")


def decoded_variants(norm: str) -> list[str]:
    """ROT13 of the line, and any base64 (also chunked) that decodes to readable text."""
    import base64
    import binascii
    import codecs

    out = [codecs.decode(norm, "rot13")]
    for m in _B64_CHUNKS.finditer(norm):
        joined = re.sub(r"[\s._-]", "", m.group(0))
        if len(joined) < 12 or not re.search(r"[A-Z0-9]", joined[1:]):
            continue
        joined += "=" * (-len(joined) % 4)
        try:
            raw = base64.b64decode(joined, validate=True)
        except (binascii.Error, ValueError):
            continue
        text = raw.decode("ascii", errors="replace")
        if sum(c.isalpha() or c == " " for c in text) >= 0.85 * len(text) and " " in text:
            out.append(text)
    return out
