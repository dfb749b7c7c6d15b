"""choices.py: each fixed set of names is written once; the core checks it and the CLI offers it."""

from __future__ import annotations

import pytest

from pxprofile import agentfiles, choices, export, models
from pxprofile.cli import app, options
from pxprofile.importers import detect, memories, more


def test_the_core_uses_the_one_set():
    assert detect.FORMATS is choices.FORMATS
    assert detect.AGENT_FORMATS is choices.AGENT_FORMATS
    assert more.CHAT_FORMATS is choices.MORE_CHAT_FORMATS
    assert memories.FORMATS is choices.MEMORY_FORMATS
    assert agentfiles.AGENTS is choices.AGENTS
    assert export.TARGETS is choices.TARGETS
    assert export.AGENT_TARGETS == agentfiles.WRITABLE == choices.WRITABLE_AGENTS
    assert export.CLAUDE_STYLES is choices.CLAUDE_STYLES
    assert export.CHATGPT_FIELDS is choices.CHATGPT_FIELDS
    assert models.PROMPT_STYLES is choices.PROMPT_STYLES


def test_the_cli_choices_are_the_sets():
    pairs = [
        (options.Format, choices.FORMATS),
        (options.Agent, choices.AGENTS),
        (options.Target, choices.TARGETS),
        (options.ClaudeStyle, choices.CLAUDE_STYLES),
        (options.ChatgptField, choices.CHATGPT_FIELDS),
        (options.PromptStyle, choices.PROMPT_STYLES),
    ]
    for enum, names in pairs:
        assert tuple(e.value for e in enum) == names


@pytest.mark.parametrize(
    "args, listed",
    [
        (["export", "-", "--for", "bard"], "'claude-code'"),
        (["export", "-", "--for", "claude", "--style", "fancy"], "'memory'"),
        (["ingest", "--from", "cursor"], "'aider'"),
        (["model", "add", "x", "--path", "x.gguf", "--prompt-style", "odd"], "'alignxplore'"),
    ],
)
def test_a_wrong_name_is_a_usage_error_that_lists_the_right_ones(runner, args, listed, tmp_path):
    r = runner.invoke(app, args, env={"PXPROFILE_HOME": str(tmp_path)})
    assert r.exit_code == 2
    assert listed in r.stderr and r.stdout == ""


def test_f_is_export_for_and_nothing_else(runner, tmp_path, fixtures_dir):
    md = "# My preferences\n\n## Style\n\n- Short answers.\n"
    r = runner.invoke(app, ["export", "-", "-f", "gemini"], input=md)
    assert r.exit_code == 0 and r.stdout == "Style: Short answers.\n"
    r = runner.invoke(
        app,
        ["ingest", f"{fixtures_dir}/openwebui/export.json", "-f", "openwebui", "--no-update"],
        env={"PXPROFILE_HOME": str(tmp_path)},
    )
    assert r.exit_code == 2 and "No such option: -f" in r.stderr
    assert not (tmp_path / "pxprofile.db").exists()
