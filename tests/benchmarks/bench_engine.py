"""Benchmark: pxprofile's engine vs raw llama-cpp-python, and the wall time of `pxprofile --help`.

Run on demand (not collected by pytest):

    python tests/benchmarks/bench_engine.py [--reps 5] [--threads 2] [--gen 64]

Same model (gemma3-270m), same prompt (the same token ids), same context and threads, both loaded
identically and run alternately (who goes first alternates too), each call from an empty KV cache.
Prompt-processing and generation tokens/s come from llama.cpp's own counters for that call; the
whole call (pxprofile's prompt building, sampling, detokenizing, parsing included) is timed by
wall clock and by CPU time of the process (the steadier figure on a shared, busy machine).
Medians over --reps.
Targets: pxprofile >= 0.95x raw, `pxprofile --help` <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

SYSTEM = "You read a user's chat messages and write down their lasting preferences."
USER = (
    "Here are messages the user wrote.\n"
    + "\n".join(
        f"- Message {i}: I usually prefer short answers with a code example first, "
        "then the explanation; "
        "please avoid marketing language and keep British spelling."
        for i in range(1, 16)
    )
    + "\nThe user's preferences are:"
)


def _timed(fn):
    """(wall seconds, CPU seconds of this process, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def bench_generation(reps: int, threads: int, gen: int, n_ctx: int) -> dict[str, dict[str, float]]:
    import llama_cpp

    from pxprofile.engine import Segment, load_engine
    from pxprofile.models import resolve_path

    path = str(resolve_path("gemma3-270m"))
    engine = load_engine("gemma3-270m", n_ctx=n_ctx, n_threads=threads, gpu_layers=0)
    raw = llama_cpp.Llama(
        path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        seed=0,
        verbose=False,
    )
    raw_prompt = SYSTEM + "\n\n" + USER + "\n\n"  # the same text as pxprofile's plain layout

    def run_raw():
        raw.create_completion(raw_prompt, max_tokens=gen, temperature=0.0, seed=0)

    def run_px():
        engine.complete(SYSTEM, [Segment(USER)], max_tokens=gen)

    runners = {"raw": (raw, run_raw), "pxprofile": (engine.llm, run_px)}
    res: dict[str, dict[str, list[float]]] = {n: {} for n in runners}
    for llm, fn in runners.values():  # warm-up
        llm.reset()
        fn()
    for rep in range(reps):
        order = list(runners.items())
        for name, (llm, fn) in order if rep % 2 == 0 else order[::-1]:  # alternate who goes first
            llm.reset()  # empty KV cache: the whole prompt is processed every time
            llama_cpp.llama_perf_context_reset(llm.ctx)
            wall, cpu, _ = _timed(fn)
            perf = llama_cpp.llama_perf_context(llm.ctx)
            r = res[name]
            r.setdefault("prompt_tokens", []).append(perf.n_p_eval)
            r.setdefault("gen_tokens", []).append(perf.n_eval)
            r.setdefault("pp", []).append(perf.n_p_eval / perf.t_p_eval_ms * 1000)
            r.setdefault("tg", []).append(perf.n_eval / perf.t_eval_ms * 1000)
            r.setdefault("wall", []).append(wall)
            r.setdefault("cpu", []).append(cpu)
    # pxprofile's own work per call (token-level prompt building), which contention cannot blur
    encode = [_timed(lambda: engine.encode_prompt(SYSTEM, [Segment(USER)]))[0] for _ in range(50)]
    out = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in res.items()}
    out["pxprofile"]["encode_ms"] = statistics.median(encode) * 1000
    return out


def bench_help(reps: int) -> dict[str, float]:
    exe = shutil.which("pxprofile") or os.path.join(os.path.dirname(sys.executable), "pxprofile")
    cmds = {
        "pxprofile --help": [exe, "--help"],
        "python -c pass (interpreter start)": [sys.executable, "-c", "pass"],
    }
    out = {}
    for label, cmd in cmds.items():
        subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
        times = [
            _timed(lambda cmd=cmd: subprocess.run(cmd, capture_output=True, check=True))[0]
            for _ in range(reps)
        ]
        out[label] = statistics.median(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--n-ctx", type=int, default=2048)
    args = ap.parse_args()
    os.environ.setdefault(
        "PXPROFILE_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "pxprofile-bench")
    )

    gen = bench_generation(args.reps, args.threads, args.gen, args.n_ctx)
    print(
        f"gemma3-270m Q4_K_M, n_ctx {args.n_ctx}, {args.threads} thread(s), CPU, "
        f"medians of {args.reps} alternating runs"
    )
    head = ("prompt", "gen", "pp tok/s", "tg tok/s", "call s", "call cpu-s")
    print(f"{'':<11}" + "".join(f"{h:>11}" for h in head))
    for name, r in gen.items():
        print(
            f"{name:<11}{r['prompt_tokens']:>11.0f}{r['gen_tokens']:>11.0f}{r['pp']:>11.1f}"
            f"{r['tg']:>11.1f}{r['wall']:>11.3f}{r['cpu']:>11.3f}"
        )
    px, raw = gen["pxprofile"], gen["raw"]
    print(
        f"pxprofile / raw: prompt processing {px['pp'] / raw['pp']:.3f}x, generation "
        f"{px['tg'] / raw['tg']:.3f}x, whole call {raw['wall'] / px['wall']:.3f}x by wall clock, "
        f"{raw['cpu'] / px['cpu']:.3f}x by CPU time (target >= 0.95x)"
    )
    print(
        f"pxprofile's prompt building: {px['encode_ms']:.2f} ms per call "
        f"({px['encode_ms'] / (px['wall'] * 1000):.2%} of a call)"
    )
    for label, t in bench_help(args.reps).items():
        print(
            f"{label:<36}{t:.3f} s"
            + ("  (target <= 0.3 s)" if label.startswith("pxprofile") else "")
        )


if __name__ == "__main__":
    main()
