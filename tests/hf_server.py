"""A tiny Hugging Face Hub stand-in (http.server in a thread) for pull tests without internet.

hf_hub_download sends HEAD {endpoint}/{repo}/resolve/{revision}/{file} and needs X-Repo-Commit,
an ETag and Content-Length; then GET, with `Range: bytes=N-` when resuming an .incomplete file.
Point huggingface_hub at it with HF_ENDPOINT.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_gguf(size: int = 4096) -> bytes:
    """Bytes that start like a GGUF (magic, version 3, no tensors, no keys) padded to SIZE."""
    head = (
        b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (0).to_bytes(8, "little")
    )
    return (head + bytes(range(256)) * (size // 256 + 1))[:size]


class FakeHub:
    def __init__(self, files: dict[tuple[str, str], bytes], *, cut_first_get_at: int | None = None):
        """cut_first_get_at: drop the connection after that many bytes of the first full GET
        (a network failure mid-download, which huggingface_hub resumes with a Range request)."""
        self.files = files
        self.cut_first_get_at = cut_first_get_at
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _lookup(self):
                path = unquote(self.path.split("?", 1)[0])
                hub.requests.append((self.command, path, self.headers.get("Range")))
                parts = path.strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None, "RepoNotFound"
                repo, name = "/".join(parts[:2]), "/".join(parts[4:])
                if not any(r == repo for r, _ in hub.files):
                    return None, "RepoNotFound"
                if (repo, name) not in hub.files:
                    return None, "EntryNotFound"
                return hub.files[(repo, name)], None

            def _headers(self, body: bytes, status: int, extra: dict[str, str]):
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest() + '"')
                self.send_header("Accept-Ranges", "bytes")
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()

            def _missing(self, code: str):
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "0")
                if code == "EntryNotFound":
                    self.send_header("X-Repo-Commit", COMMIT)
                self.end_headers()

            def do_HEAD(self):
                body, err = self._lookup()
                if body is None:
                    return self._missing(err)
                self._headers(body, 200, {"Content-Length": str(len(body))})

            def do_GET(self):
                body, err = self._lookup()
                if body is None:
                    return self._missing(err)
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-", 1)[0])
                    chunk = body[start:]
                    self._headers(
                        body,
                        206,
                        {
                            "Content-Length": str(len(chunk)),
                            "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}",
                        },
                    )
                    self.wfile.write(chunk)
                    return
                self._headers(body, 200, {"Content-Length": str(len(body))})
                if hub.cut_first_get_at is not None:
                    cut, hub.cut_first_get_at = hub.cut_first_get_at, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def gets(self) -> list[tuple[str, str | None]]:
        return [(p, r) for m, p, r in self.requests if m == "GET"]
