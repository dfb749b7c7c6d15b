"""Which API key goes to which server.

CONTRACT:
    api_key_for(base_url, api_key=None) -> (key or None, source)
        ``--api-key``, else ``$PXPROFILE_API_KEY``, else ``$OPENAI_API_KEY`` but only when the
        server is OpenAI's own API (https://api.openai.com): a key meant for OpenAI never goes
        to a third-party ``--base-url``. ``source`` names where the key came from (for
        ``--verbose``), never the key itself.
"""

from __future__ import annotations

import os


def api_key_for(base_url: str, api_key: str | None = None) -> tuple[str | None, str]:
    """(key, where it came from) for a server: --api-key, else PXPROFILE_API_KEY, else
    OPENAI_API_KEY but only when the server is OpenAI's own API (https://api.openai.com), so a
    key meant for OpenAI never goes to a third-party --base-url."""
    from urllib.parse import urlsplit

    if api_key:
        return api_key, "--api-key"
    if os.environ.get("PXPROFILE_API_KEY"):
        return os.environ["PXPROFILE_API_KEY"], "PXPROFILE_API_KEY"
    url = urlsplit(base_url)
    openai = url.scheme == "https" and (url.hostname or "").lower() == "api.openai.com"
    if os.environ.get("OPENAI_API_KEY"):
        if openai:
            return os.environ["OPENAI_API_KEY"], "OPENAI_API_KEY (the server is OpenAI's API)"
        return None, (
            "none (OPENAI_API_KEY is set but is sent only to https://api.openai.com; "
            "pass --api-key or set PXPROFILE_API_KEY for this server)"
        )
    return None, "none"
