"""atheris fuzz target for the importers (run on demand; not collected by pytest).

    pip install -e '.[fuzz]'
    python tests/fuzz/fuzz_importers.py -max_total_time=60 -timeout=2 -rss_limit_mb=1024 \
        tests/fuzz/corpus

Each input is fed to format detection and the streaming importers (and to redact() and the
profile parser). The only exceptions allowed to escape are PxprofileError subclasses (the
documented FormatError, TooLargeError, InputError); anything else is a crash. The seed corpus
is the export fixtures in tests/fixtures (copied into the corpus directory on first run).
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from pxprofile import document
    from pxprofile.errors import PxprofileError
    from pxprofile.importers.common import Limits
    from pxprofile.importers.detect import open_input
    from pxprofile.redact import redact

LIMITS = Limits(
    max_file_bytes=1024**2,
    max_element_chars=512 * 1024,
    max_nodes=2_000,
    max_zip_members=20,
    max_zip_total_bytes=2 * 1024**2,
    max_zip_ratio=50,
)
FORMATS = (None, "chatgpt", "claude", "gemini", "openai", "sharegpt", "openwebui", "text")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    fmt = FORMATS[fdp.ConsumeIntInRange(0, len(FORMATS) - 1)]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        opened = open_input(None, io.BytesIO(body), name="fuzz", format=fmt, limits=LIMITS)
        for rec in opened.records:
            for m in getattr(rec, "messages", ()) or ():
                if m.text:
                    redact(m.text[:2000], pii=("email", "phone", "card"))
    except PxprofileError:
        pass
    text = body.decode("utf-8", "replace")
    doc = document.parse(text)
    if document.render(doc) != text:
        raise AssertionError("render(parse(text)) != text")
    once = redact(text[:4000], pii=("email", "phone", "card"))
    if redact(once, pii=("email", "phone", "card")) != once:
        raise AssertionError("redact is not idempotent")


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        target = Path(corpus[0])
        if not target.exists() or not any(target.iterdir()):
            target.mkdir(parents=True, exist_ok=True)
            for f in (Path(__file__).parent.parent / "fixtures").rglob("*.json"):
                shutil.copy(f, target / f.name)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
