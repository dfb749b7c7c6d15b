"""The shape rules, checked on the source (ast), so they cannot regress.

- no function or method over 80 lines, no module over 700 lines;
- a command is parse -> one core call -> render: its body, docstring included, is at most 20 lines;
- only pxprofile/cli/ imports typer, rich or prompt_toolkit (the core takes and returns plain values).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pxprofile"
CLI = PACKAGE / "cli"
MAX_FUNCTION = 80
MAX_MODULE = 700
MAX_COMMAND = 20
UI_PACKAGES = {"typer", "rich", "prompt_toolkit"}


def _modules() -> list[tuple[Path, str, ast.Module]]:
    return [(p, p.read_text(encoding="utf-8"), ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in sorted(PACKAGE.rglob("*.py"))]  # fmt: skip


MODULES = _modules()


def _where(path: Path, node: ast.AST | None = None) -> str:
    where = str(path.relative_to(PACKAGE.parent))
    return f"{where}:{node.lineno}" if node is not None else where


def _functions(tree: ast.Module):
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _is_command(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Registered on a typer app: ``@app.command(...)``, ``@model_app.command()``, ``.callback()``."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ("command", "callback"):
            return True
    return False


def _commands():
    return [
        (path, f)
        for path, _, tree in MODULES
        if CLI in path.parents
        for f in _functions(tree)
        if _is_command(f)
    ]


def test_no_function_over_80_lines():
    long = [
        f"{_where(path, f)} {f.name} ({f.end_lineno - f.lineno + 1} lines)"
        for path, _, tree in MODULES
        for f in _functions(tree)
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION
    ]
    assert not long, f"functions over {MAX_FUNCTION} lines (split them): " + "; ".join(long)


def test_no_module_over_700_lines():
    long = [
        f"{_where(path)} ({len(src.splitlines())} lines)"
        for path, src, _ in MODULES
        if len(src.splitlines()) > MAX_MODULE
    ]
    assert not long, f"modules over {MAX_MODULE} lines (split them): " + "; ".join(long)


def test_the_command_finder_sees_the_commands():
    # guards the next test: a change in how commands are registered must not make it vacuous
    names = {f.name for _, f in _commands()}
    assert len(names) >= 20, sorted(names)
    assert {"ingest", "update", "forget", "info", "eval_", "_root"} <= names, sorted(names)


def test_commands_are_at_most_20_lines_with_their_docstring():
    long = []
    for path, f in _commands():
        lines = f.end_lineno - f.body[0].lineno + 1  # first statement (the docstring) to the end
        if lines > MAX_COMMAND:
            long.append(f"{_where(path, f)} {f.name} ({lines} lines)")
    assert not long, (
        f"command bodies over {MAX_COMMAND} lines, docstring included (parse -> one core call -> "
        "render; move the logic to the core or a render helper): " + "; ".join(long)
    )


def _imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):  # function-level (lazy) imports count too
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_cli_imports_typer_rich_or_prompt_toolkit():
    found = [
        f"{_where(path)} imports {', '.join(sorted(_imported(tree) & UI_PACKAGES))}"
        for path, _, tree in MODULES
        if CLI not in path.parents and _imported(tree) & UI_PACKAGES
    ]
    assert not found, "UI imports outside pxprofile/cli/ (the core has none): " + "; ".join(found)


@pytest.mark.parametrize(
    "source, ui",
    [
        ("import typer", {"typer"}),
        ("def f():\n    from rich.console import Console", {"rich"}),
        ("import prompt_toolkit.shortcuts as p", {"prompt_toolkit"}),
        ("from .cli import typer_helpers\nimport richtext", set()),
    ],
)
def test_the_import_finder(source, ui):
    assert _imported(ast.parse(source)) & UI_PACKAGES == ui
