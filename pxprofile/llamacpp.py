"""llama.cpp in this process (llama-cpp-python): loading a GGUF, the chat-template prompt built at
token level, constrained generation, scoring. pxprofile runs this in a child process
(pxprofile/runner.py), so a native crash in llama.cpp never takes down the process that holds the
database and the profile file; tests also use it directly.

CPU features: llama.cpp's "extra buffer types" repack weights for faster CPU kernels (AVX2/AVX512
repacking, Intel AMX tiles). The AMX kernels crash on current Intel Xeons (ggml-org/llama.cpp#20824,
stanfordnlp/dspy#10079), so they are turned off where the CPU has AMX, and only there
(PXPROFILE_EXTRA_BUFTS=0/1 overrides). llama_cpp is imported inside functions only.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import re
import threading
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from .engine import (
    _SYS_MARK,
    _USER_MARK,
    SEED,
    Completion,
    Engine,
    Prompt,
    Segment,
    _parse_json,
    _segments,
)
from .errors import InferenceError, ModelError
from .replies import validate as validate_reply
from .text import strip_think

AMX_FLAGS = ("amx_tile", "amx_int8", "amx_bf16")
EXTRA_BUFTS_ENV = "PXPROFILE_EXTRA_BUFTS"


# ---------------------------------------------------------------- CPU features


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (or CPUINFO, its text); empty where unknown."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def extra_bufts_choice(flags: set[str] | None = None, env: str | None = None) -> tuple[bool, str]:
    """(use llama.cpp's extra buffer types?, why). Off only where the CPU has AMX."""
    env = os.environ.get(EXTRA_BUFTS_ENV) if env is None else env
    if env is not None and env.strip() in ("0", "1"):
        return env.strip() == "1", f"{EXTRA_BUFTS_ENV}={env.strip()}"
    amx = sorted(set(AMX_FLAGS) & (cpu_flags() if flags is None else flags))
    if amx:
        return False, (
            f"off: this CPU has AMX ({', '.join(amx)}), whose llama.cpp kernels crash "
            "(ggml-org/llama.cpp#20824)"
        )
    return True, "on (weight repacking for this CPU)"


def extra_bufts_settable() -> bool:
    """Whether the installed llama-cpp-python's llama_model_params has use_extra_bufts."""
    import llama_cpp

    return "use_extra_bufts" in dict(llama_cpp.llama_model_params._fields_)


_LLAMA_CLASS: list = []


def llama_class():
    """llama_cpp.Llama, with use_extra_bufts set on the model parameters it builds.

    Llama() does not take use_extra_bufts; it assigns self.model_params once from
    llama_model_default_params() and fills in the fields it knows. A data descriptor on a
    subclass sees that assignment and sets the field on the same struct before the model loads.
    """
    if _LLAMA_CLASS:
        return _LLAMA_CLASS[0]
    import llama_cpp

    class Llama(llama_cpp.Llama):
        _px_extra_bufts: bool | None = None

        @property
        def model_params(self):
            return self.__dict__["_px_model_params"]

        @model_params.setter
        def model_params(self, params):
            if self._px_extra_bufts is not None and hasattr(params, "use_extra_bufts"):
                params.use_extra_bufts = self._px_extra_bufts
            self.__dict__["_px_model_params"] = params

        def __init__(self, *args, extra_bufts: bool | None = None, **kwargs):
            self._px_extra_bufts = extra_bufts
            super().__init__(*args, **kwargs)

    _LLAMA_CLASS.append(Llama)
    return Llama


_FEATURE_RE = re.compile(r"([A-Z0-9_]+) = 1")


def build_features() -> list[str]:
    """CPU features this llama.cpp build uses (AVX2, AVX512, AMX_INT8, ...): its system info."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return sorted(set(_FEATURE_RE.findall(info)))


def cpu_report() -> dict[str, Any]:
    """What `pxprofile model info` shows about the CPU side of llama.cpp."""
    use, why = extra_bufts_choice()
    settable = extra_bufts_settable()
    if not settable:
        why = "llama.cpp's default (this llama-cpp-python cannot set use_extra_bufts)"
    flags = cpu_flags()
    return {
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx"))),
        "llama_cpp_features": build_features(),
        "extra_buffer_types": use if settable else None,
        "extra_buffer_types_reason": why,
    }


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
            os.write(2, text)  # unbuffered: a crash right after loses no line

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


# ---------------------------------------------------------------- the engine


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
        if schema is not None:
            validate_reply(data, schema)
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


# ---------------------------------------------------------------- loading


def prepare(name: str, n_ctx: int | None, gpu_layers: int) -> tuple[Any, Path, int]:
    """(spec, GGUF path, context size) for NAME, after the checks that need no llama.cpp: the
    file is a GGUF, and (CPU only) the weights and KV cache fit in the memory available."""
    from .engine import DEFAULT_N_CTX
    from .models import get_model, resolve_path

    spec = get_model(name)
    path = resolve_path(name)
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
    return spec, path, ctx


def load_model(
    name: str,
    path: Path,
    *,
    n_ctx: int,
    n_threads: int | None = None,
    gpu_layers: int = 0,
    verbose: bool = False,
    prompt_style: str = "default",
    log_to_stderr: bool = False,
) -> LlamaEngine:
    """Load the GGUF at PATH in this process. LOG_TO_STDERR (the child of pxprofile/runner.py):
    llama.cpp's whole log goes to fd 2, line by line, and llama-cpp-python's own chatter only
    under VERBOSE."""
    _route_llama_logs(verbose or log_to_stderr)
    _LOG_TAIL.clear()
    kwargs: dict[str, Any] = {
        "n_ctx": n_ctx,
        "n_gpu_layers": gpu_layers,
        "seed": SEED,
        # verbose=False would point fd 2 at /dev/null while the model loads
        "verbose": verbose or log_to_stderr,
    }
    if n_threads:
        kwargs.update(n_threads=n_threads, n_threads_batch=n_threads)
    use_extra, _why = extra_bufts_choice()
    quiet = contextlib.redirect_stderr(io.StringIO()) if not verbose else contextlib.nullcontext()
    try:
        with quiet:  # Python-level prints (metadata, chat format); llama.cpp's log is on fd 2
            llm = _tracked(llama_class()(str(path), extra_bufts=use_extra, **kwargs))
    except (ValueError, RuntimeError, OSError, MemoryError) as e:
        raise _load_failure(name, path, n_ctx, e) from e
    llm.verbose = verbose
    return LlamaEngine(name, llm, prompt_style=prompt_style, gpu_layers=gpu_layers)


def load_local(
    name: str, *, n_ctx: int | None = None, n_threads: int | None = None, gpu_layers: int = 0
) -> LlamaEngine:
    """NAME loaded in this process, outside the child (tests, benchmarks)."""
    spec, path, ctx = prepare(name, n_ctx, gpu_layers)
    return load_model(
        name, path, n_ctx=ctx, n_threads=n_threads, gpu_layers=gpu_layers,
        prompt_style=spec.prompt_style,
    )  # fmt: skip


def load_vocab(name: str, path: Path):
    """A vocab-only llama_cpp.Llama for PATH (no weights: fast, no compute)."""
    _check_model_file(name, path)
    _route_llama_logs(_log_state["verbose"])
    import llama_cpp

    try:
        # a tiny context and batch: Llama() sizes a (n_batch, n_vocab) float array even for a
        # vocab-only load (512 MiB of address space for Gemma 3's 262k-token vocabulary)
        # verbose=True, with Python's prints caught: verbose=False would point this process's
        # fd 2 at /dev/null while loading, and the model's child logs to it meanwhile
        with contextlib.redirect_stderr(io.StringIO()):
            llm = llama_cpp.Llama(
                str(path), vocab_only=True, n_ctx=16, n_batch=1, n_ubatch=1, verbose=True
            )
        llm.verbose = False
        return _tracked(llm)
    except (ValueError, RuntimeError, OSError) as e:
        raise _load_failure(name, path, 0, e) from e
