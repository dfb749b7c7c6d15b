"""profile/edits.py: matching the file's bullets to the last version, and the user's editor."""

from __future__ import annotations

import pytest

from pxprofile.errors import InputError, ProfileError
from pxprofile.profile.edits import editor_command, match, run_editor


def test_match_keeps_identity_of_moved_reworded_and_deleted_bullets():
    base = [
        ("Style", "Prefers short answers", 1),
        ("Style", "Likes tables", 2),
        ("Interests", "Cycling in the Alps", 3),
        ("Interests", "Jazz piano", 4),
    ]
    new = [
        ("Interests", "Likes tables"),  # moved
        ("Style", "Prefers  short answers"),  # whitespace only
        ("Interests", "Cycling in the Alps and Dolomites"),  # reworded
        ("Style", "Metric units"),  # new
    ]
    found = match(base, new)
    assert found.ids == [2, 1, None, None]
    assert found.reworded == {2: 3}
    assert found.deleted == [4]


def test_editor_from_the_environment(monkeypatch):
    monkeypatch.setenv("VISUAL", "code --wait")
    assert editor_command() == ["code", "--wait"]
    monkeypatch.setenv("VISUAL", "'unclosed")
    with pytest.raises(InputError, match=r"\$VISUAL cannot be parsed"):
        editor_command()


def test_run_editor_reports_what_cannot_be_read(tmp_path):
    f = tmp_path / "profile.md"
    f.write_text("## Style\n\n- Terse\n")
    assert run_editor(["true"], f) is None
    f.write_bytes(b"\xff\xfe bad")
    assert run_editor(["true"], f) == "it is not UTF-8 text"
    with pytest.raises(ProfileError, match="the editor exited with status 1"):
        run_editor(["false"], f)
    with pytest.raises(InputError, match="was not found"):
        run_editor(["no-such-editor-xyz"], f)
