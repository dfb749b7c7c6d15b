"""Engine.option_logprobs and Engine.reply_logprob (the eval's scoring), for real: through the
model's child process, checked against an independent computation with raw llama-cpp-python
(logits_all=True), and over HTTP against `python -m llama_cpp.server`."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import urllib.request

import pytest

from pxprofile.engine import OpenAIEngine, Segment
from pxprofile.errors import InferenceError

pytestmark = pytest.mark.model

SYSTEM = "Answer with one letter."
USER = [Segment("Which is a fruit? A) a chair B) an apple C) a cloud\nAnswer:")]


def _raw_logprobs(path: str, prompt_ids: list[int], reply_ids: list[int]) -> float:
    """Sum of log P(reply token | everything before it), from raw llama-cpp-python."""
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(path, n_ctx=1024, n_threads=1, logits_all=True, verbose=False)
    try:
        llm.eval(prompt_ids + reply_ids)
        scores = np.asarray(llm.scores[: llm.n_tokens], dtype=np.float64)
    finally:
        llm.close()
    n = len(prompt_ids)
    total = 0.0
    for k, tok in enumerate(reply_ids):
        row = scores[n - 1 + k]
        total += row[tok] - (row.max() + math.log(np.exp(row - row.max()).sum()))
    return total


def test_reply_logprob_matches_raw_llama_cpp(gemma_engine, local_gemma):
    from pxprofile.models import resolve_path

    reply = "B) an apple, because it grows on a tree"
    got = gemma_engine.reply_logprob(SYSTEM, USER, reply)
    prompt = local_gemma.encode_prompt(SYSTEM, USER).ids
    ids = local_gemma.tokenize(reply, special=False)
    want = _raw_logprobs(str(resolve_path("gemma3-270m")), prompt, ids)
    assert got < 0 and got == pytest.approx(want, abs=0.05)
    assert gemma_engine.reply_logprob(SYSTEM, USER, reply) == got  # deterministic
    assert local_gemma.reply_logprob(SYSTEM, USER, reply) == pytest.approx(got, abs=1e-6)


def test_option_logprobs_read_the_next_token_distribution(gemma_engine):
    opts = ["A", "B", "C"]
    lp = gemma_engine.option_logprobs(SYSTEM, USER, opts)
    assert len(lp) == 3 and all(x < 0 for x in lp)
    assert sum(math.exp(x) for x in lp) <= 1.0 + 1e-6  # three outcomes of one distribution
    assert gemma_engine.option_logprobs(SYSTEM, USER, opts) == lp  # deterministic
    # a one-token option's log-probability is the one-token reply's
    assert gemma_engine.reply_logprob(SYSTEM, USER, "B") == pytest.approx(lp[1], abs=1e-6)
    # the greedy next token is the most likely option
    first = gemma_engine.complete(SYSTEM, USER, max_tokens=1).text
    if first and gemma_engine.count_tokens(first) == 1:
        [best] = gemma_engine.option_logprobs(SYSTEM, USER, [first])
        assert best >= max(lp) - 1e-6
    # a longer option: the sum over its tokens, as for a reply
    [long] = gemma_engine.option_logprobs(SYSTEM, USER, ["B) an apple"])
    assert long == pytest.approx(gemma_engine.reply_logprob(SYSTEM, USER, "B) an apple"), abs=1e-6)


def test_scoring_uses_the_chat_template(smollm2_engine):
    lp = smollm2_engine.option_logprobs(SYSTEM, USER, ["A", "B", "C"])
    assert all(x < 0 for x in lp) and sum(math.exp(x) for x in lp) <= 1.0 + 1e-6
    plain = smollm2_engine.reply_logprob(SYSTEM, USER, "B")
    assert plain == pytest.approx(lp[1], abs=1e-6)


def test_scoring_errors_are_inference_errors(gemma_engine):
    with pytest.raises(InferenceError, match="empty reply"):
        gemma_engine.reply_logprob(SYSTEM, USER, "")
    with pytest.raises(InferenceError, match="more than gemma3-270m's context"):
        gemma_engine.reply_logprob(SYSTEM, [Segment("word " * 3000)], "x")
    assert gemma_engine.alive  # an error in the child is an answer, not a crash


# --- over HTTP -------------------------------------------------------------------------------


def _serve(tmp_path, port: int, *extra: str):
    from pxprofile.models import resolve_path

    log = open(tmp_path / f"server-{port}.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_path("smollm2-135m")),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1",
         *extra],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                pytest.fail("llama_cpp.server did not start:\n" + log.read()[-3000:])
            time.sleep(0.5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("logits_all", [True, False])
def test_openai_backend_scores_options_where_the_server_returns_logprobs(tmp_path, logits_all):
    port = _free_port()
    proc = _serve(tmp_path, port, "--logits_all", str(logits_all))
    try:
        engine = OpenAIEngine("smollm2-135m", f"http://127.0.0.1:{port}/v1", n_ctx=1024)
        if not logits_all:  # llama_cpp.server answers no logprobs without it: say so
            with pytest.raises(InferenceError, match="returned no log-probabilities"):
                engine.option_logprobs(SYSTEM, USER, ["A", "B"])
        else:
            lp = engine.option_logprobs(SYSTEM, USER, ["A", "B", "C", "zzzq"])
            assert lp[3] == float("-inf")  # not among the top 20
            assert max(lp[:3]) > -20 and all(x <= 0 for x in lp)
            assert engine.option_logprobs(SYSTEM, USER, ["A", "B", "C", "zzzq"]) == lp
        with pytest.raises(InferenceError, match="cannot score a given reply"):
            engine.reply_logprob(SYSTEM, USER, "B")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
