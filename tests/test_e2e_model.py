"""The whole path with the real Gemma 3 270M GGUF through llama.cpp (a base model: quality is not
expected; the invariants below must hold whatever it writes)."""

import pytest
from fake_engine import add_conversation

from pxprofile import guard, infer, profile, signals
from pxprofile.engine import load_engine
from pxprofile.store import open_db

pytestmark = pytest.mark.model

USER_LINE = "- Uses British spelling\n"


def test_evidence_to_constrained_operations_to_profile(gemma_engine, tmp_path):
    engine = load_engine("gemma3-270m", n_ctx=2048, n_threads=1, gpu_layers=0)
    assert engine is gemma_engine  # loaded once per session
    db = open_db(tmp_path / "px.db")
    path = profile.profile_file()
    path.write_text(f"# Preference profile\n\n## Communication style\n\n{USER_LINE}")
    before = path.read_text()
    add_conversation(
        db,
        "c1",
        [("user", "I prefer short answers with code examples in Python."), ("assistant", "Sure.")],
    )
    add_conversation(
        db,
        "c2",
        [("user", "Please always use metric units."), ("assistant", "OK.")],
        start="2025-02-01T00:00:00Z",
    )

    result = infer.update(db, engine=engine, max_tokens=120)

    [row] = db["updates"].rows
    assert row["status"] == result.status and row["status"] in ("ok", "noop", "failed", "rejected")
    assert row["finished_at"] and row["model"] == "gemma3-270m" and row["mode"] == "default"
    assert row["readings"] == 1 and row["user_messages_available"] == 2
    text = path.read_text()
    assert USER_LINE in text  # the user's line is never touched
    if result.status == "ok":
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
        assert row["version"] == result.version
        version = db["profile_versions"].get(result.version)
        assert version["update_id"] == row["id"] and version["text"] == text
        model_lines = [ln for ln in profile.current_lines(db) if ln.author == "model"]
        assert model_lines
        for ln in model_lines:  # provenance: each line rests on what the model was shown
            assert ln.evidence and set(ln.evidence) <= {"c1:0", "c1:1", "c2:0", "c2:1"}
            assert guard.line_problem(ln.text) is None and len(ln.text) <= infer.MAX_TEXT
        if not result.errors:
            assert signals.pending(db) == 0
        else:  # a merge batch whose proposals were all rejected leaves its readings unread
            assert row["error"] and signals.pending(db) > 0
    else:
        assert text == before  # unusable or empty output changes nothing
        assert result.applied == []
        if result.status in ("failed", "rejected"):
            assert row["error"] and signals.pending(db) == 4  # read again later
        else:
            assert signals.pending(db) == 0  # read by the model, nothing learned
    # never an emptied profile
    assert profile.current_lines(db)[0].text == "Uses British spelling"


def test_batches_fit_the_real_context_with_the_real_tokenizer(gemma_engine, tmp_path):
    """Many conversations: every reading prompt the real engine would build (template and all)
    plus its output budget fits the context; nothing is generated."""
    from fake_engine import FakeEngine

    class Sized(FakeEngine):
        def count_tokens(self, text):
            return gemma_engine.count_tokens(text)

        def complete(self, system, user, *, schema=None, max_tokens=512):
            ids = gemma_engine.encode_prompt(system, user).ids
            self.sizes.append(len(ids) + max_tokens)
            return super().complete(system, user, schema=schema, max_tokens=max_tokens)

    db = open_db(tmp_path / "px.db")
    for i in range(40):
        add_conversation(
            db,
            f"c{i}",
            [("user", f"I prefer option {i} because {'reasons ' * 12}")],
            start=f"2025-01-{i % 28 + 1:02d}T00:00:00Z",
        )
    engine = Sized(name="gemma3-270m", n_ctx=gemma_engine.n_ctx)
    engine.sizes = []
    result = infer.update(db, engine=engine, read_all=True)
    assert result.readings == len(engine.sizes) > 1
    assert max(engine.sizes) <= gemma_engine.n_ctx, engine.sizes
    assert signals.pending(db) == 0
