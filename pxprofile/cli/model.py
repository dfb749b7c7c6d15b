"""`pxprofile model list|pull|add|use|rm|info|path`: the models pxprofile can run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app
from .options import JsonOption, NlOption, PromptStyle, QuietOption
from .output import emit_rows, print_json

model_app = typer.Typer(
    help="List, pull, add and choose the local models pxprofile runs.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")

NameArg = Annotated[str, typer.Argument(help="Model name (see `pxprofile model list`).")]
OptionalName = Annotated[
    str | None, typer.Argument(help="Model name (default: the selected model).")
]


@model_app.command("list")
def list_(json_: JsonOption = False, nl: NlOption = False) -> None:
    """List known models: downloaded or available, size, path; also Ollama's and LM Studio's."""
    from pxprofile.models import list_models

    rows = list_models()
    if not emit_rows(rows, json_, nl):
        _print_table(rows)


def _print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("", "NAME", "STATUS", "SIZE", "CONTEXT"):
        table.add_column(col, no_wrap=True)
    table.add_column("PATH / SOURCE", overflow="fold")
    for r in rows:
        where = r["path"] or (
            f"{r['repo']}/{r['file']}" if r["repo"] else f"pip package {r['package']}"
        )
        table.add_row(
            "*" if r["default"] else "",
            r["name"],
            r["status"],
            r["size_human"],
            str(r["context_length"] or "-"),
            where,
        )
    Console(highlight=False, soft_wrap=True).print(table)


@model_app.command()
def pull(
    name: NameArg,
    quiet: QuietOption = False,
) -> None:
    """Download a model into the Hugging Face cache (resumes; reuses a cached file)."""
    import sys

    from pxprofile import models

    spec = models.get_model(name)
    if spec.kind == "hf" and not quiet:
        typer.echo(f"Pulling {name} from {spec.repo} ({spec.file})...", err=True)
    path = models.pull(name, progress=not quiet and sys.stderr.isatty())
    if not quiet:
        typer.echo(f"{name} is ready.", err=True)
    typer.echo(str(path))


@model_app.command()
def add(
    name: NameArg,
    path: Annotated[Path | None, typer.Option("--path", help="A local .gguf file.")] = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="Hugging Face repository (OWNER/NAME).")
    ] = None,
    file: Annotated[str | None, typer.Option("--file", help="GGUF file name in --repo.")] = None,
    prompt_style: Annotated[
        PromptStyle, typer.Option("--prompt-style", help="Prompt format the model expects.")
    ] = PromptStyle["default"],
    context_length: Annotated[
        int | None,
        typer.Option("--context-length", help="Context window in tokens (default: from the file)."),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note shown by `model list`.")] = "",
) -> None:
    """Add your own model: a local GGUF (--path) or a Hugging Face repo and file."""
    from pxprofile import models

    spec = models.add_model(
        name, path=path, repo=repo, file=file, prompt_style=prompt_style.value,
        context_length=context_length, note=note,
    )  # fmt: skip
    hint = "" if spec.kind == "file" else f" Run `pxprofile model pull {name}` to download it."
    typer.echo(f"Added model {name}.{hint}", err=True)


@model_app.command()
def use(name: NameArg) -> None:
    """Make NAME the default model."""
    from pxprofile import models

    spec = models.set_default(name)
    msg = f"Default model: {name}."
    state = models.status(spec)
    if state == "missing":
        msg += f" Its file {spec.path} is missing."
    elif state not in ("downloaded", "installed"):
        msg += f" Run `pxprofile model pull {name}` before using it."
    typer.echo(msg, err=True)


@model_app.command("rm")
def rm(name: NameArg) -> None:
    """Remove a model you added, or delete a pulled model's file from the cache."""
    from pxprofile import models

    typer.echo(models.remove_model(name), err=True)


@model_app.command()
def info(name: OptionalName = None, json_: JsonOption = False) -> None:
    """Show a model's GGUF metadata, GPU offload, and the CPU features llama.cpp uses."""
    from pxprofile import models

    name = models.model_name(name)
    data = models.model_info(name)
    if json_:
        print_json(data)
        return
    for key, value in _info_lines(name, data):
        typer.echo(f"{key + ':':<16}{value}")


def _info_lines(name, data) -> list[tuple[str, object]]:
    from pxprofile import models

    g, cpu = data["gguf"], data["cpu"]
    return [
        ("name", name),
        ("path", data["path"]),
        ("size", models.format_size(data["size"])),
        ("architecture", g["architecture"]),
        ("context length", g["context_length"]),
        ("layers", g["layers"]),
        ("quantization", g["quantization"]),
        ("chat template", "yes" if g["chat_template"] else "no (plain completion prompt)"),
        ("prompt style", data["prompt_style"]),
        (
            "GPU offload",
            "supported: all layers by default (--gpu-layers to change)"
            if data["gpu_offload"]
            else "not supported by this llama.cpp build: CPU only "
            "(reinstall with CUDA or Metal, see README)",
        ),
        ("CPU features", ", ".join(cpu["llama_cpp_features"]) or "none reported"),
        ("extra buffers", cpu["extra_buffer_types_reason"]),
    ]


@model_app.command("path")
def path_(name: OptionalName = None) -> None:
    """Print the local path of a model's GGUF file."""
    from pxprofile import models

    typer.echo(str(models.resolve_path(models.model_name(name))))
