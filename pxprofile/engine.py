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

from dataclasses import dataclass
from typing import Any


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
