"""First run: offer once to download the default model when it is not on this machine yet.

    download_offer(model) -> ModelSpec | None   the model to offer, or None (nothing to ask)
    decline()                     remember a "no" (config.toml [model] offer_download = false)

The question itself (a terminal, [Y/n], the progress bar) is the CLI's: pxprofile/cli/firstrun.py.
Only a Hugging Face model that is not downloaded is offered, never when HF_HUB_OFFLINE is set or
after the user said no once; `pxprofile model pull NAME` stays the way to get it later.
"""

from __future__ import annotations

import os

from .config import load_config, save_config
from .errors import ModelError
from .models import ModelSpec, get_model, local_path, model_name

OFFLINE_VALUES = {"1", "true", "yes", "on"}


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES


def declined() -> bool:
    section = load_config().get("model", {})
    return isinstance(section, dict) and section.get("offer_download") is False


def download_offer(model: str | None) -> ModelSpec | None:
    """The model this update would run (``model``, else the configured or registry default) when
    it has to be downloaded from Hugging Face first and asking is allowed; else None."""
    name = model_name(model)
    if offline() or declined():
        return None
    try:
        spec = get_model(name)
    except ModelError:
        return None  # an unknown name: the update reports it
    if spec.kind != "hf" or local_path(spec) is not None:
        return None
    return spec


def decline() -> None:
    """Do not ask again (`pxprofile model pull NAME` still downloads)."""
    config = load_config()
    config.setdefault("model", {})["offer_download"] = False
    save_config(config)
