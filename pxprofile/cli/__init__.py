"""The command line: parse -> call core -> render. The only package that imports typer/rich.

Each command group lives in its own module here (ingest.py, chats.py, model.py, profile.py,
update.py, export.py, ...), registering on ``app``; options.py declares the options several
commands share, output.py the rendering they share. ``_Group.invoke`` is the one place that maps
PxprofileError to ``Error: ...``. Keep module-level imports light: typer and
this package only. Core modules (and rich) are imported inside the command functions, so
``pxprofile --help`` stays fast and never imports llama_cpp or huggingface_hub.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from pxprofile import __version__
from pxprofile.errors import PxprofileError

# shared options and renderers (re-exported: command modules import them from here)
from .options import DbOption, JsonOption, Place, ProfileOption
from .output import print_json, stderr_console

__all__ = ["DbOption", "JsonOption", "app", "fail", "print_json", "stderr_console"]


class _Group(TyperGroup):
    """Maps PxprofileError to one line on stderr and exit 1; Ctrl-C to exit 130."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PxprofileError as e:
            if os.environ.get("PXPROFILE_RAISE_ERRORS"):
                raise
            fail(str(e), code=e.exit_code)
        except KeyboardInterrupt:
            if os.environ.get("PXPROFILE_RAISE_ERRORS"):
                raise
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # `pxprofile export | head -1`: the reader went away; not an error worth a traceback
            _silence_stdout()
            raise typer.Exit(0) from None


def fail(message: str, code: int = 1) -> None:
    """Print ``Error: <message>`` as one line on stderr and exit."""
    line = " ".join(str(message).split())
    typer.echo(f"Error: {line}", err=True)
    raise typer.Exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


app = typer.Typer(
    cls=_Group,
    help=(
        "Turn your LLM chat history into a preference profile you own, edit, "
        "and carry to any model."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help and usage errors: typer's rich formatting imports rich.markdown and markdown-it,
    # about half of `pxprofile --help`'s start-up (issue 13: 0.41 -> 0.22 s CPU here).
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pxprofile {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Turn your chat history into a preference profile you own, edit, and carry to any model."""


@app.command()
def path(
    what: Annotated[Place, typer.Argument(help="What to locate.")] = Place.home,
    profile: ProfileOption = None,
) -> None:
    """Print where pxprofile keeps its data (set PXPROFILE_HOME to move it)."""
    from pxprofile import paths

    typer.echo(str(paths.locate(what.value, profile)))


def _register() -> None:
    """Import the command modules so they attach their commands to ``app``."""
    import importlib
    import pkgutil

    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{mod}")


_register()


def main() -> None:
    app(prog_name="pxprofile")
