"""Benchmark: pxprofile's engine vs raw llama-cpp-python, what running llama.cpp in a child process
costs (start-up, token counting), and the wall time of `pxprofile --help`.

Run on demand (not collected by pytest):

    python tests/benchmarks/bench_engine.py [--reps 5] [--threads 2] [--gen 64] [--model gemma3-270m]

Same model, same prompt (the same token ids), same context and threads, both loaded identically and
run alternately (who goes first alternates too), each call from an empty KV cache. pxprofile's
engine is what load_engine returns: the model in a child process (pxprofile/runner.py), each call a
JSON round trip over a pipe. Prompt-processing and generation tokens/s come from llama.cpp's own
counters for that call (read from the child for pxprofile); the whole call (prompt building,
the round trip, sampling, detokenizing, parsing) is timed by wall clock. Medians over --reps.
Start-up: a fresh Python process that loads the model in-process vs one that calls load_engine
(spawn + import + load in the child, the vocab-only tokenizer in the parent meanwhile).
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


def bench_generation(
    model: str, reps: int, threads: int, gen: int, n_ctx: int
) -> dict[str, dict[str, float]]:
    import llama_cpp

    from pxprofile.engine import Segment, load_engine
    from pxprofile.models import resolve_path

    path = str(resolve_path(model))
    engine = load_engine(model, n_ctx=n_ctx, n_threads=threads, gpu_layers=0)
    raw = llama_cpp.Llama(
        path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        seed=0,
        verbose=False,
    )
    raw_prompt = engine.encode_prompt(SYSTEM, [Segment(USER)]).ids  # the very same token ids

    def raw_perf() -> dict:
        p = llama_cpp.llama_perf_context(raw.ctx)
        llama_cpp.llama_perf_context_reset(raw.ctx)
        raw.reset()
        return {k: getattr(p, k) for k in ("n_p_eval", "t_p_eval_ms", "n_eval", "t_eval_ms")}

    runners = {
        "raw": (
            raw_perf,
            lambda: raw.create_completion(raw_prompt, max_tokens=gen, temperature=0.0, seed=0),
        ),
        "pxprofile": (
            lambda: engine._call({"op": "perf"}),
            lambda: engine.complete(SYSTEM, [Segment(USER)], max_tokens=gen),
        ),
    }
    res: dict[str, dict[str, list[float]]] = {n: {} for n in runners}
    for perf, fn in runners.values():  # warm-up
        perf()
        fn()
    for rep in range(reps):
        order = list(runners.items())
        for name, (perf, fn) in order if rep % 2 == 0 else order[::-1]:  # alternate who goes first
            perf()  # empty KV cache, counters reset: the whole prompt is processed every time
            wall, _cpu, _ = _timed(fn)
            p = perf()
            r = res[name]
            r.setdefault("prompt_tokens", []).append(p["n_p_eval"])
            r.setdefault("gen_tokens", []).append(p["n_eval"])
            r.setdefault("pp", []).append(p["n_p_eval"] / p["t_p_eval_ms"] * 1000)
            r.setdefault("tg", []).append(p["n_eval"] / p["t_eval_ms"] * 1000)
            r.setdefault("wall", []).append(wall)
    out = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in res.items()}
    # token counting, called often while batching: vocab-only tokenizer here vs a round trip
    text = USER[:400]
    local = [_timed(lambda: engine.count_tokens(text))[0] for _ in range(200)]
    rpc = [
        _timed(lambda: engine._call({"op": "count_tokens", "text": text}))[0] for _ in range(200)
    ]
    out["pxprofile"]["count_local_us"] = statistics.median(local) * 1e6
    out["pxprofile"]["count_rpc_us"] = statistics.median(rpc) * 1e6
    return out


STARTUP = """
import sys, time
t = time.perf_counter()
if sys.argv[1] == "in-process":
    from pxprofile.llamacpp import load_local
    e = load_local(sys.argv[2], n_ctx=int(sys.argv[3]), n_threads=1)
else:
    from pxprofile.engine import load_engine
    e = load_engine(sys.argv[2], n_ctx=int(sys.argv[3]), n_threads=1, gpu_layers=0)
print(time.perf_counter() - t)
"""


def bench_startup(model: str, reps: int, n_ctx: int) -> dict[str, float]:
    """Seconds from a fresh process's first import to a loaded model (medians)."""
    out = {}
    for how in ("in-process", "child process"):
        times = []
        for _ in range(reps):
            r = subprocess.run(
                [sys.executable, "-c", STARTUP, how, model, str(n_ctx)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            times.append(float(r.stdout.strip().splitlines()[-1]))
        out[how] = statistics.median(times)
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
    ap.add_argument("--model", default="gemma3-270m")
    args = ap.parse_args()
    os.environ.setdefault(
        "PXPROFILE_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "pxprofile-bench")
    )

    gen = bench_generation(args.model, args.reps, args.threads, args.gen, args.n_ctx)
    print(
        f"{args.model}, n_ctx {args.n_ctx}, {args.threads} thread(s), CPU, "
        f"medians of {args.reps} alternating runs; pxprofile = the model in a child process"
    )
    head = ("prompt", "gen", "pp tok/s", "tg tok/s", "call s")
    print(f"{'':<11}" + "".join(f"{h:>11}" for h in head))
    for name, r in gen.items():
        print(
            f"{name:<11}{r['prompt_tokens']:>11.0f}{r['gen_tokens']:>11.0f}{r['pp']:>11.1f}"
            f"{r['tg']:>11.1f}{r['wall']:>11.3f}"
        )
    px, raw = gen["pxprofile"], gen["raw"]
    print(
        f"pxprofile / raw: prompt processing {px['pp'] / raw['pp']:.3f}x, generation "
        f"{px['tg'] / raw['tg']:.3f}x, whole call {raw['wall'] / px['wall']:.3f}x by wall clock "
        "(target >= 0.95x)"
    )
    print(
        f"count_tokens: {px['count_local_us']:.0f} us with the vocab-only tokenizer in this "
        f"process, {px['count_rpc_us']:.0f} us as a round trip to the child"
    )
    start = bench_startup(args.model, max(3, args.reps // 2), args.n_ctx)
    print(
        f"start-up to a loaded model: {start['in-process']:.2f} s in-process, "
        f"{start['child process']:.2f} s through the child "
        f"(+{start['child process'] - start['in-process']:.2f} s)"
    )
    for label, t in bench_help(args.reps).items():
        print(
            f"{label:<36}{t:.3f} s"
            + ("  (target <= 0.3 s)" if label.startswith("pxprofile") else "")
        )


if __name__ == "__main__":
    main()
