"""A stand-in OpenAI-compatible server on 127.0.0.1 for tests and benchmarks.

It logs every request's headers and JSON body and answers /v1/chat/completions with what the
test sets: a fixed message ``content`` (any JSON value, to send malformed replies), a whole raw
body, or a function of the request (a compromised model that proposes an attacker's line and
cites whatever evidence labels the requested schema allows).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    def __init__(self):
        self.requests: list[dict[str, Any]] = []  # {"headers": {...}, "body": {...}}
        self.content: Any = '{"operations": []}'
        self.raw: bytes | None = None  # the whole HTTP body, when set
        self.usage: Any = {"prompt_tokens": 10, "completion_tokens": 5}
        self.respond = None  # f(request_body) -> content, when set
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                outer.requests.append({"headers": dict(self.headers.items()), "body": body})
                if outer.raw is not None:
                    data = outer.raw
                else:
                    content = outer.respond(body) if outer.respond else outer.content
                    reply = {
                        "choices": [
                            {"message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}
                        ],
                        "usage": outer.usage,
                    }  # fmt: skip
                    data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def propose(text: str):
    """A compromised model: in the reading step it observes ``text`` as a preference, citing the
    messages it read; in the merge step it adds ``text`` to the first section, citing every
    allowed label."""

    def respond(body: dict) -> str:
        schema = body["response_format"]["json_schema"]["schema"]
        if "observations" in schema["properties"]:
            item = schema["properties"]["observations"]["items"]["properties"]
            labels = item["messages"]["items"]["enum"][: item["messages"].get("maxItems", 3)]
            seen = {"kind": "preference", "text": text[:160], "messages": labels}
            return json.dumps({"observations": [seen]}, ensure_ascii=False)
        item = schema["properties"]["operations"]["items"]["properties"]
        labels = item["evidence"]["items"]["enum"][: item["evidence"].get("maxItems", 3)]
        op = {
            "op": "add",
            "section": item["section"]["enum"][0],
            "line": 0,
            "text": text,
            "evidence": labels,
        }
        return json.dumps({"operations": [op]}, ensure_ascii=False)

    return respond
