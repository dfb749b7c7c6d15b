"""The summarizer engine: llama.cpp in-process (llama-cpp-python), or an OpenAI-compatible server.

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
                                Over HTTP: from the server's top_logprobs (-inf for an option outside
                                them); InferenceError where the server returns none.
        def reply_logprob(self, system: str, user: list[Segment], reply: str) -> float
                                sum of the log-probabilities of REPLY's tokens as the assistant's
                                reply to the prompt (POPI's margin). InferenceError where the
                                backend cannot score a given reply.
    load_engine(name: str | None = None, *, n_ctx=None, n_threads=None, gpu_layers=None,
                verbose=False, backend="llama", base_url=None) -> Engine
                                loads once per process (cached by arguments)
    load_tokenizer(name: str | None = None) -> object with count_tokens(text) -> int
                                vocab-only load (fast, no weights) for token budgets in export;
                                raises ModelError when no model is available
    resolve_model_name(name: str | None) -> str | None
                                --model, else $PXPROFILE_MODEL, else the config default

Deterministic by default (seed 0, temperature 0). llama_cpp is imported inside functions only.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InferenceError, ModelError

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

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_think(text: str, *, opened: bool = False) -> str:
    """Drop <think>...</think> reasoning. OPENED: the prompt itself ended with "<think>", so the
    output starts inside the block. Reasoning cut off before its "</think>" leaves nothing."""
    if opened:
        text = text.split("</think>", 1)[1] if "</think>" in text else ""
    text = _THINK_RE.sub("", text).strip()
    return "" if text.startswith("<think>") else text


# Special-token strings of common chat formats (ChatML/Qwen, Llama 2/3, Gemma, Mistral, Phi, ...).
_SPECIAL_RE = re.compile(
    r"<\|[A-Za-z0-9_./:-]{1,40}\|>"  # <|im_start|>, <|eot_id|>, <|start_header_id|>, <|user|> ...
    r"|<(?:/?s|bos|eos|pad|unk|mask|start_of_turn|end_of_turn|start_of_image|end_of_image"
    r"|/?think|/?tool_call|/?tool_response)>"
    r"|\[/?INST\]|<</?SYS>>|\[/?(?:AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS|SYSTEM_PROMPT)\]",
    re.IGNORECASE,
)


def neutralize_special_tokens(text: str) -> str:
    """Break known special-token strings with a WORD JOINER (U+2060) after the first character, so a
    server that tokenizes the whole prompt with special-token parsing on reads them as plain text.
    Used where token-level isolation is impossible (the HTTP backend)."""
    return _SPECIAL_RE.sub(lambda m: m.group(0)[0] + "\u2060" + m.group(0)[1:], text)


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


def _parse_json(text: str, finish_reason: str, max_tokens: int) -> Any:
    try:
        return json.loads(text, strict=False)  # llama.cpp's grammar lets raw newlines into strings
    except json.JSONDecodeError as e:
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


# ---------------------------------------------------------------- llama.cpp logging

_LOG_TAIL: deque[str] = deque(maxlen=40)
_log_state = {"callback": None, "verbose": False}


def _route_llama_logs(verbose: bool) -> None:
    """Send llama.cpp's log to stderr only when verbose; always keep the last lines for errors.

    llama-cpp-python's verbose=False still lets some lines through (abetlen/llama-cpp-python#1245),
    so pxprofile installs its own callback with llama_log_set.
    """
    _log_state["verbose"] = verbose
    if _log_state["callback"] is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def _callback(level, text, user_data):  # pragma: no cover - called from C
        try:
            line = text.decode("utf-8", errors="replace")
        except Exception:
            return
        _LOG_TAIL.append(line)
        if _log_state["verbose"]:
            sys.stderr.write(line)

    _log_state["callback"] = _callback  # keep a reference: C holds only a pointer
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable + SwapFree), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f)}
        return info.get("MemAvailable", 0) + info.get("SwapFree", 0)
    except (OSError, ValueError):
        return None


def _kv_bytes(meta: dict[str, Any], n_ctx: int) -> int:
    arch = meta.get("general.architecture")
    layers = int(meta.get(f"{arch}.block_count") or 0)
    heads = (
        meta.get(f"{arch}.attention.head_count_kv") or meta.get(f"{arch}.attention.head_count") or 0
    )
    heads = int(max(heads) if isinstance(heads, list) else heads)
    emb = int(meta.get(f"{arch}.embedding_length") or 0)
    n_head = meta.get(f"{arch}.attention.head_count") or 1
    n_head = int(max(n_head) if isinstance(n_head, list) else n_head) or 1
    k = int(meta.get(f"{arch}.attention.key_length") or emb // n_head)
    v = int(meta.get(f"{arch}.attention.value_length") or emb // n_head)
    return n_ctx * layers * heads * (k + v) * 2  # f16 cache


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GB"


def _load_failure(name: str, path: Path, n_ctx: int, exc: BaseException) -> ModelError:
    log = "".join(_LOG_TAIL).lower()
    lines = [ln.strip() for ln in _LOG_TAIL if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    last = (errors or lines or [""])[-1]
    memoryish = isinstance(exc, MemoryError) or any(
        w in log
        for w in (
            "failed to allocate",
            "out of memory",
            "cannot allocate",
            "mmap failed",
            "failed to mmap",
            "unable to allocate",
        )
    )
    if memoryish:
        return ModelError(
            f"Too little memory to load {name} with a {n_ctx}-token context ({last or exc}). "
            "Choose a smaller model, lower --n-ctx, or close other programs."
        )
    if "context" in str(exc).lower():
        return ModelError(
            f"llama.cpp could not create a {n_ctx}-token context for {name} ({last or exc}). "
            "Lower --n-ctx or --gpu-layers."
        )
    return ModelError(
        f"llama.cpp could not load {path} ({last or exc}). The file may be damaged or need a newer "
        "llama.cpp: download it again, or run `pip install -U llama-cpp-python`."
    )


def _check_model_file(name: str, path: Path) -> dict[str, Any]:
    from .models import gguf_metadata

    if not path.is_file():
        raise ModelError(
            f"The file for model {name} is missing: {path}. Pull or add the model again."
        )
    return gguf_metadata(path)  # raises "not a GGUF" / "damaged"


# ---------------------------------------------------------------- engines


class Engine:
    """A summarizer. Subclasses: LlamaEngine (in-process), OpenAIEngine (HTTP server)."""

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


def _log_softmax(logits) -> Any:
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


class LlamaEngine(Engine):
    """llama.cpp in-process. Builds the prompt's token ids itself: template scaffolding is tokenized
    with special-token parsing on, chat content with it off, so pasted control-token strings
    (<|im_start|>, <start_of_turn>, ...) stay plain text (reliability.md §1.3)."""

    backend = "llama"

    def __init__(self, name: str, llm, *, prompt_style: str = "default", gpu_layers: int = 0):
        self.name = name
        self.llm = llm
        self.n_ctx = llm.n_ctx()
        self.prompt_style = prompt_style
        self.gpu_layers = gpu_layers
        self.template = llm.metadata.get("tokenizer.chat_template")
        self.has_chat_template = bool(self.template)
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._layout: tuple[str, str, str] | None = None

    # -- tokens
    def tokenize(self, text: str, *, special: bool) -> list[int]:
        if not text:
            return []
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    def is_control(self, token_id: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_control(self.llm._model.vocab, token_id)) or bool(
            self.llm._model.token_get_attr(token_id) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
        )

    # -- prompt
    def _scaffold(self) -> tuple[str, str, str]:
        """(before system, between system and user, after user), from the rendered template."""
        if self._layout is None:
            self._layout = self._render_layout()
        return self._layout

    def _render_layout(self) -> tuple[str, str, str]:
        if not self.template:
            # plain completion layout for GGUFs without a chat template (base models)
            return ("", "\n\n", "\n\n")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self.llm._model
        bos = model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else ""
        eos = model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else ""
        fmt = Jinja2ChatFormatter(self.template, eos_token=eos, bos_token=bos)
        attempts = [
            [{"role": "system", "content": _SYS_MARK}, {"role": "user", "content": _USER_MARK}],
            [{"role": "user", "content": _SYS_MARK + "\n\n" + _USER_MARK}],
        ]
        for messages in attempts:
            try:
                # AlignXplore+ reasons in <think> before its summary; other styles answer directly
                thinking = self.prompt_style == "alignxplore"
                rendered = fmt(messages=messages, enable_thinking=thinking).prompt
            except Exception:  # templates raise for unsupported roles
                continue
            if rendered.count(_SYS_MARK) == 1 and rendered.count(_USER_MARK) == 1:
                head, rest = rendered.split(_SYS_MARK)
                mid, tail = rest.split(_USER_MARK)
                if head or mid or tail:
                    return (head, mid, tail)
        raise ModelError(
            f"The chat template of {self.name} could not be used. Add the model again with a GGUF "
            "converted by a recent llama.cpp."
        )

    def encode_prompt(self, system: str, user: list[Segment]) -> Prompt:
        """Token ids for system + user segments, built at token level (see the class docstring).

        The system prompt is pxprofile's own text but may quote the profile, so it is tokenized
        with special-token parsing off as well; only trusted Segments parse special tokens.
        """
        head, mid, tail = self._scaffold()
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        model = self.llm._model
        bos = model.token_bos()
        head_ids = self.tokenize(head, special=True)
        if model.add_bos_token() and bos >= 0 and head_ids[:1] != [bos]:
            ids.append(bos)
        ids += head_ids
        start = len(ids)
        ids += self.tokenize(system, special=False)
        spans.append((start, len(ids)))
        ids += self.tokenize(mid, special=True)
        for seg in _segments(user):
            start = len(ids)
            ids += self.tokenize(seg.text, special=seg.trusted)
            if not seg.trusted:
                spans.append((start, len(ids)))
        ids += self.tokenize(tail, special=True)
        return Prompt(ids, spans)

    def _grammar(self, schema: dict):
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp import LlamaGrammar

            try:
                # the schema's own key order (not the sorted cache key): fields come out in it
                self._grammars[key] = LlamaGrammar.from_json_schema(
                    json.dumps(schema), verbose=False
                )
            except Exception as e:
                raise InferenceError(
                    f"The output schema cannot be turned into a grammar ({e})."
                ) from e
        return self._grammars[key]

    def complete(
        self, system: str, user: list[Segment], *, schema: dict | None = None, max_tokens: int = 512
    ) -> Completion:
        prompt = self.encode_prompt(system, user)
        if len(prompt.ids) + 1 >= self.n_ctx:
            raise InferenceError(
                f"The prompt is {len(prompt.ids)} tokens, more than {self.name}'s context of "
                f"{self.n_ctx} tokens; nothing was changed. "
                "Send less evidence per batch or raise --n-ctx."
            )
        grammar = self._grammar(schema) if schema is not None else None
        with self._lock:
            out = self.llm.create_completion(
                prompt.ids,
                max_tokens=max_tokens,
                temperature=0.0,
                seed=SEED,
                repeat_penalty=1.0,
                grammar=grammar,
            )
        choice = out["choices"][0]
        finish = choice.get("finish_reason") or "stop"
        text = strip_think(choice["text"], opened=self._scaffold()[2].rstrip().endswith("<think>"))
        data = _parse_json(text, finish, max_tokens) if schema is not None else None
        usage = out.get("usage") or {}
        return Completion(
            text=text,
            data=data,
            prompt_tokens=usage.get("prompt_tokens", len(prompt.ids)),
            completion_tokens=usage.get("completion_tokens", 0),
            finish_reason=finish,
        )

    # -- scoring (eval): log-probabilities of given answers, no sampling
    def _fits(self, n: int) -> None:
        if n >= self.n_ctx:
            raise InferenceError(
                f"The prompt is {n} tokens, more than {self.name}'s context of {self.n_ctx} "
                "tokens. Send a shorter prompt or raise --n-ctx."
            )

    def _score(self, prompt_ids: list[int], reply_ids: list[int]):
        """Log-softmax rows for the positions that predict each of REPLY_IDS (or the one next
        token when REPLY_IDS is empty), from an empty KV cache: same input, same numbers."""
        import numpy as np

        llm = self.llm
        self._fits(len(prompt_ids) + len(reply_ids))
        llm.reset()
        llm.eval(prompt_ids)  # logits of the last position only: the first reply token's
        n_vocab = llm.n_vocab()
        rows = [np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,)).copy()]
        rest = reply_ids[:-1]  # each reply token but the last predicts the next one
        for i in range(0, len(rest), llm.n_batch):
            chunk = rest[i : i + llm.n_batch]
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=chunk, n_past=n_past, logits_all=True)
            llm._ctx.decode(llm._batch)
            out = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(chunk) * n_vocab,))
            rows.extend(out.reshape(len(chunk), n_vocab).copy())
            llm.input_ids[n_past : n_past + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
        return _log_softmax(np.stack(rows))

    def option_logprobs(self, system: str, user: list[Segment], options: list[str]) -> list[float]:
        prompt = self.encode_prompt(system, user).ids
        out: list[float] = []
        with self._lock:
            first = None
            for option in options:
                ids = self.tokenize(option, special=False)
                if not ids:
                    raise InferenceError("An empty option cannot be scored.")
                if len(ids) == 1:
                    first = self._score(prompt, []) if first is None else first
                    out.append(float(first[0][ids[0]]))
                else:
                    rows = self._score(prompt, ids)
                    out.append(float(sum(rows[k][t] for k, t in enumerate(ids))))
        return out

    def reply_logprob(self, system: str, user: list[Segment], reply: str) -> float:
        prompt = self.encode_prompt(system, user).ids
        ids = self.tokenize(reply, special=False)
        if not ids:
            raise InferenceError("An empty reply cannot be scored.")
        with self._lock:
            rows = self._score(prompt, ids)
        return float(sum(rows[k][t] for k, t in enumerate(ids)))

    def close(self) -> None:
        self.llm.close()


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
    """Where no local tokenizer exists (a remote-only model): ~3 characters a token, rounded up,
    which over-counts for English so budgets stay on the safe side."""

    def __init__(self, name: str):
        self.name = name

    def count_tokens(self, text: str) -> int:
        return -(-len(text) // 3)


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
        except json.JSONDecodeError as e:
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

    def complete(
        self, system: str, user: list[Segment], *, schema: dict | None = None, max_tokens: int = 512
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [
                {"role": "system", "content": neutralize_special_tokens(system)},
                {"role": "user", "content": self._user_text(user)},
            ],
            "temperature": 0,
            "seed": SEED,
            "max_tokens": max_tokens,
            "stream": False,
        }
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
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise ModelError(
                f"The server at {self.base_url} sent an unexpected answer. Check --base-url."
            ) from e
        finish = choice.get("finish_reason") or "stop"
        text = strip_think(raw)
        data = _parse_json(text, finish, max_tokens) if schema is not None else None
        usage = payload.get("usage") or {}
        return Completion(
            text=text,
            data=data,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=finish,
        )

    # -- scoring: what OpenAI-compatible servers can return
    def option_logprobs(self, system: str, user: list[Segment], options: list[str]) -> list[float]:
        """From the top_logprobs of a one-token reply; -inf for an option outside them."""
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [
                {"role": "system", "content": neutralize_special_tokens(system)},
                {"role": "user", "content": self._user_text(user)},
            ],
            "temperature": 0,
            "seed": SEED,
            "max_tokens": 1,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
            "stream": False,
        }
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
_LLAMAS: weakref.WeakSet = weakref.WeakSet()  # every llama_cpp.Llama loaded here, still alive


def _tracked(llm):
    _LLAMAS.add(llm)
    return llm


@atexit.register
def _close_llamas() -> None:
    """Free the models still loaded at exit, while llama_cpp's module globals still exist.

    Left to the garbage collector, Llama.__del__ can run after interpreter shutdown has set
    llama_cpp's functions to None and print "Exception ignored in: <function Llama.__del__ ...>
    TypeError: 'NoneType' object is not callable" (abetlen/llama-cpp-python#1610, #2002).
    atexit handlers run before that teardown; closing twice is harmless.
    """
    for llm in list(_LLAMAS):
        # Llama.close() leaves the sampler of the last generation to its own __del__
        for obj in (getattr(llm, "_sampler", None), llm):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # best effort at exit: never mask the exit status
                pass


def resolve_model_name(name: str | None) -> str | None:
    """--model, else $PXPROFILE_MODEL, else the config default (`pxprofile model use`)."""
    if name:
        return name
    env = os.environ.get("PXPROFILE_MODEL")
    if env:
        return env
    from .models import default_model

    return default_model()


def _effective_name(name: str | None) -> str:
    from .models import registry_default

    resolved = resolve_model_name(name) or registry_default()
    if not resolved:  # pragma: no cover - the shipped registry names a default
        raise ModelError("No model chosen. Pass --model NAME or run `pxprofile model use NAME`.")
    return resolved


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
) -> Engine:
    """Load (once per process and arguments) the engine for NAME. See the module docstring."""
    if backend in ("openai", "server"):
        return _load_openai(name, n_ctx=n_ctx, base_url=base_url)
    if backend != "llama":
        raise ModelError(
            f"Unknown backend {backend!r}. Use 'llama' (in-process) or 'openai' (a server)."
        )
    name = _effective_name(name)
    from .models import get_model, resolve_path

    spec = get_model(name)
    path = resolve_path(name)
    if gpu_layers is None:
        gpu_layers = default_gpu_layers()
    key = ("llama", name, str(path), n_ctx, n_threads, gpu_layers)
    with _LOAD_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            _log_state["verbose"] = verbose
            return engine
        meta = _check_model_file(name, path)
        arch = meta.get("general.architecture")
        train_ctx = meta.get(f"{arch}.context_length") or spec.context_length or DEFAULT_N_CTX
        ctx = int(n_ctx or min(DEFAULT_N_CTX, train_ctx))
        if gpu_layers == 0:
            need = path.stat().st_size + _kv_bytes(meta, ctx)
            avail = _available_memory()
            if avail is not None and need > avail:
                raise ModelError(
                    f"Too little memory to load {name} with a {ctx}-token context: it needs about "
                    f"{_gib(need)}, {_gib(avail)} is available. "
                    "Choose a smaller model, lower --n-ctx, "
                    "or close other programs."
                )
        _route_llama_logs(verbose)
        _LOG_TAIL.clear()
        import llama_cpp

        kwargs: dict[str, Any] = {
            "n_ctx": ctx,
            "n_gpu_layers": gpu_layers,
            "seed": SEED,
            "verbose": verbose,
        }
        if n_threads:
            kwargs.update(n_threads=n_threads, n_threads_batch=n_threads)
        try:
            llm = _tracked(llama_cpp.Llama(str(path), **kwargs))
        except (ValueError, RuntimeError, OSError, MemoryError) as e:
            raise _load_failure(name, path, ctx, e) from e
        engine = LlamaEngine(name, llm, prompt_style=spec.prompt_style, gpu_layers=gpu_layers)
        llama_keys = [k for k in _ENGINES if k[0] == "llama"]
        while len(llama_keys) >= _MAX_LOADED:
            # dropped from the cache, freed by the GC once no caller holds it any more
            _ENGINES.pop(llama_keys.pop(0))
        _ENGINES[key] = engine
        return engine


def _load_openai(name: str | None, *, n_ctx: int | None, base_url: str | None) -> Engine:
    base_url = base_url or os.environ.get("PXPROFILE_BASE_URL")
    if not base_url:
        raise ModelError(
            "The openai backend needs the server's address. Pass --base-url http://HOST:PORT/v1 "
            "(or set PXPROFILE_BASE_URL)."
        )
    name = resolve_model_name(name)
    if not name:
        raise ModelError("The openai backend needs the server's model name. Pass --model NAME.")
    from .models import all_models

    spec = all_models().get(name)
    key = ("openai", name, base_url, n_ctx)
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
        api_key=os.environ.get("PXPROFILE_API_KEY") or os.environ.get("OPENAI_API_KEY"),
        tokenizer=tokenizer,
    )
    _ENGINES[key] = engine
    return engine


def load_tokenizer(name: str | None = None):
    """A vocab-only tokenizer for NAME (fast: no weights). ModelError when no model is available."""
    name = _effective_name(name)
    from .models import resolve_path

    path = resolve_path(name)
    key = str(path)
    with _LOAD_LOCK:
        if key in _TOKENIZERS:
            return _TOKENIZERS[key]
        _check_model_file(name, path)
        _route_llama_logs(_log_state["verbose"])
        import llama_cpp

        try:
            llm = _tracked(llama_cpp.Llama(str(path), vocab_only=True, verbose=False))
        except (ValueError, RuntimeError, OSError) as e:
            raise _load_failure(name, path, 0, e) from e
        tok = Tokenizer(name, llm)
        _TOKENIZERS[key] = tok
        return tok
