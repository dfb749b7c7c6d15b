"""fileio.py: atomic writes with compare-and-swap, symlinks kept, stale locks swept."""

import hashlib
import os
import subprocess
import sys

import pytest

from pxprofile import fileio
from pxprofile.errors import ConflictError, ProfileError


def test_atomic_write_and_compare_and_swap(tmp_path):
    f = tmp_path / "p.md"
    sha = fileio.atomic_write(f, b"one\n", expect_sha256=None)
    assert f.read_bytes() == b"one\n" and sha == hashlib.sha256(b"one\n").hexdigest()
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ConflictError):
        fileio.atomic_write(f, b"two\n", expect_sha256="0" * 64)
    assert f.read_bytes() == b"one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.md"]  # no temp left behind


def test_atomic_write_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "dotfiles" / "profile.md"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "profile.md"
    link.symlink_to(real)
    fileio.atomic_write(link, b"new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


def test_stale_lock_and_temp_files_are_swept_with_a_notice(tmp_path, capsys):
    f = tmp_path / "profile.md"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(dead.stdout)
    (tmp_path / "profile.md.lock").write_text(f"{pid}\n")
    (tmp_path / f".profile.md.{pid}.abcd1234.tmp").write_text("torn")
    with fileio.file_lock(f) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
        assert not (tmp_path / f".profile.md.{pid}.abcd1234.tmp").exists()
    assert not lock.exists()
    err = capsys.readouterr().err
    assert f"removed a stale lock left by process {pid}" in err
    assert "removed 1 temporary file(s) left by an interrupted write" in err


def test_live_lock_times_out_with_a_clear_error(tmp_path):
    f = tmp_path / "profile.md"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "profile.md.lock").write_text(f"{holder.pid}\n")
        with pytest.raises(
            ProfileError, match=f"locked by another pxprofile \\(process {holder.pid}\\)"
        ):
            with fileio.file_lock(f, timeout=0.2):
                pass
        assert (tmp_path / "profile.md.lock").exists()  # a live lock is never stolen
    finally:
        holder.kill()
        holder.wait()
