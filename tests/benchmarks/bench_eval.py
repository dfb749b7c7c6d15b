"""`pxprofile eval` benchmark (on demand; not collected by pytest): cost per choice, and whether a
model follows a stated preference at all.

    python tests/benchmarks/bench_eval.py                        # gemma3-270m, 5 choices a run
    python tests/benchmarks/bench_eval.py --model smollm2-135m --n 5 --threads 2

Two runs over the same five questions, each regenerated once (a short and a long reply):
  concise   the user kept the SHORT reply; the profile says "Prefers concise, short answers"
  detailed  the user kept the LONG reply;  the profile says "Prefers detailed, thorough answers"
A model that reads the profile gets both right (100% with the profile, in both runs); a model
that only likes one length gets one run right and the other wrong (50% over the two); a model
that ignores the replies sits at 50% too. The margin gain should be positive in both runs.
Prints one JSON line per run and a total: accuracy with/without the profile, mean margin gain,
model calls, seconds per choice and per call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chat_samples import gpt_conversation, gpt_node, write_json  # noqa: E402
from test_evaluate import LONG, QUERIES, SHORT  # noqa: E402

PROFILES = {
    "concise": ("Prefers concise, short answers", True),
    "detailed": ("Prefers detailed, thorough answers", False),
}


def history(kept_short: bool, n: int) -> list[dict]:
    convs = []
    for i in range(n):
        t = 1714585000.0 + 1000 * i
        kept, other = (SHORT[i], LONG[i]) if kept_short else (LONG[i], SHORT[i])
        nodes = [
            gpt_node(f"u{i}", "root", "user", QUERIES[i], t=t),
            gpt_node(f"k{i}", f"u{i}", "assistant", kept, t=t + 1),
            gpt_node(f"r{i}", f"u{i}", "assistant", other, t=t + 2),
        ]
        convs.append(gpt_conversation(f"conv-{i}", nodes, f"k{i}"))
    return convs


def run(name: str, engine, n: int, per_line: bool, root: Path) -> dict:
    from pxprofile import evaluate
    from pxprofile.ingest import ingest_path
    from pxprofile.profile import Change, apply_changes
    from pxprofile.store import open_db

    os.environ["PXPROFILE_HOME"] = str(root / name)
    line, kept_short = PROFILES[name]
    db = open_db(root / f"{name}.db")
    ingest_path(db, write_json(root / f"{name}.json", history(kept_short, n)))
    changes = [Change("add", line, "Communication style", evidence=("elsewhere:1",))]
    if per_line:
        changes.append(Change("add", "Has a grey cat", "Interests", evidence=("elsewhere:2",)))
    apply_changes(db, changes)
    result = evaluate.evaluate(db, engine=engine, per_line=per_line)
    d = result.to_dict()
    out = {k: d[k] for k in ("pairs", "accuracy_with_profile", "accuracy_without_profile",
                             "confidence_with_profile", "confidence_without_profile",
                             "margin_gain", "calls", "seconds", "seconds_per_choice")}  # fmt: skip
    out["seconds_per_call"] = round(result.seconds / result.calls, 3)
    out["run"] = name
    if per_line:
        out["per_line"] = [(e.text, round(e.margin_drop or 0, 3)) for e in result.per_line]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--n", type=int, default=5, choices=range(1, 6))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--per-line", action="store_true")
    args = ap.parse_args()
    from pxprofile.engine import load_engine

    t0 = time.perf_counter()
    engine = load_engine(args.model, n_ctx=args.ctx, n_threads=args.threads, gpu_layers=0)
    print(json.dumps({"model": args.model, "load_seconds": round(time.perf_counter() - t0, 2)}))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in PROFILES:
            rows.append(run(name, engine, args.n, args.per_line, Path(tmp)))
            print(json.dumps(rows[-1]))
    both = {
        key: sum(r[key] for r in rows) / len(rows)
        for key in ("accuracy_with_profile", "accuracy_without_profile", "margin_gain",
                    "seconds_per_choice", "seconds_per_call")
    }  # fmt: skip
    print(json.dumps({"run": "both", **{k: round(v, 3) for k, v in both.items()}}))


if __name__ == "__main__":
    main()
