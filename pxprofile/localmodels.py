"""GGUF models other tools already downloaded: Ollama's store and LM Studio's models folder.

    is_local_name(name) -> bool      "ollama:..." or "lmstudio:..."
    find(name) -> ModelSpec          the model, used in place (else a ModelError naming what exists)
    discover() -> list[ModelSpec]    every model found, for `pxprofile model list`

Nothing is copied or downloaded: the spec's ``path`` is the other tool's file itself, so
``models.resolve_path`` and the engine load it where it lies.

Ollama (``ollama:NAME[:TAG]``): the store is $OLLAMA_MODELS, else ~/.ollama/models (and the Linux
service's /usr/share/ollama/.ollama/models). A model is a manifest under
``manifests/HOST/NAMESPACE/MODEL/TAG`` (JSON); its layer with mediaType
``application/vnd.ollama.image.model`` names the GGUF as ``sha256:<hex>``, stored as
``blobs/sha256-<hex>``. Names are written as Ollama writes them: ``llama3.2:3b`` for
registry.ollama.ai/library, ``NAMESPACE/MODEL:TAG`` for other namespaces there,
``HOST/NAMESPACE/MODEL:TAG`` (e.g. ``hf.co/bartowski/...``) for other hosts; TAG defaults to latest.

LM Studio (``lmstudio:PUBLISHER/REPO[/FILE.gguf]``): ``PUBLISHER/REPO/*.gguf`` under the models
folder (``downloadsFolder`` in ~/.lmstudio/settings.json when set, ~/.lmstudio/models, and
~/.cache/lm-studio/models of older versions). Vision projectors (mmproj-*.gguf) and the later
parts of split GGUFs are not models of their own. A folder holding several quantizations needs
the file name.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .errors import ModelError
from .models import ModelSpec, is_gguf

OLLAMA = "ollama:"
LMSTUDIO = "lmstudio:"
OLLAMA_HOST = "registry.ollama.ai"
OLLAMA_NAMESPACE = "library"
MODEL_LAYER = "application/vnd.ollama.image.model"
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")  # one path component: no '..', no '/'
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_SPLIT = re.compile(r"-(\d{5})-of-\d{5}\.gguf$", re.I)


def is_local_name(name: str) -> bool:
    return name.startswith((OLLAMA, LMSTUDIO))


def find(name: str) -> ModelSpec:
    """The spec of ``ollama:...`` or ``lmstudio:...``; ModelError naming what is there if absent."""
    if name.startswith(OLLAMA):
        return _ollama_find(name)
    return _lmstudio_find(name)


def discover() -> list[ModelSpec]:
    """Every Ollama and LM Studio GGUF on this machine (unreadable entries are left out)."""
    return _ollama_all() + _lmstudio_all()


# ---------------------------------------------------------------- Ollama


def ollama_dirs() -> list[Path]:
    env = os.environ.get("OLLAMA_MODELS")
    if env:
        return [Path(env).expanduser()]
    return [Path.home() / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]


def _ollama_parts(name: str) -> tuple[str, str, str, str] | None:
    """'ollama:NAME[:TAG]' -> (host, namespace, model, tag), None when not a valid name."""
    ref = name[len(OLLAMA) :]
    path, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    parts = path.split("/")
    if len(parts) == 1:
        parts = [OLLAMA_HOST, OLLAMA_NAMESPACE, *parts]
    elif len(parts) == 2:
        parts = [OLLAMA_HOST, *parts]
    if len(parts) != 3 or not all(_PART.match(p) for p in (*parts, tag)):
        return None
    host, namespace, model = parts
    return host, namespace, model, tag


def _ollama_name(host: str, namespace: str, model: str, tag: str) -> str:
    if host == OLLAMA_HOST:
        short = model if namespace == OLLAMA_NAMESPACE else f"{namespace}/{model}"
    else:
        short = f"{host}/{namespace}/{model}"
    return f"{OLLAMA}{short}:{tag}"


def _ollama_find(name: str) -> ModelSpec:
    parts = _ollama_parts(name)
    if parts is None:
        raise ModelError(
            f"{name!r} is not an Ollama model name. Write it as `ollama:NAME:TAG`, "
            "e.g. ollama:llama3.2:3b (see `pxprofile model list`)."
        )
    for store in ollama_dirs():
        manifest = store / "manifests" / Path(*parts)
        if manifest.is_file():
            return _ollama_spec(_ollama_name(*parts), store, manifest, strict=True)
    found = sorted(s.name for s in _ollama_all())
    where = " or ".join(str(d) for d in ollama_dirs())
    listed = f" Ollama models here: {', '.join(found)}." if found else ""
    raise ModelError(
        f"No Ollama model {name[len(OLLAMA) :]} in {where}.{listed} "
        f"Pull it with `ollama pull {name[len(OLLAMA) :]}`, or set OLLAMA_MODELS to Ollama's "
        "models folder."
    )


def _ollama_spec(name: str, store: Path, manifest: Path, *, strict: bool) -> ModelSpec | None:
    """The spec behind one manifest; with ``strict`` a ModelError says what is wrong, else None."""
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        layers = doc.get("layers") if isinstance(doc, dict) else None
        layer = next(
            (x for x in layers or () if isinstance(x, dict) and x.get("mediaType") == MODEL_LAYER),
            None,
        )
    except (OSError, UnicodeDecodeError, ValueError) as e:
        if strict:
            raise ModelError(
                f"Cannot read Ollama's manifest {manifest} ({e}). "
                f"Run `ollama pull {name[len(OLLAMA) :]}` again."
            ) from e
        return None
    match = _DIGEST.match(str(layer.get("digest", ""))) if layer else None
    if match is None:
        if strict:
            raise ModelError(
                f"{name} has no local GGUF weights in Ollama's store (a cloud model, or a "
                "manifest pxprofile cannot read). Choose another model (`pxprofile model list`)."
            )
        return None
    blob = store / "blobs" / f"sha256-{match.group(1)}"
    if strict and not blob.is_file():
        raise ModelError(
            f"The weights of {name} ({blob}) are missing from Ollama's store. "
            f"Run `ollama pull {name[len(OLLAMA) :]}` again."
        )
    if strict and not is_gguf(blob):
        raise ModelError(f"{blob} ({name}) is not a GGUF file. pxprofile runs GGUF models.")
    size = layer.get("size")
    return ModelSpec(
        name=name,
        path=str(blob),
        size=size if isinstance(size, int) else None,
        note="Ollama's copy, used in place",
        source="ollama",
    )


def _ollama_all() -> list[ModelSpec]:
    out: dict[str, ModelSpec] = {}
    for store in ollama_dirs():
        root = store / "manifests"
        for manifest in sorted(p for p in _below(root, 4) if p.is_file()):
            parts = manifest.relative_to(root).parts
            name = _ollama_name(*parts)
            if name in out or not all(_PART.match(p) for p in parts):
                continue
            spec = _ollama_spec(name, store, manifest, strict=False)
            if spec is not None and Path(spec.path).is_file():
                out[name] = spec
    return list(out.values())


def _below(root: Path, depth: int) -> list[Path]:
    """What lies exactly ``depth`` levels below root, through folders (hidden names skipped;
    missing or unreadable folders hold nothing)."""
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            try:
                if d.is_dir():
                    nxt += [c for c in d.iterdir() if not c.name.startswith(".")]
            except OSError:
                continue
        level = nxt
    return level


# ---------------------------------------------------------------- LM Studio


def lmstudio_dirs() -> list[Path]:
    home = Path.home()
    dirs = []
    try:
        settings = json.loads((home / ".lmstudio" / "settings.json").read_text(encoding="utf-8"))
        folder = settings.get("downloadsFolder") if isinstance(settings, dict) else None
        if isinstance(folder, str) and folder:
            dirs.append(Path(folder).expanduser())
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    dirs += [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    seen, out = set(), []
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _model_files(repo_dir: Path) -> list[Path]:
    """The loadable GGUFs in one PUBLISHER/REPO folder (no projectors, first part of splits)."""
    try:
        files = sorted(p for p in repo_dir.iterdir() if p.suffix.lower() == ".gguf")
    except OSError:
        return []
    out = []
    for p in files:
        split = _SPLIT.search(p.name)
        if p.name.lower().startswith("mmproj") or (split and int(split.group(1)) != 1):
            continue
        if p.is_file():
            out.append(p)
    return out


def _lmstudio_spec(name: str, path: Path) -> ModelSpec:
    return ModelSpec(
        name=name,
        path=str(path),
        size=path.stat().st_size,
        note="LM Studio's copy, used in place",
        source="lmstudio",
    )


def _lmstudio_all() -> list[ModelSpec]:
    out: dict[str, ModelSpec] = {}
    for root in lmstudio_dirs():
        for repo_dir in sorted(p for p in _below(root, 2) if p.is_dir()):
            publisher, repo = repo_dir.relative_to(root).parts
            files = _model_files(repo_dir)
            for f in files:
                name = f"{LMSTUDIO}{publisher}/{repo}" + (f"/{f.name}" if len(files) > 1 else "")
                out.setdefault(name, _lmstudio_spec(name, f))
    return list(out.values())


def _lmstudio_find(name: str) -> ModelSpec:
    parts = name[len(LMSTUDIO) :].split("/")
    if len(parts) not in (2, 3) or not all(_PART.match(p) for p in parts):
        raise ModelError(
            f"{name!r} is not an LM Studio model name. Write it as `lmstudio:PUBLISHER/REPO` "
            "(see `pxprofile model list`)."
        )
    short = "/".join(parts[:2])
    for root in lmstudio_dirs():
        files = _model_files(root / parts[0] / parts[1])
        if len(parts) == 3:
            files = [f for f in files if f.name == parts[2]]
        if len(files) == 1:
            return _lmstudio_spec(name, files[0])
        if files:
            choices = ", ".join(f"{LMSTUDIO}{short}/{f.name}" for f in files)
            raise ModelError(f"{name} holds {len(files)} GGUF files. Name one: {choices}.")
    where = " or ".join(str(d) for d in lmstudio_dirs())
    raise ModelError(
        f"No LM Studio model {name[len(LMSTUDIO) :]} in {where}. "
        "Download it in LM Studio, or see `pxprofile model list` for the models found."
    )
