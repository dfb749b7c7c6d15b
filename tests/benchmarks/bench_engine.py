"""Benchmark: pxprofile's engine vs raw llama-cpp-python, and the wall time of `pxprofile --help`.

Run on demand (not collected by pytest):

    python tests/benchmarks/bench_engine.py [--reps 5] [--threads 2] [--gen 64]

Same model (gemma3-270m), same prompt, same context and threads, both loaded identically and run
alternately. Prompt processing = a completion with max_tokens=1 from an empty KV cache; generation
= (completion tokens - 1) / (time of a max_tokens=N completion - prompt time). Medians over --reps.
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
        f"- Message {i}: I usually prefer short answers with a code example first, then the explanation; "
        "please avoid marketing language and keep British spelling."
        for i in range(1, 16)
    )
    + "\nThe user's preferences are:"
)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_generation(reps: int, threads: int, gen: int, n_ctx: int) -> dict[str, dict[str, float]]:
    import llama_cpp

    from pxprofile.engine import Segment, load_engine
    from pxprofile.models import resolve_path

    path = str(resolve_path("gemma3-270m"))
    engine = load_engine("gemma3-270m", n_ctx=n_ctx, n_threads=threads, gpu_layers=0)
    raw = llama_cpp.Llama(
        path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_gpu_layers=0, seed=0, verbose=False
    )
    raw_prompt = SYSTEM + "\n\n" + USER + "\n\n"  # the same text as pxprofile's plain layout

    def run_raw(max_tokens):
        raw.reset()
        return raw.create_completion(raw_prompt, max_tokens=max_tokens, temperature=0.0, seed=0)["usage"]

    def run_px(max_tokens):
        engine.llm.reset()
        c = engine.complete(SYSTEM, [Segment(USER)], max_tokens=max_tokens)
        return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}

    results: dict[str, dict[str, list[float]]] = {k: {"pp": [], "tg": []} for k in ("raw", "pxprofile")}
    runners = {"raw": run_raw, "pxprofile": run_px}
    for name in runners:  # warm-up
        runners[name](4)
    prompt_tokens = {}
    for _ in range(reps):
        for name, fn in runners.items():
            t_pp, usage = _timed(lambda fn=fn: fn(1))
            t_all, usage_all = _timed(lambda fn=fn: fn(gen))
            prompt_tokens[name] = usage["prompt_tokens"]
            results[name]["pp"].append(usage["prompt_tokens"] / t_pp)
            gen_tokens = usage_all["completion_tokens"] - 1
            results[name]["tg"].append(gen_tokens / max(t_all - t_pp, 1e-9))
    return {
        name: {
            "prompt_tokens": prompt_tokens[name],
            "pp_tok_s": statistics.median(r["pp"]),
            "tg_tok_s": statistics.median(r["tg"]),
        }
        for name, r in results.items()
    }


def bench_help(reps: int) -> dict[str, float]:
    exe = shutil.which("pxprofile") or os.path.join(os.path.dirname(sys.executable), "pxprofile")
    cmds = {
        "pxprofile --help": [exe, "--help"],
        "python -c pass (interpreter start)": [sys.executable, "-c", "pass"],
    }
    out = {}
    for label, cmd in cmds.items():
        subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
        times = [_timed(lambda cmd=cmd: subprocess.run(cmd, capture_output=True, check=True))[0] for _ in range(reps)]
        out[label] = statistics.median(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--n-ctx", type=int, default=2048)
    args = ap.parse_args()
    os.environ.setdefault("PXPROFILE_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "pxprofile-bench"))

    gen = bench_generation(args.reps, args.threads, args.gen, args.n_ctx)
    print(f"gemma3-270m Q4_K_M, n_ctx {args.n_ctx}, {args.threads} threads, CPU, median of {args.reps}")
    print(f"{'':<12}{'prompt tok':>11}{'pp tok/s':>11}{'tg tok/s':>11}")
    for name, r in gen.items():
        print(f"{name:<12}{r['prompt_tokens']:>11}{r['pp_tok_s']:>11.1f}{r['tg_tok_s']:>11.1f}")
    pp = gen["pxprofile"]["pp_tok_s"] / gen["raw"]["pp_tok_s"]
    tg = gen["pxprofile"]["tg_tok_s"] / gen["raw"]["tg_tok_s"]
    print(f"pxprofile / raw: prompt processing {pp:.3f}x, generation {tg:.3f}x (target >= 0.95x)")
    for label, t in bench_help(args.reps).items():
        print(f"{label:<36}{t:.3f} s" + ("  (target <= 0.3 s)" if label.startswith("pxprofile") else ""))


if __name__ == "__main__":
    main()
