"""Property test: whatever the user and the model do, in any order, user edits win.

Hypothesis drives random sequences of user edits (add, reword, delete, move; synced or not, and
during an update) and model operations (add, revise, retire, including ones that target user
lines and ones that re-add deleted text in other case or punctuation). After every step:
  * every line the user wrote is in the file, verbatim;
  * no line the user deleted (or reworded away) comes back, in the same or nearly the same words;
  * on a conflict the user's file is left byte for byte as it was.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pxprofile import document
from pxprofile import profile as P
from pxprofile.profile import Change, apply_changes, current_lines
from pxprofile.store import open_db

WORDS = ["short", "answers", "code", "first", "tables", "formal", "tone", "python", "jazz", "tea"]
SECTIONS = ["Communication style", "Expertise", "Interests", "Avoid", "My notes"]

texts = st.lists(st.sampled_from(WORDS), min_size=2, max_size=4).map(
    lambda ws: "Likes " + " ".join(ws)
)
user_op = st.one_of(
    st.tuples(st.just("add"), texts, st.sampled_from(SECTIONS)),
    st.tuples(st.just("reword"), st.integers(0, 50), texts),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("move"), st.integers(0, 50), st.sampled_from(SECTIONS)),
)
variant = st.sampled_from(
    [str, str.upper, str.lower, lambda s: s + "!", lambda s: s.replace(" ", "  , ")]
)
model_op = st.one_of(
    st.tuples(st.just("add"), texts, st.sampled_from(SECTIONS[:4])),
    st.tuples(st.just("readd"), st.integers(0, 50), variant, st.sampled_from(SECTIONS[:4])),
    st.tuples(st.just("revise"), st.integers(0, 50), texts),
    st.tuples(st.just("revise_to_deleted"), st.integers(0, 50), st.integers(0, 50), variant),
    st.tuples(st.just("retire"), st.integers(0, 50)),
)
step = st.one_of(
    st.tuples(st.just("user"), user_op, st.booleans()),
    st.tuples(st.just("model"), st.lists(model_op, min_size=1, max_size=3)),
    st.tuples(st.just("model_during_edit"), st.lists(model_op, min_size=1, max_size=3), user_op),
)


class World:
    def __init__(self, db):
        self.db = db
        self.path = P.profile_file()
        self.user: set[str] = set()  # lines the user wrote and still has
        self.deleted: list[str] = []  # lines the user removed
        self.counter = 0

    def bullets(self) -> list[str]:
        return [b.text for _s, b in document.parse(self.path.read_text()).bullets()]

    def user_edit(self, op) -> None:
        doc = document.parse(self.path.read_text())
        pairs = doc.bullets()
        kind = op[0]
        if kind == "add":
            self.counter += 1
            text = f"{op[1]} u{self.counter}"  # fresh: never equal to a line seen before
            doc.add(op[2], text)
            self.user.add(text)
        elif not pairs:
            return
        elif kind in ("reword", "delete"):
            _s, b = pairs[op[1] % len(pairs)]
            self.deleted.append(b.text)
            self.user.discard(b.text)
            if kind == "reword":
                self.counter += 1
                b.text = f"{op[2]} u{self.counter}"
                self.user.add(b.text)
            else:
                doc.remove(b)
        elif kind == "move":
            _s, b = pairs[op[1] % len(pairs)]
            doc.remove(b)
            doc.add(op[2], b.text)
        self.path.write_text(document.render(doc))

    def changes(self, ops, lines) -> list[Change]:
        out = []
        for op in ops:
            kind = op[0]
            if kind == "add":
                out.append(Change("add", op[1], op[2]))
            elif kind == "readd" and self.deleted:
                out.append(Change("add", op[2](self.deleted[op[1] % len(self.deleted)]), op[3]))
            elif kind == "revise" and lines:
                out.append(Change("revise", op[2], line_id=lines[op[1] % len(lines)].id))
            elif kind == "revise_to_deleted" and lines and self.deleted:
                text = op[3](self.deleted[op[2] % len(self.deleted)])
                out.append(Change("revise", text, line_id=lines[op[1] % len(lines)].id))
            elif kind == "retire" and lines:
                out.append(Change("retire", line_id=lines[op[1] % len(lines)].id))
        return out

    def model(self, ops, during=None) -> None:
        lines = current_lines(self.db)  # what the update read when it started
        changes = self.changes(ops, lines)
        if during is not None:
            self.user_edit(during)  # the user saves while the model runs
        before_bytes = self.path.read_bytes()
        before = set(self.bullets())
        result = apply_changes(self.db, changes)
        after = self.bullets()
        if result.proposed_path is not None:
            assert self.path.read_bytes() == before_bytes
        for text in set(after) - before:  # what the update added or reworded
            assert not any(P.similar(text, d) for d in self.deleted), (text, self.deleted)
            assert text not in self.user

    def check(self) -> None:
        after = self.bullets()
        for text in self.user:
            assert after.count(text) == 1, (text, after)
        for d in self.deleted:
            assert d not in after or d in self.user, d


@settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed_lines=st.lists(texts, min_size=1, max_size=4, unique=True),
    steps=st.lists(step, min_size=1, max_size=10),
)
def test_user_lines_never_lost_and_deleted_lines_never_return(env_setup, seed_lines, steps):
    home = tempfile.mkdtemp(dir=env_setup.parent)
    old = os.environ.get("PXPROFILE_HOME")
    os.environ["PXPROFILE_HOME"] = home
    try:
        db = open_db()
        world = World(db)
        apply_changes(db, [Change("add", t, SECTIONS[i % 4]) for i, t in enumerate(seed_lines)])
        for s in steps:
            if s[0] == "user":
                world.user_edit(s[1])
                if s[2]:
                    current_lines(db)
            elif s[0] == "model":
                world.model(s[1])
            else:
                world.model(s[1], during=s[2])
            world.check()
        # and the database agrees: every user line is active and authored by the user
        rows = {
            r["text"]: r["author"]
            for r in db.query("select text, author from profile_lines where status = 'active'")
        }
        current_lines(db)
        for text in world.user:
            assert rows.get(text) == "user" or text in world.bullets()
        db.conn.close()
    finally:
        os.environ["PXPROFILE_HOME"] = old
