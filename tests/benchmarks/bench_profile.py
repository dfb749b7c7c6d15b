"""Profile merge timings (run on demand: python tests/benchmarks/bench_profile.py).

Measures, on a fresh PXPROFILE_HOME: apply_changes() of 5 additions to a 100-line profile,
current_lines() after a user edit that rewords/deletes/moves 10 lines, and the sync of a
pasted-in 3,000-line file (the case rewording detection is capped for).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time


def main() -> None:
    os.environ["PXPROFILE_HOME"] = tempfile.mkdtemp(prefix="pxbench-")
    from pxprofile import document
    from pxprofile import profile as P
    from pxprofile.profile import Change, apply_changes, current_lines
    from pxprofile.store import open_db

    db = open_db()
    rnd = random.Random(5)

    def text() -> str:
        return "Likes " + " ".join(f"{rnd.getrandbits(24):06x}" for _ in range(6))

    sections = list(document.DEFAULT_SECTIONS)
    for _ in range(14):
        apply_changes(db, [Change("add", text(), rnd.choice(sections)) for _ in range(5)])
    timings = []
    for _ in range(6):
        t = time.perf_counter()
        result = apply_changes(db, [Change("add", text(), rnd.choice(sections)) for _ in range(5)])
        timings.append(time.perf_counter() - t)
        assert len(result.applied) == 5 and result.version is not None, result.rejected
    n = len(current_lines(db))
    ms = statistics.median(timings) * 1000
    print(f"apply_changes, 5 additions (up to a {n}-line profile): median {ms:.1f} ms")

    timings = []
    path = P.profile_file()
    for _ in range(10):
        doc = document.parse(path.read_text())
        bullets = [b for _s, b in doc.bullets()]
        for b in rnd.sample(bullets, 4):
            b.text = b.text + " really"
        for b in rnd.sample(bullets, 3):
            doc.remove(b)
            if rnd.random() < 0.5:
                doc.add(rnd.choice(sections), b.text)
        path.write_text(document.render(doc))
        t = time.perf_counter()
        current_lines(db)
        timings.append(time.perf_counter() - t)
    ms = statistics.median(timings) * 1000
    print(f"current_lines after a 10-line user edit: median {ms:.1f} ms")

    path.write_text("# Pasted\n\n## Notes\n\n" + "".join(f"- {text()}\n" for _ in range(3000)))
    t = time.perf_counter()
    lines = current_lines(db)
    ms = (time.perf_counter() - t) * 1000
    print(f"current_lines after pasting a {len(lines)}-line file: {ms:.0f} ms")


if __name__ == "__main__":
    main()
