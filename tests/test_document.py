"""The Markdown document model: exact round-trip, tolerant of hand edits, problems explained."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pxprofile import document as D

HAND_EDITED = """\
My profile, written by hand.

# Preferences

### Style ###
* Terse answers
+ Code first,
  then a short explanation
-   Metric units

Free paragraph I keep here.

## Notes
```
- not a bullet (inside a fence)
```
- Real bullet
"""


def test_hand_edited_file_parses_and_round_trips():
    doc = D.parse(HAND_EDITED)
    assert D.render(doc) == HAND_EDITED
    assert [(s.title, b.text) for s, b in doc.bullets()] == [
        ("Style", "Terse answers"),
        ("Style", "Code first, then a short explanation"),
        ("Style", "Metric units"),
        ("Notes", "Real bullet"),
    ]
    assert [s.level for s in doc.sections] == [3, 2]


def test_edits_change_only_what_they_touch():
    doc = D.parse(HAND_EDITED)
    bullets = [b for _s, b in doc.bullets()]
    bullets[2].text = "SI units"
    doc.remove(bullets[0])
    doc.add("Style", "No emojis")
    doc.add("Avoid", "Filler")
    out = D.render(doc)
    assert out.startswith("My profile, written by hand.\n\n# Preferences\n\n### Style ###\n")
    assert "+ Code first,\n  then a short explanation\n- SI units\n- No emojis\n" in out
    assert "* Terse answers" not in out
    assert out.endswith("- Real bullet\n\n## Avoid\n\n- Filler\n")


def test_new_document_has_the_default_sections():
    text = D.render(D.new_document())
    assert text.startswith("# Preference profile\n\n## Communication style\n\n")
    doc = D.parse(text)
    assert [s.title for s in doc.sections] == list(D.DEFAULT_SECTIONS)
    doc.add("expertise", "Python")
    assert "## Expertise\n\n- Python\n\n## Interests" in D.render(doc)


def test_crlf_round_trips_and_new_lines_follow_the_file():
    text = "## Style\r\n\r\n- Terse\r\n"
    doc = D.parse(text)
    assert D.render(doc) == text and doc.newline == "\r\n"
    assert [b.text for _s, b in doc.bullets()] == ["Terse"]
    doc.add("Style", "Calm")
    assert D.render(doc) == "## Style\r\n\r\n- Terse\r\n- Calm\r\n"
    mixed = "## Style\n- Terse\r\n"
    assert D.render(D.parse(mixed)) == mixed
    assert [b.text for _s, b in D.parse(mixed).bullets()] == ["Terse"]


def test_problems_name_the_line():
    assert D.problems(HAND_EDITED) == []
    assert D.problems("## A\n```python\n- x\n") == [
        "the code fence opened on line 2 is never closed"
    ]
    assert D.problems("## A\n~~~\n```\n~~~\n") == []
    assert D.problems("- a\n<<<<<<< mine\n- b\n=======\n- c\n>>>>>>> theirs\n") == [
        "line 2 is a merge conflict marker (<<<<<<<)",
        "line 4 is a merge conflict marker (=======)",
        "line 6 is a merge conflict marker (>>>>>>>)",
    ]
    assert D.problems("## A\n```\n<<<<<<< inside a fence is fine\n```\n") == []
    assert D.problems("Title\n=======\n\n- a\n") == []  # a setext heading, not a conflict
    assert D.problems("a\x00b") == ["the file contains NUL bytes"]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["", "# T", "## S", "### S ##", "- a", "* b", "+ c", "  cont", "```", "~~~", "\r"]
            ),
            st.text(alphabet=st.sampled_from("#-*+ `~\tab\r"), max_size=12),
        ),
        max_size=15,
    ).map("\n".join)
)
def test_any_text_round_trips_exactly(text):
    assert D.render(D.parse(text)) == text
    assert D.render(D.parse(text + "\n")) == text + "\n"


def test_a_headless_list_is_read_as_preferences():
    text = "Notes first.\n\n- Terse\n* No fluff\n\n## Avoid\n- Emojis\n"
    doc = D.parse(text)
    assert D.render(doc) == text
    assert [(s.title, b.text) for s, b in doc.bullets()] == [
        ("", "Terse"),
        ("", "No fluff"),
        ("Avoid", "Emojis"),
    ]
    # a title after the first bullets is a section, not the document title
    doc = D.parse("- Terse\n# Later\n- Calm\n")
    assert [(s.title, s.level) for s in doc.sections] == [("", 0), ("Later", 1)]
    doc.add("Interests", "Jazz")
    assert D.render(doc) == "- Terse\n# Later\n- Calm\n\n## Interests\n\n- Jazz\n"
