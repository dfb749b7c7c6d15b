"""A scripted "perfect" model: it answers correctly whenever a planted preference is in what it
is shown, and nothing otherwise. Used by tests (through FakeEngine, or over HTTP) and by
tests/benchmarks/bench_planted.py.

    model = Perfect([Planted("The salad sounds perfect", "Prefers salads", "Interests"), ...])
    model(system, user_text, schema) -> dict | str       # what a completion would parse to
    server = StandIn(model).start()                       # OpenAI-compatible, on 127.0.0.1
    server.url -> "http://127.0.0.1:PORT/v1"; server.calls; server.max_concurrent; server.stop()

It reads pxprofile's own prompts the way a model would: the reading prompt's <M..> blocks (a
planted trigger inside a block -> an observation citing that block), the merge prompt's <O..>
observations (a planted observation -> an add operation), the AlignXplore+ template's triples
(a trigger -> a summary line).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Planted:
    trigger: str  # text that reveals the preference (in a user turn or a reply the user kept)
    line: str  # the observation, and the profile line, a perfect model writes
    section: str = "Communication style"
    kind: str = "preference"


_BLOCK = re.compile(r"<(M\d+)-(\w+)> \(([^)]*)\)\n(.*?)\n</\1-\2>", re.S)
_OBS = re.compile(r"<(O\d+)-(\w+)> \(([a-z]+), seen in \d+ conversations?\) (.*?) </\1-\2>", re.S)


class Perfect:
    def __init__(self, planted: list[Planted], delay: float = 0.0):
        self.planted = planted
        self.by_line = {p.line: p for p in planted}
        self.delay = delay

    def __call__(self, system: str, text, schema: dict | None):
        if not isinstance(text, str):  # FakeEngine passes the Segments
            text = user_text(text)
        if self.delay:
            time.sleep(self.delay)
        props = (schema or {}).get("properties", {})
        if "observations" in props:
            return {"observations": self.observe(text)}
        if "operations" in props:
            return {"operations": self.merge(text)}
        return self.summarize(text)

    def observe(self, text: str) -> list[dict]:
        out = []
        for label, _key, _what, body in _BLOCK.findall(text):
            for p in self.planted:
                if p.trigger.lower() in body.lower():
                    out.append({"kind": p.kind, "text": p.line, "messages": [label]})
        return out

    def merge(self, text: str) -> list[dict]:
        out = []
        for label, _key, _kind, body in _OBS.findall(text):
            p = self.by_line.get(body.strip())
            if p is not None and p.kind in ("preference", "fact"):
                out.append(
                    {"op": "add", "section": p.section, "line": 0, "text": p.line,
                     "evidence": [label]}
                )  # fmt: skip
        return out

    def summarize(self, text: str) -> str:
        lines = [f"- {p.line}" for p in self.planted if p.trigger.lower() in text.lower()]
        return "<think>\nreading\n</think>\n\n" + ("\n".join(lines) or "- No clear preference")


def user_text(segments) -> str:
    return "".join(s.text for s in segments)


class StandIn:
    """`model` served as an OpenAI-compatible /v1/chat/completions on 127.0.0.1 (threaded)."""

    def __init__(self, model, name: str = "standin"):
        self.model, self.name = model, name
        self.calls = 0
        self.active = 0
        self.max_concurrent = 0
        self.prompt_chars = 0
        self.prompts: list[str] = []  # every user message received, in order
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> StandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, body: dict) -> dict:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_concurrent = max(self.max_concurrent, self.active)
        try:
            system = body["messages"][0]["content"]
            text = body["messages"][-1]["content"]
            with self._lock:
                self.prompts.append(text)
            fmt = body.get("response_format") or {}
            schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
            out = self.model(system, text, schema)
        finally:
            with self._lock:
                self.active -= 1
                self.prompt_chars += len(text)
        content = out if isinstance(out, str) else json.dumps(out)
        return {
            "choices": [
                {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": (len(system) + len(text)) // 4,
                "completion_tokens": len(content) // 4,
            },
        }

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({"data": [{"id": outer.name}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self._send(outer._answer(body))

        return Handler
