"""The summarizer engine: llama.cpp (llama-cpp-python) in a child process, or an OpenAI-compatible
server. The in-process llama.cpp engine is pxprofile/llamacpp.py; pxprofile/runner.py runs it in a
child process, so a native crash never takes down the process that holds the database.

CONTRACT (infer.py and tests code against this; keep it stable):

    Segment(text, trusted)      a piece of prompt; trusted=False for chat content (tokenized with
                                special-token parsing OFF, so a pasted "<|im_start|>" stays text)
    Completion(text, data, prompt_tokens, completion_tokens)
                                data is the parsed JSON when a schema was given, else None;
                                text has <think>...</think> stripped
    class Engine:
        name: str               registry name ("gemma3-270m", ...)
        n_ctx: int              context window in tokens
        prompt_style: str       "default" | "alignxplore" (from models.toml)
        has_chat_template: bool
        def count_tokens(self, text: str) -> int
        def complete(self, system: str, user: list[Segment], *, schema: dict | None = None,
                     max_tokens: int = 512) -> Completion
        def option_logprobs(self, system: str, user: list[Segment], options: list[str])
                -> list[float]
                                natural-log probability of each option ("A", "B", ...) as the start
                                of the assistant's reply to the prompt (chat template included where
                                the model has one): read from the next-token distribution for a
                                one-token option, the sum over its tokens otherwise. Deterministic.
                                Over HTTP: from the server's top_logprobs (-inf for an option
                                outside them); InferenceError where the server returns none.
        def reply_logprob(self, system: str, user: list[Segment], reply: str) -> float
                                sum of the log-probabilities of REPLY's tokens as the assistant's
                                reply to the prompt (POPI's margin). InferenceError where the
                                backend cannot score a given reply.
    load_engine(name: str | None = None, *, n_ctx=None, n_threads=None, gpu_layers=None,
                verbose=False, backend="llama", base_url=None) -> Engine
                                loads once per process (cached by arguments); backend "llama"
                                loads the model in a child process: a native crash there raises
                                ModelCrashedError (a ModelError) from the call that was running
    load_tokenizer(name: str | None = None) -> object with count_tokens(text) -> int
                                vocab-only load (fast, no weights) for token budgets in export;
                                raises ModelError when no model is available

Deterministic by default (seed 0, temperature 0). llama_cpp is imported inside functions only.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from . import text as text_rules
from .errors import InferenceError, ModelError
from .replies import check_usage
from .replies import validate as validate_reply
from .text import estimate_tokens, strip_think

DEFAULT_N_CTX = 8192
SEED = 0
TOP_LOGPROBS = 20  # OpenAI's maximum; llama.cpp's server and vLLM accept it

# Marker strings the chat template is rendered with, then split on (private-use code points: no
# template transforms them, no tokenizer merges them with the scaffolding around them).
_SYS_MARK = "\ue000pxprofile-system\ue001"
_USER_MARK = "\ue000pxprofile-user\ue001"


@dataclass(frozen=True)
class Segment:
    text: str
    trusted: bool = False


@dataclass
class Completion:
    text: str
    data: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


@dataclass
class Prompt:
    """Token ids of a prompt, and the [start, end) spans that hold untrusted (chat) content."""

    ids: list[int]
    content_spans: list[tuple[int, int]] = field(default_factory=list)


# ---------------------------------------------------------------- helpers


def neutralize_special_tokens(text: str) -> str:
    """Break known special-token strings with a WORD JOINER (U+2060) after the first character, so a
    server that tokenizes the whole prompt with special-token parsing on reads them as plain text.
    Used where token-level isolation is impossible (the HTTP backend)."""
    return text_rules.SPECIAL_TOKEN_RE.sub(
        lambda m: m.group(0)[0] + "\u2060" + m.group(0)[1:], text
    )


def _segments(user) -> list[Segment]:
    if isinstance(user, str):
        return [Segment(user, trusted=False)]
    if isinstance(user, Segment):
        return [user]
    return list(user)


class TruncatedOutputError(InferenceError):
    """Schema-constrained output cut off at max_tokens; ``text`` holds what was generated, so a
    caller can still use the complete items at its start."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(text: str, finish_reason: str, max_tokens: int) -> Any:
    try:
        # llama.cpp's grammar lets raw newlines into strings (strict=False); NaN/Infinity are not
        # JSON and would slip past every minimum/maximum check
        return json.loads(text, strict=False, parse_constant=_no_constant)
    except (RecursionError, ValueError) as e:
        if not isinstance(e, json.JSONDecodeError):  # nested too deep, NaN, huge number
            raise InferenceError(
                f"The model's output is not usable JSON ({type(e).__name__}); nothing was changed. "
                "Try again with another model."
            ) from None
        if finish_reason == "length":
            raise TruncatedOutputError(
                f"The model's JSON output was cut off at max_tokens={max_tokens}; "
                "nothing was changed. "
                "Allow more output tokens or send less evidence per batch.",
                text,
            ) from e
        raise InferenceError(
            f"The model's output is not valid JSON ({e.msg} at char {e.pos}); nothing was changed. "
            "Try again with another model."
        ) from e


def gpu_offload_supported() -> bool:
    """Whether the installed llama.cpp was built with a GPU backend (CUDA, Metal, Vulkan, ...)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


# ---------------------------------------------------------------- engines


class Engine:
    """A summarizer. Subclasses: RunnerEngine (llama.cpp in a child process, runner.py),
    LlamaEngine (llama.cpp in this process, llamacpp.py), OpenAIEngine (HTTP server)."""

    name: str = ""
    n_ctx: int = DEFAULT_N_CTX
    prompt_style: str = "default"
    has_chat_template: bool = False
    backend: str = ""

    def count_tokens(self, text: str) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def complete(
        self, system: str, user: list[Segment], *, schema: dict | None = None, max_tokens: int = 512
    ) -> Completion:  # pragma: no cover - interface
        raise NotImplementedError

    def option_logprobs(
        self, system: str, user: list[Segment], options: list[str]
    ) -> list[float]:  # pragma: no cover - interface
        raise InferenceError(f"The {self.backend or 'this'} backend cannot score answers.")

    def reply_logprob(
        self, system: str, user: list[Segment], reply: str
    ) -> float:  # pragma: no cover - interface
        raise InferenceError(f"The {self.backend or 'this'} backend cannot score a reply.")


class Tokenizer:
    """Vocab-only llama.cpp tokenizer (no weights): token counts for budgets."""

    def __init__(self, name: str, llm):
        self.name = name
        self.llm = llm

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


class EstimatingTokenizer:
    """Where no local tokenizer exists (a remote-only model): text.estimate_tokens(safe=True),
    which over-counts for English so budgets stay on the safe side."""

    def __init__(self, name: str):
        self.name = name

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text, safe=True)


class OpenAIEngine(Engine):
    """An OpenAI-compatible /v1/chat/completions server (llama.cpp server, vLLM, Ollama, ...).

    Over HTTP the server renders and tokenizes the whole prompt itself, so untrusted text cannot be
    isolated at token level. Instead, known special-token strings in untrusted segments are
    neutralized (a word joiner after their first character) before sending.
    """

    backend = "openai"

    def __init__(
        self, name: str, base_url: str, *, n_ctx: int, prompt_style: str = "default",
        api_key: str | None = None, timeout: float = 600.0, tokenizer=None,
    ):  # fmt: skip
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.n_ctx = n_ctx
        self.prompt_style = prompt_style
        self.has_chat_template = True
        self.api_key = api_key
        self.timeout = timeout
        self._tokenizer = tokenizer or EstimatingTokenizer(name)
        self._schema_style = "json_schema"

    @property
    def url(self) -> str:
        root = self.base_url if self.base_url.endswith("/v1") else self.base_url + "/v1"
        return root + "/chat/completions"

    def count_tokens(self, text: str) -> int:
        return self._tokenizer.count_tokens(text)

    def _user_text(self, user: list[Segment]) -> str:
        return "".join(
            s.text if s.trusted else neutralize_special_tokens(s.text) for s in _segments(user)
        )

    def _post(self, body: dict) -> tuple[int, dict | str]:
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", errors="replace")[:300]
            return e.code, " ".join(detail.split())
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ModelError(
                f"Cannot reach the model server at {self.base_url} ({reason}). "
                "Start it, or check --base-url."
            ) from e
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested too deep
            raise ModelError(
                f"The server at {self.base_url} did not answer with JSON. Check --base-url."
            ) from e

    def _response_format(self, schema: dict, style: str) -> dict:
        if style == "json_schema":  # OpenAI, llama.cpp server, vLLM, Ollama
            return {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            }
        return {"type": "json_object", "schema": schema}  # llama-cpp-python's server

    def _body(self, system: str, user: list[Segment], **extra: Any) -> dict[str, Any]:
        """A chat-completions request: deterministic, not streamed, special tokens defused."""
        return {
            "model": self.name,
            "messages": [
                {"role": "system", "content": neutralize_special_tokens(system)},
                {"role": "user", "content": self._user_text(user)},
            ],
            "temperature": 0,
            "seed": SEED,
            "stream": False,
            **extra,
        }

    def complete(
        self, system: str, user: list[Segment], *, schema: dict | None = None, max_tokens: int = 512
    ) -> Completion:
        body = self._body(system, user, max_tokens=max_tokens)
        # OpenAI-style json_schema first (llama.cpp server, vLLM, Ollama); servers that reject it
        # (llama-cpp-python's answers 500) get llama-cpp-python's json_object + schema instead.
        styles = [self._schema_style] + [
            s for s in ("json_schema", "json_object") if s != self._schema_style
        ]
        first: tuple[int, dict | str] | None = None
        for style in styles if schema is not None else [None]:
            if style is not None:
                body["response_format"] = self._response_format(schema, style)
            status, payload = self._post(body)
            if status == 200 and isinstance(payload, dict):
                if style is not None:
                    self._schema_style = style
                break
            first = first or (status, payload)
        else:
            status, payload = first
        if status != 200 or not isinstance(payload, dict):
            raise ModelError(
                f"The model server at {self.base_url} answered HTTP {status} ({payload}). "
                "Check --model and the server's log."
            )
        try:
            choice = payload["choices"][0]
            raw = choice["message"].get("content") or ""
            finish = choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise ModelError(
                f"The server at {self.base_url} sent an unexpected answer. Check --base-url."
            ) from e
        if not isinstance(raw, str) or not isinstance(finish, str):
            raise InferenceError(
                f"The server at {self.base_url} sent a reply whose content is "
                f"{type(raw if not isinstance(raw, str) else finish).__name__}, not text; "
                "nothing was changed. Check --base-url and --model."
            )
        text = strip_think(raw)
        data = _parse_json(text, finish, max_tokens) if schema is not None else None
        if schema is not None:
            validate_reply(data, schema)
        prompt_tokens, completion_tokens = check_usage(payload.get("usage"))
        return Completion(
            text=text,
            data=data,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish,
        )

    # -- scoring: what OpenAI-compatible servers can return
    def option_logprobs(self, system: str, user: list[Segment], options: list[str]) -> list[float]:
        """From the top_logprobs of a one-token reply; -inf for an option outside them."""
        body = self._body(system, user, max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS)
        status, payload = self._post(body)
        try:
            top = payload["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            seen = {t["token"]: float(t["logprob"]) for t in top}
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise InferenceError(
                f"The model server at {self.base_url} returned no log-probabilities "
                f"(HTTP {status}), so answers cannot be scored. Use a server that returns "
                "logprobs (llama.cpp's llama-server; llama_cpp.server with --logits_all True), "
                "or the in-process backend."
            ) from e
        return [seen.get(option, float("-inf")) for option in options]

    def reply_logprob(self, system: str, user: list[Segment], reply: str) -> float:
        raise InferenceError(
            "The openai backend cannot score a given reply: chat servers return log-probabilities "
            "only for text they generate (llama.cpp's server ignores echo, "
            "ggml-org/llama.cpp#27174). Use the in-process backend (leave out --backend)."
        )


# ---------------------------------------------------------------- loading

_ENGINES: dict[tuple, Engine] = {}
_TOKENIZERS: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()
_MAX_LOADED = 2


def _effective_name(name: str | None) -> str:
    from .models import model_name

    return model_name(name)


def default_gpu_layers() -> int:
    """All layers (-1) when llama.cpp was built with GPU offload (CUDA, Metal, ...), else 0."""
    return -1 if gpu_offload_supported() else 0


def load_engine(
    name: str | None = None,
    *,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    gpu_layers: int | None = None,
    verbose: bool = False,
    backend: str = "llama",
    base_url: str | None = None,
    api_key: str | None = None,
) -> Engine:
    """Load (once per process and arguments) the engine for NAME. See the module docstring."""
    if backend == "openai":
        return _load_openai(name, n_ctx=n_ctx, base_url=base_url, api_key=api_key, verbose=verbose)
    if backend != "llama":
        raise ModelError(
            f"Unknown backend {backend!r}. Use 'llama' (in-process) or 'openai' (a server)."
        )
    name = _effective_name(name)
    if gpu_layers is None:
        gpu_layers = default_gpu_layers()
    key = ("llama", name, n_ctx, n_threads, gpu_layers)
    with _LOAD_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None and engine.alive:
            engine.verbose = verbose
            return engine
        from .llamacpp import prepare
        from .runner import RunnerEngine

        spec, path, ctx = prepare(name, n_ctx, gpu_layers)
        # the child starts loading at once; the tokenizer loads here meanwhile
        engine = RunnerEngine(
            name, path, n_ctx=ctx, n_threads=n_threads, gpu_layers=gpu_layers, verbose=verbose,
            prompt_style=spec.prompt_style,
        )  # fmt: skip
        try:
            engine.tokenizer = _vocab_tokenizer(name, path)
            engine.wait_loaded()
        except BaseException:
            engine.close()
            raise
        llama_keys = [k for k in _ENGINES if k[0] == "llama"]
        while len(llama_keys) >= _MAX_LOADED:
            # dropped from the cache; its process ends once no caller holds it any more
            _ENGINES.pop(llama_keys.pop(0))
        _ENGINES[key] = engine
        return engine


def _load_openai(
    name: str | None, *, n_ctx: int | None, base_url: str | None, api_key: str | None = None,
    verbose: bool = False,
) -> Engine:  # fmt: skip
    base_url = base_url or os.environ.get("PXPROFILE_BASE_URL")
    if not base_url:
        raise ModelError(
            "The openai backend needs the server's address. Pass --base-url http://HOST:PORT/v1 "
            "(or set PXPROFILE_BASE_URL)."
        )
    from .models import all_models, chosen_model

    name = chosen_model(name)
    if not name:
        raise ModelError("The openai backend needs the server's model name. Pass --model NAME.")

    spec = all_models().get(name)
    from .credentials import api_key_for

    api_key, source = api_key_for(base_url, api_key)
    if verbose:  # which source, never the key
        print(f"pxprofile: API key for {base_url}: {source}", file=sys.stderr)
    key = ("openai", name, base_url, n_ctx, api_key)
    if key in _ENGINES:
        return _ENGINES[key]
    tokenizer = None
    if spec is not None:
        try:
            tokenizer = load_tokenizer(name)
        except ModelError:
            tokenizer = None
    engine = OpenAIEngine(
        name,
        base_url,
        n_ctx=int(
            n_ctx or (spec.context_length if spec and spec.context_length else DEFAULT_N_CTX)
        ),
        prompt_style=spec.prompt_style if spec else "default",
        api_key=api_key,
        tokenizer=tokenizer,
    )
    _ENGINES[key] = engine
    return engine


def load_tokenizer(name: str | None = None):
    """A vocab-only tokenizer for NAME (fast: no weights). ModelError when no model is available."""
    name = _effective_name(name)
    from .models import resolve_path

    path = resolve_path(name)
    with _LOAD_LOCK:
        return _vocab_tokenizer(name, path)


def _vocab_tokenizer(name: str, path) -> Tokenizer:
    key = str(path)
    if key not in _TOKENIZERS:
        from .llamacpp import load_vocab

        _TOKENIZERS[key] = Tokenizer(name, load_vocab(name, path))
    return _TOKENIZERS[key]
