"""Hypothesis over the importers and the profile parser (derandomized; well under a minute).

Invariants: ingest is idempotent and order-independent; nothing but the documented errors
(PxprofileError subclasses) escapes an importer, whatever the bytes; render/parse of the profile
document is a fixed point and a hostile line never adds a section.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pxprofile import document
from pxprofile.errors import PxprofileError
from pxprofile.importers.common import Limits
from pxprofile.ingest import ingest_stream
from pxprofile.store import open_db

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = Limits(
    max_file_bytes=2 * 1024**2,
    max_element_chars=1024**2,
    max_nodes=2_000,
    max_zip_members=20,
    max_zip_total_bytes=4 * 1024**2,
    max_zip_ratio=50,
)

FAST = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text that exercises everything the pipeline strips or must survive.
hostile_text = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
        st.sampled_from(
            [
                "\x00",
                "\u202e",
                "\u200b",
                "\U000e0041",
                "\ufeff",
                "\n",
                "```",
                "<|im_start|>",
                "AKIAIOSFODNN7EXAMPLE",
                "jane@example.com",
                "\ud83d",
                " ",
            ]
        ),
    ),
    max_size=6,
).map("".join)


def _db():
    d = tempfile.mkdtemp(prefix="px-hyp-")
    return open_db(os.path.join(d, "px.db")), d


def _state(db) -> set[tuple]:
    msgs = {
        tuple(r)
        for r in db.execute(
            "select id, conversation_id, parent_id, role, text, redacted, hidden, on_active_path, "
            "seq "
            "from messages"
        )
    }
    convs = {tuple(r) for r in db.execute("select id, title, current_leaf from conversations")}
    pairs = {tuple(r) for r in db.execute("select id, chosen_id, rejected_id from pairs")}
    return {("m", *m) for m in msgs} | {("c", *c) for c in convs} | {("p", *p) for p in pairs}


# --- ChatGPT trees ---------------------------------------------------------------------------


@st.composite
def conversation(draw, cid: str):
    n = draw(st.integers(1, 7))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    mapping = {}
    for i in range(n):
        mid = f"{cid}-{i}"
        role = draw(st.sampled_from(["user", "assistant", "system", "tool"]))
        msg = (
            None
            if i == 0 and draw(st.booleans())
            else {
                "id": mid,
                "author": {"role": role},
                "create_time": draw(st.one_of(st.none(), st.floats(0, 2e9, allow_nan=False))),
                "content": {"content_type": "text", "parts": [draw(hostile_text)]},
            }
        )
        mapping[mid] = {
            "id": mid,
            "message": msg,
            "parent": None if parents[i] is None else f"{cid}-{parents[i]}",
            "children": [],
        }
    for i in range(1, n):
        mapping[f"{cid}-{parents[i]}"]["children"].append(f"{cid}-{i}")
    leaf = draw(st.sampled_from(sorted(mapping)))
    return {
        "id": cid,
        "title": draw(hostile_text),
        "create_time": 1_700_000_000.0,
        "mapping": mapping,
        "current_node": leaf,
    }


@st.composite
def two_exports(draw):
    """Two exports of one account: shared conversations are identical in both."""
    ids = [f"c{i}" for i in range(draw(st.integers(1, 5)))]
    convs = {c: draw(conversation(c)) for c in ids}
    in_a = [c for c in ids if draw(st.booleans())] or ids[:1]
    in_b = [c for c in ids if draw(st.booleans())] or ids[-1:]
    return [convs[c] for c in in_a], [convs[c] for c in in_b]


def _ingest(db, export: list[dict]) -> None:
    data = json.dumps(export, ensure_ascii=draw_ascii(export)).encode("utf-8", "surrogatepass")
    try:
        ingest_stream(db, io.BytesIO(data), name="export.json", format="chatgpt", limits=SMALL)
    except PxprofileError:
        pass  # documented (e.g. nothing importable); the database is unchanged


def draw_ascii(export) -> bool:
    return len(json.dumps(export)) % 2 == 0  # both escaped and raw UTF-8 JSON get exercised


@settings(FAST, max_examples=25)
@given(two_exports())
def test_ingest_is_idempotent_and_order_independent(exports):
    a, b = exports
    states = []
    for order in ((a, b), (b, a), (a, a, b, b)):
        db, _ = _db()
        for e in order:
            _ingest(db, e)
        states.append(_state(db))
        db.conn.close()
    assert states[0] == states[1] == states[2]


# --- anything at all into the importers ------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | hostile_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "mapping",
                    "message",
                    "content",
                    "parts",
                    "author",
                    "role",
                    "children",
                    "parent",
                    "current_node",
                    "chat_messages",
                    "text",
                    "sender",
                    "messages",
                    "id",
                    "uuid",
                    "title",
                    "history",
                    "currentId",
                    "conversations",
                    "chat",
                    "content_type",
                    "create_time",
                    "items",
                    "turns",
                    "from",
                    "value",
                ]
            )
            | hostile_text,
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _only_documented_errors(data: bytes, fmt: str | None = None) -> None:
    db, _ = _db()
    try:
        ingest_stream(db, io.BytesIO(data), name="x", format=fmt, limits=SMALL)
    except PxprofileError:
        pass
    finally:
        db.conn.close()


@settings(FAST, max_examples=120)
@given(
    json_values,
    st.sampled_from([None, "chatgpt", "claude", "openwebui", "openai", "sharegpt", "gemini"]),
)
@example(
    {"mapping": {"a": {"id": "a", "parent": "a", "children": ["a"]}}, "current_node": "a"}, None
)
@example(
    [{"mapping": {"a": {"parent": "b"}, "b": {"parent": "a"}}, "current_node": "a"}], "chatgpt"
)
@example([{"chat_messages": [{"text": None, "content": [{"type": "text"}]}]}], "claude")
def test_any_json_gives_only_documented_errors(value, fmt):
    _only_documented_errors(json.dumps(value).encode(), fmt)


@settings(FAST, max_examples=60)
@given(st.sampled_from(sorted(p for p in FIXTURES.rglob("*.json"))), st.data())
def test_mutated_fixtures_give_only_documented_errors(path, data):
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "dup", "insert"]))
        i = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i : i + data.draw(st.integers(1, 200))]
        elif op == "dup":
            raw[i:i] = raw[i : i + data.draw(st.integers(1, 200))]
        else:
            raw[i:i] = data.draw(
                st.sampled_from([b"\x00", b"\xff\xfe", b"\\ud800", b"[[[[", b'"', b"{}"])
            )
    _only_documented_errors(bytes(raw))


@settings(FAST, max_examples=25)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "conversations.json",
                    "../evil.json",
                    "/abs.json",
                    "a/conversations.json",
                    "inner.zip",
                    "chat.html",
                ]
            ),
            st.binary(max_size=200),
        ),
        max_size=4,
    )
)
def test_any_zip_gives_only_documented_errors(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, body in members:
            z.writestr(name, body)
    _only_documented_errors(buf.getvalue())


# --- the profile document --------------------------------------------------------------------

profile_text = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "# Preference profile",
                "## Communication style",
                "### Avoid",
                "",
                "- ",
                "* item",
                "+ item",
                "  continued",
                "```",
                "~~~",
                "<!-- c -->",
                "---",
                "## ",
                "#no space",
                "\t- tab bullet",
                "1. numbered",
                "> quote",
            ]
        ),
        hostile_text.map(lambda t: t.replace("\n", " ").replace("\r", " ")),
        st.tuples(st.sampled_from(["- ", "## ", "  "]), hostile_text).map(
            lambda t: t[0] + t[1].replace("\n", " ").replace("\r", " ")
        ),
    ),
    max_size=20,
).map("\n".join)


@settings(FAST, max_examples=200)
@given(profile_text)
@example("## A\n- one\n  two\n```\n## not a heading\n```\n- three")
def test_profile_render_parse_is_a_fixed_point(text):
    doc = document.parse(text)
    assert document.render(doc) == text
    again = document.parse(document.render(doc))
    assert [(s.title, [b.text for b in s.bullets]) for s in again.sections] == [
        (s.title, [b.text for b in s.bullets]) for s in doc.sections
    ]


@settings(FAST, max_examples=200)
@given(
    st.lists(
        hostile_text.filter(
            lambda t: (
                t.strip(" \t")
                and not any(c in t for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
            )
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_hostile_line_never_adds_a_section(lines):
    doc = document.new_document()
    for line in lines:
        doc.add("Communication style", line.strip(" \t"))
    again = document.parse(document.render(doc))
    assert [s.title for s in again.sections] == list(document.DEFAULT_SECTIONS)
    assert len(again.bullets()) == len(lines)
