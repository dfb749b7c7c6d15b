"""The fixed sets of names a user chooses from: input formats, coding agents, export targets.

Each set is written once, here; the core modules check against these tuples and the command
line offers them as choices. Plain tuples, nothing imported: the CLI reads them at start-up.
"""

from __future__ import annotations

# chat exports by format (`ingest --format`); detected by content when not given
CHAT_FORMATS = ("chatgpt", "claude", "gemini", "openai", "sharegpt", "openwebui", "llm", "text")
MORE_CHAT_FORMATS = ("grok", "deepseek", "aistudio", "sillytavern")  # issue 14 (importers/more)
MEMORY_FORMATS = ("claude-memories", "chatgpt-memories", "pam")  # memory lists (memories.py)
FORMATS = CHAT_FORMATS + MORE_CHAT_FORMATS + MEMORY_FORMATS

# coding agents (`ingest --from`): their sessions are detected by content, so not in FORMATS
AGENTS = ("claude-code", "codex", "gemini-cli", "aider")
AGENT_FORMATS = AGENTS
WRITABLE_AGENTS = ("claude-code", "codex", "gemini-cli")  # aider has no user-level file

# `export --for`
TARGETS = ("claude", "chatgpt", "gemini", "openai", "ollama", "llm", "markdown", "json", "pam")
TARGETS += WRITABLE_AGENTS  # an agent's instruction file (agentfiles.py writes it)
JSON_TARGETS = ("openai", "chatgpt", "json")  # the targets `--json` goes with
CLAUDE_STYLES = ("block", "memory")  # `export --for claude --style`
CHATGPT_FIELDS = ("about", "respond")  # `export --for chatgpt --field`

# `model add --prompt-style`; models.toml's prompt_style (models.py checks it)
PROMPT_STYLES = ("default", "alignxplore")

# `update --backend`, `eval --backend`: where the model runs (engine.load_engine)
BACKENDS = ("llama", "openai")
