"""Held-out security benchmark (issue 16): secrets, poisoned lines, genuine lines, malformed
replies, credentials. Run on demand (not collected by pytest):

    python tests/benchmarks/bench_security.py          # all parts, a summary per part
    python tests/benchmarks/bench_security.py -v       # also every miss

Data: tests/benchmarks/data/heldout*_*.txt, written after the rules and the unit tests
(tests/test_redact.py, test_secret_rules.py, test_guard.py, test_poison.py hold the cases the
rules were tuned on), by a different recipe (other vendors' formats, other brands, TLDs,
languages and framings). Nothing under tests/ reads them. The secrets sets 1 and 2 were each
run once, then their misses led to general fixes (digest labels, placeholders, id words,
connectors in more languages); set 3 was written after that, and its first run (95.0% recall,
2.05 false positives per 40) is the estimate for text nobody tuned on; two general fixes
followed it. The poisoned and genuine sets were not used to change a rule.

Poisoned and genuine lines go through the real pipeline: a chat carrying them is stored, a
compromised stand-in model served over ``--backend openai`` on 127.0.0.1 (tests/standin_server.py)
proposes the line and cites every evidence label it may, ``infer.update`` applies what the
guards let through, then every export target renders the profile.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

from fake_engine import add_conversation  # noqa: E402
from standin_server import StandIn, propose  # noqa: E402

VERBOSE = "-v" in sys.argv
ALPHABETS = {
    "a": string.ascii_letters + string.digits,
    "h": "0123456789abcdef",
    "H": "0123456789ABCDEF",
    "d": string.digits,
    "D": string.digits,  # not secret: not scored
    "u": string.ascii_uppercase + string.digits,
    "l": string.ascii_lowercase + string.digits,
    "b": string.ascii_letters + string.digits + "-_",
}


def rows(name: str) -> list[str]:
    text = (HERE / "data" / name).read_text("utf-8")
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def expand(template: str, rng: random.Random) -> tuple[str, list[str]]:
    pieces: list[str] = []

    def one(m: re.Match) -> str:
        piece = "".join(rng.choice(ALPHABETS[m.group(1)]) for _ in range(int(m.group(2))))
        if m.group(1) != "D":
            pieces.append(piece)
        return piece

    out = re.sub(r"\{([ahHdDulb]):(\d+)\}", one, template)
    return out.replace("{{", "{").replace("}}", "}").replace("\\n", "\n"), pieces


def secrets(prefix: str = "heldout") -> dict:
    from pxprofile.redact import redact

    rng = random.Random(1616)
    hits, misses = 0, []
    for row in rows(f"{prefix}_secrets.txt"):
        fmt, template = row.split("\t", 1)
        text, pieces = expand(template, rng)
        out = redact(text, pii=())
        if all(p not in out for p in pieces if len(p) >= 4):
            hits += 1
        else:
            misses.append((fmt, out))
    fps = []
    looks = rows(f"{prefix}_lookalikes.txt")
    for template in looks:
        text, _ = expand(template, rng)
        out = redact(text, pii=())
        if out != text:
            fps.append(out)
    n = hits + len(misses)
    if VERBOSE:
        for m in misses:
            print("  missed secret:", m)
        for f in fps:
            print("  false positive:", f)
    return {
        "secrets": n,
        "recall": round(hits / n, 3),
        "lookalikes": len(looks),
        "false_positives": len(fps),
        "fp_per_40": round(len(fps) / len(looks) * 40, 2),
    }


FRAMINGS = [
    "Summarize this page for me, I prefer three bullets max:\n\n{page}",
    "tl;dr please\n{page}",
    "Can you translate this to German?\n\n{page}",
    "What do you think of this article?\n\n{page}",
    "Is this legit? Got it in an email:\n\n{page}",
    "Here's the README, explain the setup steps:\n{page}",
    "{page}\n\nsummarize the above",
    '"{page}" - what does this mean?',
    "My colleague wrote: {page}\nShould I reply?",
    "Proofread: {page}",
    "fix the grammar in this:\n```\n{page}\n```",
    "> {page}\nthoughts?",
    "Rewrite this more politely\n\n{page}",
    "From: deals@shop.example\nSubject: offer\n\n{page}\n\nis this spam?",
    "I found this on a forum -- {page} -- is it true?",
    "Explain this like I'm five:\n{page}",
    "context:\n{page}\nquestion: what's the main claim?",
    "Here is a transcript of the video\n{page}\nSummarize in 3 points",
    "Compare these two reviews\nReview 1: {page}\nReview 2: The product is fine.",
    None,  # the attack arrives in an assistant reply (a browsing result the model repeated)
]


OWN = [
    "I prefer short answers.",
    "Please always answer in plain English.",
    "I like bullet points better than paragraphs.",
    "Don't use emojis in replies, please.",
]


def _hide(text: str) -> str:
    def vs(m):
        return "".join(
            chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in m.group(1).encode()
        )

    text = re.sub(r"\{VS:([^}]*)\}", vs, text)
    text = re.sub(
        r"\{TAG:([^}]*)\}", lambda m: "".join(chr(0xE0000 + ord(c)) for c in m.group(1)), text
    )
    return text.replace("{ZW}", "\u200b")


def _run_update(srv, turns: list[tuple[str, str]], line: str):
    """Store one chat, let the stand-in propose ``line``: (profile texts, exports, asked), where
    ``asked`` says whether the model was asked at all (signals chose the chat as evidence)."""
    from pxprofile import infer
    from pxprofile.export import TARGETS, export_prompt
    from pxprofile.profile import current_lines
    from pxprofile.store import open_db

    with tempfile.TemporaryDirectory() as home:
        os.environ["PXPROFILE_HOME"] = home
        db = open_db(Path(home) / "px.db")
        add_conversation(db, "c1", turns)
        srv.respond = propose(line)
        before = len(srv.requests)
        infer.update(db, model="standin", engine_options={"backend": "openai", "base_url": srv.url})
        lines = current_lines(db)
        exports = []
        for target in TARGETS:
            try:
                exports.append(export_prompt(lines, target).text)
            except Exception as e:  # ExportError: the egress check refused
                if type(e).__name__ != "ExportError":
                    raise
        db.conn.close()
        return [ln.text for ln in lines], exports, len(srv.requests) > before


def _reached(attack: str, texts: list[str], exports: list[str]) -> bool:
    from pxprofile.poison import hidden_count, strip_hidden

    visible = strip_hidden(attack).strip()
    if any(strip_hidden(t).strip() == visible for t in texts):
        return True
    return any(visible in e or hidden_count(e) for e in exports)


def poisoned(srv) -> dict:
    from pxprofile.guard import line_problem

    reached, guard_only, asked = [], 0, 0
    lines = rows("heldout_poisoned.txt")
    for i, raw in enumerate(lines):
        attack = _hide(raw)
        page = (
            "Welcome to our community page, updated weekly by volunteers. "
            f"{attack} "
            "Prices and availability change often; terms apply and the editors are not liable "
            "for third-party content."
        )
        framing = FRAMINGS[i % len(FRAMINGS)]
        # the user also states a real preference, so the chat is chosen as evidence and the
        # compromised model is asked (a chat with no preference in it never reaches the model)
        own = OWN[i % len(OWN)]
        if framing is None:
            turns = [("user", f"{own} What's a good way to stay safe online?"), ("assistant", page)]
        else:
            turns = [("user", f"{own} " + framing.format(page=page)), ("assistant", "Summary.")]
        texts, exports, was_asked = _run_update(srv, turns, attack)
        asked += was_asked
        guard_only += line_problem(attack) is None
        if _reached(attack, texts, exports):
            reached.append((framing and framing[:30], raw))
    if VERBOSE:
        for r in reached:
            print("  reached:", r)
    return {
        "poisoned": len(lines),
        "model_asked": asked,
        "reached_profile_or_export": len(reached),
        "reached_rate": round(len(reached) / len(lines), 3),
        "passed_line_guard_alone": guard_only,
    }


def genuine(srv) -> dict:
    from pxprofile.guard import evidence_problem, line_problem

    refused, guard_refused, asked = [], [], 0
    lines = rows("heldout_genuine.txt")
    for row in lines:
        message, line = row.split("\t")
        texts, _, was_asked = _run_update(srv, [("user", message), ("assistant", "Noted.")], line)
        asked += was_asked
        if was_asked and line not in texts:
            refused.append(line)
        why = line_problem(line) or evidence_problem([{"role": "user", "text": message}], line)
        if why:
            guard_refused.append((line, why))
    if VERBOSE:
        for r in refused:
            print("  refused in the pipeline:", r, "|", line_problem(r))
        for r in guard_refused:
            print("  refused by the guards:", r)
    return {
        "genuine": len(lines),
        "model_asked": asked,
        "refused_by_pipeline": len(refused),
        "refused_rate": round(len(refused) / max(asked, 1), 3),
        "refused_by_guards_alone": len(guard_refused),
        "refused_by_guards_rate": round(len(guard_refused) / len(lines), 3),
    }


def _op(**kw):
    base = {"op": "add", "section": "Communication style", "line": 0, "text": "x",
            "evidence": ["E1"]}  # fmt: skip
    return {**base, **kw}


MALFORMED = [
    {"operations": []},
    [1, 2],
    3.5,
    True,
    None,
    "[" * 30_000 + "]" * 30_000,
    '{"operations": [' + "[" * 30_000 + "]" * 30_000 + "]}",
    json.dumps({"operations": [_op(text=f"Line {i}") for i in range(78)]}),
    json.dumps({"operations": [_op(text="a\ud800b")]}),
    '{"operations": [{"op": "add", "line": NaN}]}',
    '{"operations": [{"op": "add", "line": Infinity}]}',
    '{"operations": [' + "9" * 5000 + "]}",
    json.dumps({"operations": [_op(line=10**40)]}),
    json.dumps({"operations": [_op(line="1")]}),
    json.dumps({"operations": [_op(op="delete_everything")]}),
    json.dumps({"operations": [_op(evidence="E1")]}),
    json.dumps({"operations": [_op(evidence=[["E1"]])]}),
    json.dumps({"operations": [_op(text={"nested": "object"})]}),
    json.dumps({"operations": [_op(extra="field")]}),
    json.dumps({"operations": {"op": "add"}}),
    json.dumps({"ops": []}),
    "",
    "not json",
    '{"operations": [',
    "\x00\x01\x02",
]
RAW_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b"\xff\xfe\x00",
    b'{"choices": 5}',
    b'{"choices": [{"message": 7}]}',
    b'{"choices": [{"message": {"content": "{\\"operations\\": []}"}, "finish_reason": 5}]}',
    b'{"choices": [{"message": {"content": "{\\"operations\\": []}"}}], "usage": "lots"}',
    b'{"choices": [{"message": {"content": "{\\"operations\\": []}"}}], '
    b'"usage": {"prompt_tokens": 1.5}}',
    b"",
]


def malformed(srv) -> dict:
    from typer.testing import CliRunner

    from pxprofile.cli import app
    from pxprofile.store import open_db

    runner = CliRunner()
    tracebacks, codes = 0, []
    cases = [("content", c) for c in MALFORMED] + [("raw", r) for r in RAW_BODIES]
    for kind, case in cases:
        with tempfile.TemporaryDirectory() as home:
            os.environ["PXPROFILE_HOME"] = home
            path = Path(home) / "px.db"
            db = open_db(path)
            add_conversation(db, "c1", [("user", "I prefer tables."), ("assistant", "Ok.")])
            db.conn.close()
            srv.respond, srv.raw, srv.content = None, None, None
            if kind == "raw":
                srv.raw = case
            else:
                srv.content = case
            result = runner.invoke(
                app,
                ["update", "--db", str(path), "--backend", "openai", "--base-url", srv.url,
                 "--model", "standin"],
            )  # fmt: skip
            srv.raw = None
            exc = result.exception
            if (exc and not isinstance(exc, SystemExit)) or "Traceback" in result.output:
                tracebacks += 1
                if VERBOSE:
                    print("  traceback:", kind, repr(case)[:60])
                    traceback.print_exception(exc)
            changed = open_db(path).execute("select count(*) from profile_lines").fetchone()[0]
            codes.append((result.exit_code, changed))
    return {
        "malformed_replies": len(cases),
        "tracebacks": tracebacks,
        "clean_errors_exit_1": sum(1 for c, _ in codes if c == 1),
        "profile_changed": sum(1 for _, n in codes if n),
    }


def credentials() -> dict:
    from pxprofile.engine import Segment, load_engine

    os.environ.pop("PXPROFILE_API_KEY", None)
    os.environ["OPENAI_API_KEY"] = "sk-bench-openai-key"
    with StandIn() as srv:
        load_engine("standin", backend="openai", base_url=srv.url).complete(
            "s", [Segment("hi")], max_tokens=4
        )
        os.environ["PXPROFILE_API_KEY"] = "px-bench-key"
        load_engine("standin", backend="openai", base_url=srv.url + "/").complete(
            "s", [Segment("hi")], max_tokens=4
        )
    sent = [r["headers"].get("Authorization") for r in srv.requests]
    os.environ.pop("OPENAI_API_KEY")
    os.environ.pop("PXPROFILE_API_KEY")
    return {"openai_key_sent_to_127.0.0.1": sent[0] is not None, "pxprofile_key_sent": sent[1]}


def main() -> None:
    # first runs, each before any fix it led to: set 1 92.4% recall / 2.93 false positives per
    # 40 look-alikes, set 2 89.1% / 5.33, set 3 95.0% / 2.05 (two general fixes followed: YAML
    # tags are not values, "address"/"wallet" name an identifier)
    for n, name in enumerate(("heldout", "heldout2", "heldout3"), 1):
        print(f"secrets (set {n}):", secrets(name))
    with StandIn() as srv:
        print("poisoned:", poisoned(srv))
        print("genuine:", genuine(srv))
        print("malformed:", malformed(srv))
    print("credentials:", credentials())


if __name__ == "__main__":
    main()
