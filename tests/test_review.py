"""The --review UI, driven through prompt-toolkit's pipe input, and its effect on the file."""

from __future__ import annotations

import hashlib
import io

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.output.plain_text import PlainTextOutput

from pxprofile import profile as P
from pxprofile.cli.output import interactive
from pxprofile.cli.review import describe, make_review, review_changes
from pxprofile.profile import Change, Line, apply_changes, current_lines
from pxprofile.store import open_db


def run_review(keys: str, changes, diff="", lines=None):
    buf = io.StringIO()
    with create_pipe_input() as inp:
        inp.send_text(keys)
        decisions = review_changes(
            changes, diff, lines=lines, input=inp, output=PlainTextOutput(buf)
        )
    return decisions, buf.getvalue()


def test_each_change_is_shown_and_answered():
    lines = [Line(7, "Interests", "Likes jazz", "model", True)]
    changes = [
        Change("add", "Prefers short answers", "Communication style", evidence=("m1", "m2")),
        Change("revise", "Likes cool jazz", line_id=7, evidence=("m3",), reason="more precise"),
        Change("retire", line_id=7),
    ]
    decisions, shown = run_review(
        "y\nwhat\nn\ny\n", changes, "--- a\n+++ b\n+- Prefers short answers\n", lines
    )
    assert decisions == [True, False, True]
    assert "+- Prefers short answers" in shown
    assert '[1/3] add to Communication style: "Prefers short answers"  (2 messages)' in shown
    assert '[2/3] reword "Likes jazz" -> "Likes cool jazz"  (1 message; more precise)' in shown
    assert '[3/3] remove "Likes jazz"' in shown
    assert "Please answer y, n, a or r." in shown
    assert "Accepted 2 of 3 changes." in shown


def test_accept_all_and_reject_remaining():
    changes = [Change("add", f"Line {i}", "Interests") for i in range(4)]
    assert run_review("n\na\n", changes)[0] == [False, True, True, True]
    assert run_review("y\nr\n", changes)[0] == [True, False, False, False]


def test_ctrl_d_stops_the_review():
    with create_pipe_input() as inp:
        inp.send_text("y\n")
        inp.close()
        with pytest.raises(KeyboardInterrupt):
            review_changes(
                [Change("add", "A", "Avoid"), Change("add", "B", "Avoid")],
                "",
                input=inp,
                output=DummyOutput(),
            )


def test_describe_without_lines_names_the_line_id():
    assert describe(Change("retire", line_id=3)) == "remove line 3"


def test_no_prompt_when_not_a_terminal():
    assert interactive() is False  # pytest captures stdin/stdout


def test_review_through_apply_changes_writes_exactly_the_accepted_result(env_setup):
    db = open_db()
    apply_changes(db, [Change("add", "Likes jazz", "Interests")])
    lines = current_lines(db)
    changes = [
        Change("revise", "Likes cool jazz", line_id=lines[0].id),
        Change("add", "Prefers short answers", "Communication style"),
        Change("add", "Emojis", "Avoid"),
    ]
    buf = io.StringIO()
    with create_pipe_input() as inp:
        inp.send_text("y\nn\ny\n")
        reviewer = make_review(input=inp, output=PlainTextOutput(buf))
        result = apply_changes(db, changes, review=reviewer)
    data = P.profile_file().read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert b"- Likes cool jazz\n" in data and b"- Emojis\n" in data
    assert b"Prefers short answers" not in data
    assert [(c.text, why) for c, why in result.rejected] == [
        ("Prefers short answers", "rejected in review")
    ]
    assert '[1/3] reword "Likes jazz" -> "Likes cool jazz"' in buf.getvalue()
