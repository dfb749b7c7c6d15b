"""profile/rules.py: plan() decides each proposed change against the database's record."""

from __future__ import annotations

import pytest

from pxprofile.profile import Change, apply_changes, current_lines, rules
from pxprofile.profile.edits import locked_sync
from pxprofile.store import open_db


@pytest.fixture
def db(env_setup):
    db = open_db()
    apply_changes(db, [Change("add", "Prefers short answers", "Communication style")])
    return db


def plan(db, *changes):
    state = locked_sync(db, None)
    return rules.plan(db, "default", state.text, state.ids, list(changes), state.touched)


def test_a_restated_line_with_evidence_refreshes_support(db):
    restated = Change("add", "prefers short answers!", "Avoid", evidence=("m9",))
    bare = Change("add", "Prefers short answers", "Avoid")
    p = plan(db, restated, bare)
    assert [(k, c) for k, c, _b in p.ops] == [("support", restated)]
    assert p.rejected == [(bare, "already in the profile")]
    assert p.text == locked_sync(db, None).text  # support alone changes no text


def test_section_and_target_rules(db):
    (line,) = current_lines(db)
    p = plan(
        db,
        Change("add", "Likes tables", "Hobbies"),
        Change("add", "Likes tables", ""),
        Change("add", "Likes tables", "interests"),
        Change("revise", "Prefers terse answers", line_id=line.id),
        Change("retire", line_id=line.id),
        Change("retire", line_id=999),
        Change("merge", "x"),
    )
    assert [why for _c, why in p.rejected] == [
        "unknown section 'Hobbies'",
        "names no section",
        "the line was already changed by this update",
        "there is no line 999 in this profile",
        "unknown action 'merge'",
    ]
    assert "## Interests\n\n- Likes tables\n" in p.text  # the default section's own title
    assert "- Prefers terse answers\n" in p.text


def test_a_released_user_line_may_be_retired_and_only_retired(db):
    from pxprofile.profile import profile_file

    path = profile_file()
    path.write_text(path.read_text() + "\n## About me\n\n- Lives in Porto\n")
    mine = next(ln for ln in current_lines(db) if ln.text == "Lives in Porto")
    assert mine.author == "user"
    retire = Change("retire", line_id=mine.id)
    assert plan(db, retire).rejected == [
        (retire, "you wrote this line; pxprofile never changes your lines")
    ]
    revise = Change("revise", "Lives in Lisbon", line_id=mine.id)
    state = locked_sync(db, None)
    p = rules.plan(db, "default", state.text, state.ids, [revise], set(), release=[mine.id])
    assert p.rejected == [(revise, "you wrote this line; pxprofile never changes your lines")]
    done = apply_changes(db, [retire], release=[mine.id])
    assert done.applied == [retire]
    assert "Lives in Porto" not in path.read_text()
    assert "- Prefers short answers\n" in path.read_text()
