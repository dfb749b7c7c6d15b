"""profile/quick.py: `export`'s read-only path gives the same lines as the recording read, and
steps aside whenever something must be recorded first."""

from __future__ import annotations

import os
import subprocess
import sys

from pxprofile import profile as P
from pxprofile.migrations import migrations
from pxprofile.profile import Change, apply_changes, current_lines, lines_for_export
from pxprofile.profile.quick import migration_names, read_lines
from pxprofile.store import open_db


def seeded():
    db = open_db()
    db["conversations"].insert({"id": "c1", "title": "T", "created_at": "2024-01-01T09:00:00Z"})
    db["messages"].insert(
        {"id": "m1", "conversation_id": "c1", "role": "user", "text": "short answers please",
         "created_at": "2024-01-01T09:00:00Z"},
        pk="id",
    )  # fmt: skip
    apply_changes(
        db, [Change("add", "Prefers short answers", "Communication style", evidence=("m1",))]
    )
    return db


def test_migration_names_read_from_the_source_are_the_registered_ones():
    assert migration_names() == {m.name for m in migrations._migrations}


def test_same_lines_as_the_recording_read():
    db = seeded()
    fast = read_lines(None)
    assert fast is not None
    assert fast == current_lines(db)
    assert fast[0].evidence == ["m1"] and fast[0].last_supported == "2024-01-01T09:00:00Z"


def test_an_edit_is_recorded_by_the_full_read():
    db = seeded()
    path = P.profile_file()
    path.write_text(path.read_text() + "- Likes tables\n")  # the user's edit
    assert read_lines(None) is None
    lines = lines_for_export(None)
    assert [(ln.text, ln.author) for ln in lines] == [
        ("Prefers short answers", "model"),
        ("Likes tables", "user"),
    ]
    assert [v["kind"] for v in P.history(db)] == ["update", "edit"]
    assert read_lines(None) == lines  # recorded: the quick path serves it again


def test_steps_aside_without_a_database_or_with_a_pending_write(tmp_path):
    P.profile_file().write_text("## Style\n\n- Terse\n")
    assert read_lines(tmp_path / "none.db") is None
    assert [ln.text for ln in lines_for_export(None)] == ["Terse"]  # adopted as the user's
    db = open_db()
    db.execute("update profile_versions set pending = 1")
    db.conn.commit()
    assert read_lines(None) is None


def _imported_modules(*args: str) -> str:
    env = {**os.environ}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pxprofile", *args],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stderr


def test_export_does_not_load_sqlite_utils_when_nothing_changed():
    seeded()
    assert " sqlite_utils\n" not in _imported_modules("export", "--for", "claude")
    P.profile_file().write_text(P.profile_file().read_text() + "- Likes tables\n")
    assert " sqlite_utils\n" in _imported_modules("export", "--for", "claude")  # records it
    assert " sqlite_utils\n" not in _imported_modules("export", "--for", "claude")


def test_a_database_on_a_network_filesystem_is_still_refused(monkeypatch):
    import pytest

    from pxprofile import fileio, store
    from pxprofile.errors import StoreError

    seeded()
    for module in (fileio, store):
        monkeypatch.setattr(module, "filesystem_type", lambda directory: "nfs4")
    assert read_lines(None) is None
    with pytest.raises(StoreError, match="network filesystem"):
        lines_for_export(None)
