"""The profile core: user edits win, provenance, versions, three-way merge, safe writes."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from pxprofile import fileio
from pxprofile import profile as P
from pxprofile.errors import ProfileError
from pxprofile.profile import Change, apply_changes, current_lines, export_lines, rules, write
from pxprofile.profile.edits import locked_sync
from pxprofile.store import open_db


@pytest.fixture
def db(env_setup):
    db = open_db()
    db["conversations"].insert_all(
        [
            {"id": "c1", "title": "Trip planning", "created_at": "2024-01-01T09:00:00+00:00"},
            {"id": "c2", "title": "Code review", "created_at": "2024-03-05T10:00:00+00:00"},
        ],
        pk="id",
    )
    db["messages"].insert_all(
        [
            {
                "id": "m1",
                "conversation_id": "c1",
                "role": "user",
                "text": "Please keep answers short, I read them on my phone.",
                "created_at": "2024-01-01T09:00:00+00:00",
            },
            {
                "id": "m2",
                "conversation_id": "c2",
                "role": "user",
                "text": "Too long again. Just the diff please, with my key sk-XXXX.",
                "redacted": "Too long again. Just the diff please, with my key [SECRET].",
                "created_at": "2024-03-05T10:00:00+00:00",
            },
        ],
        pk="id",
    )
    return db


def add(text, section="Communication style", evidence=("m1",)):
    return Change("add", text=text, section=section, evidence=tuple(evidence))


def path():
    return P.profile_file(None)


def rows(db, sql, params=()):
    return [dict(r) for r in db.query(sql, params)]


def seed(db, *texts, section="Communication style"):
    result = apply_changes(db, [add(t, section) for t in texts])
    assert result.version is not None, result.rejected
    return {line.text: line for line in current_lines(db)}


def test_first_update_creates_file_version_and_provenance(db):
    result = apply_changes(
        db,
        [
            add("Prefers short answers", evidence=("m1", "m2")),
            add("Reads Python fluently", section="Expertise", evidence=()),
        ],
    )
    assert result.rejected == []
    assert result.version == 1
    text = path().read_text()
    assert text == (
        "# Preference profile\n\n## Communication style\n\n- Prefers short answers\n\n"
        "## Expertise\n\n- Reads Python fluently\n\n## Interests\n\n## Values and constraints\n\n"
        "## Avoid\n\n"
    )
    assert result.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert "+- Prefers short answers" in result.diff
    lines = current_lines(db)
    assert [(ln.section, ln.text, ln.author, ln.editable) for ln in lines] == [
        ("Communication style", "Prefers short answers", "model", True),
        ("Expertise", "Reads Python fluently", "model", True),
    ]
    assert lines[0].evidence == ["m1", "m2"]
    assert lines[0].first_supported == "2024-01-01T09:00:00+00:00"
    assert lines[0].last_supported == "2024-03-05T10:00:00+00:00"
    (v,) = rows(db, "select kind, sha256, pending, line_ids from profile_versions")
    assert v == {
        "kind": "update",
        "sha256": result.sha256,
        "pending": 0,
        "line_ids": json.dumps([lines[0].id, lines[1].id]),
    }


def test_user_edits_are_detected_by_hash_and_win(db):
    lines = seed(db, "Prefers short answers", "Likes bullet lists", "Wants code first")
    p = path()
    st = p.stat()
    text = p.read_text()
    text = text.replace("- Likes bullet lists\n", "")  # delete
    text = text.replace(
        "- Wants code first", "- Wants runnable code first, then a short why"
    )  # reword
    text = text.replace("- Prefers short answers\n", "")  # move it to Avoid? no: to Interests
    text = text.replace("## Interests\n", "## Interests\n\n- Prefers short answers\n- Jazz\n")
    text += "## My own section\n\n- Answers in British English\n"
    p.write_text(text)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: only the hash can tell
    now = current_lines(db)
    assert [(ln.section, ln.text, ln.author) for ln in now] == [
        ("Communication style", "Wants runnable code first, then a short why", "user"),
        ("Interests", "Prefers short answers", "model"),
        ("Interests", "Jazz", "user"),
        ("My own section", "Answers in British English", "user"),
    ]
    # the moved line kept its identity (and so its evidence)
    assert now[1].id == lines["Prefers short answers"].id and now[1].evidence == ["m1"]
    assert now[1].editable and not now[0].editable and not now[2].editable
    statuses = {r["text"]: r["status"] for r in rows(db, "select text, status from profile_lines")}
    assert statuses["Likes bullet lists"] == "deleted"
    assert statuses["Wants code first"] == "retired"
    reworded = rows(db, "select superseded_by from profile_lines where text = 'Wants code first'")
    assert reworded == [{"superseded_by": now[0].id}]
    assert sorted(r["text"] for r in rows(db, "select text from profile_deletions")) == [
        "Likes bullet lists",
        "Wants code first",
    ]
    versions = rows(db, "select kind, note, text from profile_versions order by id")
    assert [(v["kind"], v["note"]) for v in versions] == [
        ("update", "3 added"),
        ("edit", "2 added, 1 reworded, 1 deleted"),
    ]
    assert versions[1]["text"] == text
    # reading again records nothing new
    current_lines(db)
    assert db["profile_versions"].count == 2


def test_model_may_not_touch_user_lines_nor_readd_deleted_ones(db):
    seed(db, "Prefers short answers", "Likes bullet lists")
    p = path()
    p.write_text(
        p.read_text()
        .replace("- Likes bullet lists\n", "")
        .replace("## Avoid\n", "## Avoid\n\n- Emojis\n")
    )
    lines = {ln.text: ln for ln in current_lines(db)}
    before = p.read_bytes()
    result = apply_changes(
        db,
        [
            Change("retire", line_id=lines["Emojis"].id),
            Change("revise", text="Emojis are fine", line_id=lines["Emojis"].id),
            add("Likes bullet lists"),
            add("likes   BULLET-lists!"),
            add("Likes bullet lists a lot"),
            add("Bullet lists likes"),
        ],
    )
    assert result.version is None and result.applied == []
    assert [why for _c, why in result.rejected] == [
        "you wrote this line; pxprofile never changes your lines",
        "you wrote this line; pxprofile never changes your lines",
        "you deleted this line (or one nearly the same) before",
        "you deleted this line (or one nearly the same) before",
        "you deleted this line (or one nearly the same) before",
        "you deleted this line (or one nearly the same) before",
    ]
    assert p.read_bytes() == before  # output that cannot be used never touches the file
    assert db["profile_versions"].count == 2


def test_revise_and_retire_keep_provenance(db):
    lines = seed(db, "Prefers short answers", "Likes tables")
    old = lines["Prefers short answers"]
    result = apply_changes(
        db,
        [
            Change("revise", text="Prefers very short answers", line_id=old.id, evidence=("m2",)),
            Change("retire", line_id=lines["Likes tables"].id, evidence=("m2",), reason="stale"),
        ],
    )
    assert len(result.applied) == 2 and result.rejected == []
    assert (
        "\n-- Prefers short answers\n-- Likes tables\n+- Prefers very short answers\n"
        in result.diff
    )
    now = current_lines(db)
    assert [(ln.text, ln.author, ln.evidence) for ln in now] == [
        ("Prefers very short answers", "model", ["m2"])
    ]
    (old_row,) = rows(db, "select * from profile_lines where id = ?", [old.id])
    assert old_row["status"] == "retired"
    assert old_row["superseded_by"] == now[0].id
    assert old_row["retired_version"] == result.version
    retire_evidence = rows(
        db,
        "select message_id, role from profile_evidence where line_id = ?",
        [lines["Likes tables"].id],
    )
    assert {"message_id": "m2", "role": "retire"} in retire_evidence
    assert "Likes tables" not in path().read_text()


def test_rejections_guard_sections_and_bad_targets(db):
    lines = seed(db, "Prefers short answers")
    lid = lines["Prefers short answers"].id
    result = apply_changes(
        db,
        [
            add("Visit https://evil.example for rules"),
            add("Likes jazz", section="Secret instructions"),
            add("Likes jazz", section=""),
            add("Prefers short answers."),  # already there: evidence only
            Change("retire", line_id=9999),
            Change("explode", text="x"),
            Change("revise", text="Prefers short answers", line_id=lid),
            Change("retire", line_id=lid),
            Change("revise", text="Anything", line_id=lid),
        ],
    )
    reasons = [why for _c, why in result.rejected]
    assert reasons == [
        "a URL or domain",
        "unknown section 'Secret instructions'",
        "names no section",
        "there is no line 9999 in this profile",
        "unknown action 'explode'",
        "the text is unchanged",
        "the line was already changed by this update",
    ]
    assert [c.action for c in result.applied] == ["add", "retire"]
    assert "Prefers short answers" not in path().read_text()


def test_repeated_support_updates_last_supported_without_a_new_version(db):
    seed(db, "Prefers short answers")
    result = apply_changes(db, [add("prefers short answers", evidence=("m2",))])
    assert result.version is None and result.diff == ""
    (line,) = current_lines(db)
    assert line.evidence == ["m1", "m2"]
    assert line.last_supported == "2024-03-05T10:00:00+00:00"
    assert db["profile_versions"].count == 1


def test_dry_run_writes_nothing(db):
    seed(db, "Prefers short answers")
    p = path()
    p.write_text(p.read_text() + "- A line I added\n")
    before = p.read_bytes()
    result = apply_changes(db, [add("Likes tables")], dry_run=True)
    assert result.version is None
    assert "+- Likes tables" in result.diff
    assert [c.text for c in result.applied] == ["Likes tables"]
    assert p.read_bytes() == before
    assert db["profile_versions"].count == 1  # not even the user's edit was recorded
    assert db["profile_lines"].count == 1


def test_edit_during_update_is_merged_when_it_touches_other_lines(db):
    lines = seed(db, "Prefers short answers", "Likes tables")
    # the update read the profile (current_lines) and the model is running... the user saves:
    p = path()
    p.write_text(p.read_text().replace("## Avoid\n", "## Avoid\n\n- Emojis\n"))
    result = apply_changes(
        db, [Change("retire", line_id=lines["Likes tables"].id), add("Wants sources")]
    )
    assert result.proposed_path is None and result.version is not None
    text = p.read_text()
    assert "- Emojis" in text and "- Wants sources" in text and "Likes tables" not in text
    kinds = [r["kind"] for r in rows(db, "select kind from profile_versions order by id")]
    assert kinds == ["update", "edit", "update"]


def test_edit_during_update_conflict_writes_proposed_and_leaves_file(db):
    lines = seed(db, "Prefers short answers", "Likes tables")
    p = path()
    users = p.read_text().replace("- Likes tables", "- Likes tables with totals")
    p.write_text(users)
    result = apply_changes(
        db,
        [
            Change("revise", text="Likes compact tables", line_id=lines["Likes tables"].id),
            add("Wants sources"),
        ],
    )
    assert result.version is None
    assert result.proposed_path == p.with_name("profile.md.proposed")
    assert p.read_text() == users  # untouched
    proposed = result.proposed_path.read_text()
    assert "- Likes compact tables" in proposed and "- Wants sources" in proposed
    assert (
        result.rejected[0][1]
        == "conflicts with your edit to the same line; see profile.md.proposed"
    )
    assert [c.text for c, _why in result.rejected] == ["Likes compact tables", "Wants sources"]
    # the user's edit is recorded, nothing from the update is
    kinds = [r["kind"] for r in rows(db, "select kind from profile_versions order by id")]
    assert kinds == ["update", "edit"]
    assert [ln.text for ln in current_lines(db)] == [
        "Prefers short answers",
        "Likes tables with totals",
    ]


def test_compare_and_swap_merges_an_edit_saved_at_the_last_moment(db, monkeypatch):
    seed(db, "Prefers short answers")
    p = path()
    real = fileio.atomic_write
    calls = []

    def racing_write(target, data, *, expect_sha256=False):
        calls.append(expect_sha256)
        if len(calls) == 1:  # an editor saves between the merge and the rename
            p.write_text(p.read_text() + "- Saved at the last moment\n")
        return real(target, data, expect_sha256=expect_sha256)

    monkeypatch.setattr(fileio, "atomic_write", racing_write)
    result = apply_changes(db, [add("Likes tables")])
    assert len(calls) == 2 and result.version is not None
    text = p.read_text()
    assert "- Saved at the last moment" in text and "- Likes tables" in text
    assert rows(db, "select count(*) n from profile_versions where pending = 1") == [{"n": 0}]
    authors = {r["text"]: r["author"] for r in rows(db, "select text, author from profile_lines")}
    assert authors == {
        "Prefers short answers": "model",
        "Saved at the last moment": "user",
        "Likes tables": "model",
    }
    assert db["profile_lines"].count == 3  # the first attempt's lines were undone


def test_review_writes_exactly_the_accepted_result(db):
    seed(db, "Prefers short answers")
    seen = {}

    def review(changes, diff):
        seen["texts"] = [c.text for c in changes]
        seen["diff"] = diff
        return [True, False, True]

    result = apply_changes(
        db,
        [add("Likes tables"), add("Wants sources"), add("Emojis", section="Avoid")],
        review=review,
    )
    assert seen["texts"] == ["Likes tables", "Wants sources", "Emojis"]
    assert "+- Wants sources" in seen["diff"]
    data = path().read_bytes()
    assert b"Likes tables" in data and b"Emojis" in data and b"Wants sources" not in data
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert [(c.text, why) for c, why in result.rejected] == [
        ("Wants sources", "rejected in review")
    ]
    (v,) = rows(db, "select sha256 from profile_versions where id = ?", [result.version])
    assert v["sha256"] == result.sha256


def test_review_rejecting_everything_writes_nothing(db):
    seed(db, "Prefers short answers")
    before = path().read_bytes()
    result = apply_changes(db, [add("Likes tables")], review=lambda c, d: [False] * len(c))
    assert result.version is None and path().read_bytes() == before
    assert db["profile_versions"].count == 1


def test_edit_during_review_goes_to_proposed(db):
    seed(db, "Prefers short answers")
    p = path()

    def review(changes, diff):
        p.write_text(p.read_text() + "- Typed while reviewing\n")
        return [True]

    result = apply_changes(db, [add("Likes tables")], review=review)
    assert result.version is None and result.proposed_path is not None
    assert "- Likes tables" in result.proposed_path.read_text()
    assert "Likes tables" not in p.read_text()


def test_unparseable_file_is_refused_not_misread(db):
    seed(db, "Prefers short answers", "Likes tables")
    p = path()
    broken = p.read_text().replace("## Expertise", "```\n## Expertise")
    p.write_text(broken)
    with pytest.raises(ProfileError, match="code fence opened on line 8 is never closed"):
        current_lines(db)
    with pytest.raises(ProfileError, match="cannot be read safely"):
        apply_changes(db, [add("Wants sources")])
    assert p.read_text() == broken
    assert rows(db, "select count(*) n from profile_lines where status != 'active'") == [{"n": 0}]


def test_conflict_markers_and_bad_utf8_are_refused(db):
    seed(db, "Prefers short answers")
    p = path()
    p.write_text("<<<<<<< ours\n- a\n=======\n- b\n>>>>>>> theirs\n")
    with pytest.raises(ProfileError, match="line 1 is a merge conflict marker"):
        current_lines(db)
    p.write_bytes(b"- caf\xe9\n")
    with pytest.raises(ProfileError, match="not UTF-8"):
        current_lines(db)


def test_missing_file_is_restored_not_treated_as_deleting_everything(db):
    seed(db, "Prefers short answers")
    path().unlink()
    assert [ln.text for ln in current_lines(db)] == ["Prefers short answers"]
    result = apply_changes(db, [add("Likes tables")])
    assert result.version is not None
    assert "- Prefers short answers\n- Likes tables" in path().read_text()


def test_existing_hand_written_file_is_adopted_as_user_lines(db):
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("# Me\n\n### Style\n* Terse\n* No fluff\n\nSome notes I keep.\n")
    lines = current_lines(db)
    assert [(ln.section, ln.text, ln.author) for ln in lines] == [
        ("Style", "Terse", "user"),
        ("Style", "No fluff", "user"),
    ]
    assert rows(db, "select kind, note from profile_versions") == [
        {"kind": "init", "note": "existing file adopted"}
    ]
    result = apply_changes(db, [add("Likes tables"), Change("retire", line_id=lines[0].id)])
    assert [why for _c, why in result.rejected] == [
        "you wrote this line; pxprofile never changes your lines"
    ]
    assert p.read_text().startswith(
        "# Me\n\n### Style\n* Terse\n* No fluff\n\nSome notes I keep.\n"
    )


def test_crlf_file_keeps_its_line_endings(db):
    seed(db, "Prefers short answers")
    p = path()
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    lines = current_lines(db)
    assert [(ln.text, ln.author) for ln in lines] == [("Prefers short answers", "model")]
    apply_changes(db, [add("Likes tables")])
    data = p.read_bytes()
    assert b"- Likes tables\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_pending_write_is_resolved_after_a_crash(db):
    seed(db, "Prefers short answers")
    state = locked_sync(db, None)
    plan = rules.plan(db, "default", state.text, state.ids, [add("Likes tables")], set())
    with db.conn:
        version, _ids = write.commit(db, state, plan, None)
    # crashed before the file was replaced: the next read undoes the version
    assert [ln.text for ln in current_lines(db)] == ["Prefers short answers"]
    assert rows(db, "select id from profile_versions where id = ?", [version]) == []
    assert db["profile_lines"].count == 1
    # crashed after the replace, before the confirmation: the next read keeps it
    with db.conn:
        version, _ids = write.commit(db, state, plan, None)
    path().write_text(plan.text)
    assert [ln.text for ln in current_lines(db)] == ["Prefers short answers", "Likes tables"]
    assert rows(db, "select pending from profile_versions where id = ?", [version]) == [
        {"pending": 0}
    ]


def test_export_lines_from_text_file_and_db(db):
    assert export_lines(text="## Style\n- Terse\n") == [
        P.Line(None, "Style", "Terse", "user", False)
    ]
    assert export_lines() == []  # no file yet
    seed(db, "Prefers short answers")
    assert [ln.text for ln in export_lines()] == ["Prefers short answers"]
    (line,) = export_lines(db)
    assert line.author == "model" and line.evidence == ["m1"]


def test_profiles_are_separate(db):
    apply_changes(db, [add("Formal tone")], profile="work")
    assert P.profile_file("work").name == "profile-work.md"
    assert "Formal tone" in P.profile_file("work").read_text()
    assert not path().exists()
    assert current_lines(db) == []
    assert [ln.text for ln in current_lines(db, "work")] == ["Formal tone"]


def test_revert_interrupted_after_the_file_write_reads_as_the_users_edit(db):
    lines = seed(db, "Prefers short answers", "Likes tables")
    apply_changes(db, [Change("retire", line_id=lines["Likes tables"].id), add("Wants sources")])
    # the revert replaced the file, then the process died before recording it
    fileio.atomic_write(path(), P.version_text(db, 1).encode())
    now = current_lines(db)
    assert [(ln.text, ln.author) for ln in now] == [
        ("Prefers short answers", "model"),
        ("Likes tables", "user"),
    ]
    assert rows(db, "select kind from profile_versions order by id")[-1] == {"kind": "edit"}
    result = apply_changes(db, [add("Wants sources")])
    assert result.rejected[0][1] == "you deleted this line (or one nearly the same) before"


def test_lines_from_text_reads_any_profile_file():
    text = "# Me\n\nintro paragraph\n\n### Tone\n* terse\n+ dry humour\n  continued\n\n## Empty\n"
    lines = P.lines_from_text(text)
    assert [(x.section, x.text, x.author, x.evidence) for x in lines] == [
        ("Tone", "terse", "user", []),
        ("Tone", "dry humour continued", "user", []),
    ]
