"""llama.cpp in a child process, the design Ollama and LM Studio use for their runners.

The parent (the pxprofile command) owns the database and the profile file; the child loads the
model once per command and answers requests over a pipe. A native crash in llama.cpp (SIGSEGV in a
CPU kernel, SIGABRT from a GGML_ASSERT, SIGKILL from the out-of-memory killer, a GPU driver fault)
ends the child only: the parent raises ModelCrashedError, one line with the signal, the model,
llama.cpp's last log lines and what to try.

Protocol: `python -m pxprofile.runner` reads one JSON request per line on stdin and writes one JSON
reply per line on the stdout it was started with (its fd 1 is then pointed at stderr, so nothing
llama.cpp prints can corrupt the replies). Everything on the child's stderr (llama.cpp's log,
GGML_ASSERT messages) streams to the parent, which keeps the last lines for errors and shows them
under --verbose. The child is exec'd, never forked from a process that holds the database.

    -> {"op": "load", "name", "path", "n_ctx", "n_threads", "gpu_layers", "verbose", "prompt_style"}
    <- {"result": {"n_ctx", "has_chat_template", "extra_bufts", "extra_bufts_reason"}}
    -> {"op": "complete" | "encode" | "option_logprobs" | "reply_logprob" | "count_tokens" | "perf"}
    <- {"result": ...} or {"error": "<PxprofileError subclass name>", "message", "text"}
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import errors
from .engine import Completion, Engine, Prompt, Segment, TruncatedOutputError, _segments
from .errors import ModelCrashedError, ModelError, PxprofileError

# Tests only: a file the parent writes the child's pid to before each completion, so a test can
# send the model's process a signal in the middle of an update.
PIDFILE_ENV = "PXPROFILE_TEST_RUNNER_PIDFILE"
LOG_LINES = 40
_STOP_WAIT_S = 3.0


# ---------------------------------------------------------------- the child


def _handle(engine, req: dict[str, Any]) -> Any:
    op = req["op"]
    if op == "count_tokens":
        return engine.count_tokens(req["text"])
    if op == "perf":  # benchmarks: llama.cpp's counters since the last "perf", then a fresh start
        import llama_cpp

        p = llama_cpp.llama_perf_context(engine.llm.ctx)
        llama_cpp.llama_perf_context_reset(engine.llm.ctx)
        engine.llm.reset()  # empty KV cache: the next call processes its whole prompt
        return {k: getattr(p, k) for k in ("n_p_eval", "t_p_eval_ms", "n_eval", "t_eval_ms")}
    system = req["system"]
    user = [Segment(text, trusted) for text, trusted in req["user"]]
    if op == "complete":
        c = engine.complete(system, user, schema=req["schema"], max_tokens=req["max_tokens"])
        return asdict(c)
    if op == "encode":
        p = engine.encode_prompt(system, user)
        return {"ids": p.ids, "spans": p.content_spans}
    if op == "option_logprobs":
        return engine.option_logprobs(system, user, req["options"])
    if op == "reply_logprob":
        return engine.reply_logprob(system, user, req["reply"])
    raise ModelError(f"Unknown request {op!r} to the model's process.")


def _load(req: dict[str, Any]):
    from . import llamacpp

    engine = llamacpp.load_model(
        req["name"], Path(req["path"]), n_ctx=req["n_ctx"], n_threads=req["n_threads"],
        gpu_layers=req["gpu_layers"], verbose=req["verbose"], prompt_style=req["prompt_style"],
        log_to_stderr=True,  # the parent keeps the tail, and shows it under --verbose
    )  # fmt: skip
    use, why = llamacpp.extra_bufts_choice()
    settable = llamacpp.extra_bufts_settable()
    return engine, {
        "n_ctx": engine.n_ctx,
        "has_chat_template": engine.has_chat_template,
        "extra_bufts": use if settable else None,
        "extra_bufts_reason": why if settable else "llama.cpp's default",
    }


def serve(requests, replies) -> None:
    """Answer REQUESTS (binary lines) on REPLIES until the parent closes the pipe."""
    engine = None
    for line in requests:
        req = json.loads(line)
        try:
            if req["op"] == "load":
                engine, result = _load(req)
            else:
                result = _handle(engine, req)
            reply: dict[str, Any] = {"result": result}
        except PxprofileError as e:
            reply = {"error": type(e).__name__, "message": str(e), "text": getattr(e, "text", None)}
        except Exception as e:  # a bug or an unexpected llama-cpp-python error: say what it was
            reply = {
                "error": "ModelError",
                "message": f"llama.cpp failed ({type(e).__name__}: {e}).",
            }
        replies.write(json.dumps(reply).encode("utf-8") + b"\n")
        replies.flush()


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the parent dies, so no orphan keeps the model loaded."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (C or Python) go to the log, never into the replies
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)


# ---------------------------------------------------------------- the parent


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def crash_error(name: str, returncode: int, log: list[str]) -> ModelCrashedError:
    """One line: what happened (signal, model, llama.cpp's last log lines), then what to try."""
    lines = [" ".join(ln.split()) for ln in log if ln.strip()]
    tail = " | ".join(lines[-3:])
    if len(tail) > 300:
        tail = "..." + tail[-297:]
    how = _signal_name(returncode)
    if returncode == -signal.SIGKILL:
        how += ", likely the out-of-memory killer"
    said = f"; its log ended: {tail}" if tail else ""
    return ModelCrashedError(
        f"llama.cpp crashed while running {name} ({how}){said}. "
        "Run the command again; if it crashes again, try `--gpu-layers 0`, a smaller `--ctx`, "
        "or another model."
    )


def _child_env() -> dict[str, str]:
    """This environment, with this pxprofile first on the path: the child runs the same code."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _read_log(stream, log: deque[str], echo: list[bool], out) -> None:
    """Keep the child's stderr (llama.cpp's log) as it comes; show it on OUT when ECHO[0]
    (--verbose). OUT is this process's stderr when the child started, not whatever sys.stderr is
    redirected to meanwhile. A plain function: a running thread must not keep the engine alive."""
    for raw in stream:
        line = raw.decode("utf-8", errors="replace")
        log.append(line)
        if echo[0]:
            out.write(line)
            out.flush()


def _stop(proc: subprocess.Popen, reader: threading.Thread) -> None:
    """End the child: close its stdin (it exits), then kill it if it does not."""
    if proc.poll() is None:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    reader.join(timeout=_STOP_WAIT_S)  # the last of the log is shown before exit


class RunnerEngine(Engine):
    """The Engine API (see pxprofile/engine.py) for a model held by a child process. Token
    counts come from a vocab-only tokenizer in this process (no round trip)."""

    backend = "llama"

    def __init__(
        self, name: str, path: Path, *, n_ctx: int, n_threads: int | None, gpu_layers: int,
        verbose: bool = False, prompt_style: str = "default",
    ):  # fmt: skip
        self.name = name
        self.n_ctx = n_ctx
        self.gpu_layers = gpu_layers
        self.prompt_style = prompt_style
        self._echo = [verbose]
        self.tokenizer = None
        self.info: dict[str, Any] = {}
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._lock = threading.Lock()
        self._crash: ModelCrashedError | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pxprofile.runner"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_child_env(), close_fds=True,
        )  # fmt: skip
        self._reader = threading.Thread(
            target=_read_log,
            args=(self.proc.stderr, self._log, self._echo, sys.stderr),
            daemon=True,
        )
        self._reader.start()
        self._finalizer = weakref.finalize(self, _stop, self.proc, self._reader)
        self._send({
            "op": "load", "name": name, "path": str(path), "n_ctx": n_ctx, "n_threads": n_threads,
            "gpu_layers": gpu_layers, "prompt_style": prompt_style, "verbose": verbose,
        })  # fmt: skip

    @property
    def verbose(self) -> bool:
        return self._echo[0]

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._echo[0] = value

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self._crash is None and self.proc.poll() is None

    def wait_loaded(self) -> None:
        """Wait for the child's answer to "load" (sent at start, so loading overlaps the
        parent's own work)."""
        self.info = self._receive()
        self.n_ctx = self.info["n_ctx"]
        self.has_chat_template = self.info["has_chat_template"]
        if self.verbose:
            sys.stderr.write(
                f"llama.cpp runs {self.name} in process {self.pid}; extra buffer types: "
                f"{self.info['extra_bufts_reason']}\n"
            )

    # -- transport
    def _send(self, req: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write(json.dumps(req).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child is gone: _receive reads EOF and says why

    def _receive(self) -> Any:
        line = self.proc.stdout.readline()
        if not line:
            raise self._crashed()
        reply = json.loads(line)
        if "error" not in reply:
            return reply["result"]
        kind = getattr(errors, reply["error"], None)
        if reply["error"] == "TruncatedOutputError":
            raise TruncatedOutputError(reply["message"], reply.get("text") or "")
        if not (isinstance(kind, type) and issubclass(kind, PxprofileError)):
            kind = ModelError
        raise kind(reply["message"])

    def _crashed(self) -> ModelCrashedError:
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # stdout closed, process still there: end it
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join(timeout=5)  # the log up to the crash
        self._crash = crash_error(self.name, rc, list(self._log))
        return self._crash

    def _call(self, req: dict[str, Any]) -> Any:
        with self._lock:
            if self._crash is not None:
                raise self._crash
            answered = False
            try:
                self._send(req)
                reply = self._receive()
                answered = True
                return reply
            except PxprofileError:  # an error reply, or the crash: the pipe is in step
                answered = True
                raise
            finally:
                if not answered:  # Ctrl-C (or a bug) mid-request: its reply would come next
                    self.proc.kill()
                    self._crash = ModelCrashedError(
                        f"llama.cpp's process for {self.name} was stopped in the middle of a "
                        "request. Run the command again."
                    )

    def _prompt_req(self, op: str, system: str, user) -> dict[str, Any]:
        segs = [[s.text, s.trusted] for s in _segments(user)]
        return {"op": op, "system": system, "user": segs}

    # -- the Engine API
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return self.tokenizer.count_tokens(text)
        return self._call({"op": "count_tokens", "text": text})

    def encode_prompt(self, system: str, user: list[Segment]) -> Prompt:
        out = self._call(self._prompt_req("encode", system, user))
        return Prompt(out["ids"], [tuple(s) for s in out["spans"]])

    def complete(
        self, system: str, user: list[Segment], *, schema: dict | None = None, max_tokens: int = 512
    ) -> Completion:
        pidfile = os.environ.get(PIDFILE_ENV)
        if pidfile:  # atomically: a test polls for it
            Path(pidfile + ".tmp").write_text(str(self.pid))
            os.replace(pidfile + ".tmp", pidfile)
        req = self._prompt_req("complete", system, user) | {
            "schema": schema,
            "max_tokens": max_tokens,
        }
        return Completion(**self._call(req))

    def option_logprobs(self, system: str, user: list[Segment], options: list[str]) -> list[float]:
        return self._call(self._prompt_req("option_logprobs", system, user) | {"options": options})

    def reply_logprob(self, system: str, user: list[Segment], reply: str) -> float:
        return self._call(self._prompt_req("reply_logprob", system, user) | {"reply": reply})

    def close(self) -> None:
        self._finalizer()


if __name__ == "__main__":
    main()
