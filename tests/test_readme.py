"""The README is a contract: its console sessions run, and every command is documented.

Each ```console block is replayed in a fresh PXPROFILE_HOME and working directory (with
tests/fixtures reachable as in the repository); a block preceded by
``<!-- continues the session above -->`` shares the previous block's. Every ``$ command`` must
exit 0 and print what the README shows, except lines that vary by machine or day (dates, home
paths); a block preceded by ``<!-- output varies ... -->`` (model output) is checked for exit
status only.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pxprofile.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
VOLATILE = re.compile(r"\d{4}-\d{2}-\d{2}|/root/|/home/|/tmp/|Users/")


def console_blocks():
    blocks = []
    lines = README.split("\n")
    i = 0
    while i < len(lines):
        if lines[i] == "```console":
            marker = lines[i - 1] if i else ""
            j = i + 1
            while lines[j] != "```":
                j += 1
            blocks.append((i + 1, marker, lines[i + 1 : j]))
            i = j
        i += 1
    return blocks


def sessions(block_lines):
    """[(command, expected output lines)] from a console block."""
    out = []
    for line in block_lines:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def _groups():
    groups = []
    for lineno, marker, body in console_blocks():
        if "continues the session above" in marker and groups:
            groups[-1].append((lineno, marker, body))
        else:
            groups.append([(lineno, marker, body)])
    return groups


@pytest.mark.parametrize("group", _groups(), ids=lambda g: f"README-line-{g[0][0]}")
def test_readme_console_sessions_run(group, tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    (work / "tests" / "fixtures").symlink_to(ROOT / "tests" / "fixtures")
    bindir = Path(os.sys.executable).parent
    env = {
        **os.environ,
        "PXPROFILE_HOME": str(home),
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("PXPROFILE_MODEL", None)
    for lineno, marker, body in group:
        check_output = "output varies" not in marker
        for command, expected in sessions(body):
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=work,
                env=env,
                capture_output=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=600,
            )
            where = f"README line {lineno}: $ {command}"
            assert result.returncode == 0, f"{where}\n{result.stdout}"
            if not check_output:
                continue
            got = (
                [ln.rstrip() for ln in result.stdout.rstrip("\n").split("\n")]
                if result.stdout
                else []
            )
            want = [ln.rstrip() for ln in expected]
            assert len(got) == len(want), (
                f"{where}\n--- README\n{chr(10).join(want)}\n--- got\n{result.stdout}"
            )
            for g, w in zip(got, want, strict=True):
                if VOLATILE.search(w):
                    continue
                assert g == w, (
                    f"{where}\n--- README\n{chr(10).join(want)}\n--- got\n{result.stdout}"
                )


def _commands(group=None, prefix=("pxprofile",)):
    import typer.main

    click_group = group or typer.main.get_command(app)
    for name, cmd in click_group.commands.items():
        path = (*prefix, name)
        yield path, cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, path)


def test_every_command_has_help_and_is_in_the_readme():
    commands = list(_commands())
    assert len(commands) > 15
    for path, cmd in commands:
        name = " ".join(path)
        assert (cmd.help or "").strip(), f"{name} has no help text"
        assert f"{name}" in README, f"{name} is not documented in README.md"
