"""text.py: the shared text rules, and that each matches the copies still in other modules."""

import re

import pytest

from pxprofile import text


def test_similar_is_the_profile_rule():
    assert text.similar("Prefers short answers.", "prefers  SHORT answers")
    assert text.similar("Likes tables over prose a lot", "Likes tables over prose a lot!!")
    assert text.similar("uses python for data work", "for data work uses python")  # word overlap
    assert not text.similar("Prefers short answers", "Prefers long answers with examples")
    assert not text.similar("", "x")
    assert text.normalize("Ｃafé—NOIR_x") == "café noir x"


def test_squash_truncate_plural():
    assert text.squash("  a \n b\t c ") == "a b c"
    assert text.truncate("one two three four five", 16) == "one two three…"  # at a word
    assert text.truncate("one two three four five", 12) == "one two thr…"  # no word near the end
    assert text.truncate("short", 12) == "short"
    assert [text.plural(n, "message") for n in (0, 1, 2)] == [
        "0 messages",
        "1 message",
        "2 messages",
    ]
    assert text.plural(2, "reply", "replies") == "2 replies"


def test_truncate_matches_the_signals_copy():
    from pxprofile import signals

    for s, n in [("one two three four five", 16), ("x" * 50, 10), ("a, b; c: d e f g", 9)]:
        assert text.truncate(s, n) == signals.truncate(s, n)


def test_one_clock_format():
    now = text.utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now)
    assert text.utc_today() == now[:10]


def test_token_estimates():
    assert text.estimate_tokens("") == 0
    assert text.estimate_tokens("abcde") == 2  # characters / 4, rounded up
    assert text.estimate_tokens("abcdefg", safe=True) == 3  # characters / 3 for context windows


def test_default_profile_name():
    assert text.profile_name(None) == text.DEFAULT_PROFILE == "default"
    assert text.profile_name("work") == "work"


def test_patterns_are_compiled_on_first_use():
    assert "INVISIBLE_RE" not in vars(text) or isinstance(text.INVISIBLE_RE, re.Pattern)
    assert text.INVISIBLE_RE.sub("", "a\u200bb\U000e0041c") == "abc"
    with pytest.raises(AttributeError):
        text.NO_SUCH_PATTERN  # noqa: B018


def test_invisible_characters_match_the_redact_copy():
    from pxprofile import redact

    assert text.INVISIBLE_RE.pattern == redact.INVISIBLE_RE.pattern


@pytest.mark.parametrize(
    "token",
    [
        "<|im_start|>",
        "<|eot_id|>",
        "<start_of_turn>",
        "</s>",
        "[INST]",
        "<<SYS>>",
        "<think>",
        "[TOOL_CALLS]",
        "<|endoftext|>",
        "<eos>",
        "<bos>",
    ],
)
def test_special_tokens_cover_the_engine_and_guard_copies(token):
    from pxprofile import engine, guard

    assert text.SPECIAL_TOKEN_RE.search(token)
    # whatever either copy finds, the shared pattern finds too
    for copy in (engine._SPECIAL_RE, guard._SPECIAL_TOKEN):
        if copy.search(token):
            assert text.SPECIAL_TOKEN_RE.search(token)


def test_strip_think_matches_the_engine_copy():
    from pxprofile import engine

    for raw, opened in [
        ("<think>hmm</think> answer", False),
        ("reasoning</think>answer", True),
        ("<think>cut off", False),
        ("no reasoning", False),
    ]:
        assert text.strip_think(raw, opened=opened) == engine.strip_think(raw, opened=opened)


OWN_WORDS = [
    "Keep it short please.",
    "Summarize this: the quarterly report says revenue grew by 4 percent.",
    "I prefer tables.\n\n> quoted line from someone\n\nThanks",
    "Fix this:\n```python\nprint(1)\n```\nI like type hints.",
    "See below\n---------- Forwarded message ---------\nFrom: a@b.c\nhello",
    "Short.\n\n" + "pasted " * 200,
]


@pytest.mark.parametrize("message", OWN_WORDS)
def test_own_words_matches_the_guard_copy(message):
    from pxprofile import guard

    assert text.own_words(message) == guard.own_words(message)


def test_similar_and_normalize():
    assert text.normalize("  Likes, BULLET-lists!! ") == "likes bullet lists"
    assert text.similar("Prefers short answers", "prefers short answers.")
    assert text.similar("Prefers short answers", "Prefers short answers always")
    assert text.similar("answers short prefers", "Prefers short answers")
    assert not text.similar("Prefers short answers", "Prefers long answers with examples")
    assert not text.similar("Python", "Rust")
