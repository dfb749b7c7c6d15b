"""profile/versions.py: what `diff` compares by default, show's snapshot, history."""

from __future__ import annotations

import pytest

from pxprofile import profile as P
from pxprofile.errors import ProfileError
from pxprofile.profile import Change, apply_changes
from pxprofile.store import open_db


@pytest.fixture
def db(env_setup):
    return open_db()


def add(db, text):
    return apply_changes(db, [Change("add", text, "Communication style")]).version


def test_compare_defaults(db):
    with pytest.raises(ProfileError, match="there is no profile yet"):
        P.compare(db)
    v1 = add(db, "Prefers short answers")
    only = P.compare(db)  # one version: against nothing
    assert (only.a_label, only.b_label) == ("(empty)", f"version {v1}")
    assert "+- Prefers short answers" in only.diff
    v2 = add(db, "Likes tables")
    last = P.compare(db)  # the file is the last version: the last two versions
    assert (last.a_label, last.b_label) == (f"version {v1}", f"version {v2}")
    assert last.diff.count("\n+- ") == 1 and "+- Likes tables" in last.diff
    path = P.profile_file()
    path.write_text(path.read_text() + "- Hand written\n")
    now = P.compare(db)  # the file differs from the last version: that edit
    assert (now.a_label, now.b_label) == (f"version {v2}", "profile.md (now)")
    assert "+- Hand written" in now.diff
    assert P.compare(db, v1).b_label == "profile.md (now)"
    assert P.compare(db, v1, v2).diff == last.diff
    path.unlink()
    with pytest.raises(ProfileError, match=f"Compare two versions: `pxprofile diff {v1} N`"):
        P.compare(db, v1)


def test_snapshot_of_a_missing_file_is_the_last_version(db):
    with pytest.raises(ProfileError, match="there is no profile yet"):
        P.snapshot(db)
    v1 = add(db, "Prefers short answers")
    snap = P.snapshot(db)
    assert (snap.version, snap.missing, snap.profile) == (v1, False, "default")
    assert snap.to_dict()["lines"][0]["text"] == "Prefers short answers"
    text = P.profile_file().read_text()
    P.profile_file().unlink()
    gone = P.snapshot(db)
    assert gone.missing and gone.text == text


def test_history_details_name_who_added_and_removed(db):
    v1 = add(db, "Prefers short answers")
    path = P.profile_file()
    path.write_text(path.read_text().replace("- Prefers short answers\n", ""))
    P.sync(db)
    rows = P.history(db, details=True)
    assert [(r["version"], r["kind"], r["note"]) for r in rows][0] == (v1, "update", "1 added")
    assert rows[1]["kind"] == "edit" and rows[1]["note"] == "1 deleted"
    assert [(d["text"], d["status"]) for d in rows[1]["removed"]] == [
        ("Prefers short answers", "deleted")
    ]
    assert rows[0]["created_at"].endswith("Z")  # the one clock format
