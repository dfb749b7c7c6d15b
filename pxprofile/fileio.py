"""Safe writes for files the user also edits: atomic replace, a git-style lock, stale-file sweep.

    atomic_write(path, data, *, expect_sha256=None)
        Temp file in the same directory, fsync, compare-and-swap check, os.replace, directory
        fsync. Readers (and a crash at any point) see either the old bytes or the new bytes.
    file_lock(path, timeout=...)
        ``<path>.lock`` created with O_CREAT|O_EXCL holding our pid, so two pxprofile processes
        cannot interleave read-merge-write. A lock whose pid is dead is removed (with a notice);
        stale temp files from a crashed writer are swept while the lock is held.

See ../shared/research/reliability.md section 3.3-3.4. A process kill cannot tear the file; a
power loss is covered as far as fsync and the directory fsync reach on the filesystem at hand.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import ConflictError, ProfileError

LOCK_TIMEOUT_S = 30.0
_NT_STALE_LOCK_S = 600.0  # Windows: no cheap liveness check, so a lock this old is stale
_EMPTY_LOCK_GRACE_S = 2.0  # a live holder writes its pid microseconds after creating the lock


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str | None:
    """sha256 of the file's bytes, or None when it does not exist."""
    try:
        return sha256(Path(path).read_bytes())
    except FileNotFoundError:
        return None


def target(path: str | Path) -> Path:
    """The real file behind ``path`` (a profile kept in a dotfiles repo may be a symlink)."""
    return Path(os.path.realpath(path))


def notice(message: str) -> None:
    """A one-line message for the user on stderr (core modules have no console of their own)."""
    try:
        print(f"pxprofile: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def lock_path(path: str | Path) -> Path:
    p = target(path)
    return p.with_name(p.name + ".lock")


def _temp_prefix(p: Path) -> str:
    return f".{p.name}."


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there; trust the lock's age instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(lock: Path) -> int | None:
    try:
        content = lock.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    try:
        return int(content.split()[0]) if content else 0
    except ValueError:
        return 0


def _try_remove_stale_lock(lock: Path) -> bool:
    """Remove ``lock`` if the process that holds it is gone. True when it was removed."""
    pid = _read_pid(lock)
    if pid is None:
        return True  # gone already
    if pid == 0:
        # created but not yet written (or garbage): stale only once it is old
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return True
        if age < _EMPTY_LOCK_GRACE_S:
            return False
    elif _pid_alive(pid):
        if os.name != "nt":
            return False
        try:
            if time.time() - lock.stat().st_mtime < _NT_STALE_LOCK_S:
                return False
        except FileNotFoundError:
            return True
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()
        who = f"process {pid}" if pid else "an unknown process"
        notice(f"removed a stale lock left by {who}, which is no longer running: {lock}")
    return True


def sweep_temp_files(path: str | Path) -> list[Path]:
    """Remove temp files a crashed writer left next to ``path``. Call only holding the lock."""
    p = target(path)
    removed = []
    prefix = _temp_prefix(p)
    try:
        entries = list(p.parent.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix) : -len(".tmp")].split(".")
        try:
            pid = int(parts[0])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    if removed:
        notice(f"removed {len(removed)} temporary file(s) left by an interrupted write next to {p}")
    return removed


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold ``<path>.lock`` (O_CREAT|O_EXCL, our pid inside) for the duration of the block."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            if _try_remove_stale_lock(lock):
                continue
            if time.monotonic() > deadline:
                pid = _read_pid(lock)
                raise ProfileError(
                    f"{target(path).name} is locked by another pxprofile (process {pid}). "
                    f"Wait for it to finish; if none is running, delete {lock}."
                ) from None
            time.sleep(0.05)
        except OSError as e:
            raise ProfileError(
                f"cannot create the lock file {lock}: {e.strerror}. Check the directory's "
                "permissions."
            ) from e
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    try:
        sweep_temp_files(path)
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _read_pid(lock) == os.getpid():
                lock.unlink()


def _full_fsync(fd: int) -> None:
    os.fsync(fd)
    if sys.platform == "darwin":  # fsync there may stop at the drive cache (reliability.md 3.1)
        import fcntl

        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported (Windows); the rename itself is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes, *, expect_sha256: str | None | bool = False) -> str:
    """Replace ``path`` with ``data`` atomically; returns the sha256 of the bytes written.

    ``expect_sha256``: compare-and-swap. The file's current hash (None: must not exist) is checked
    just before the rename; if it differs, nothing is replaced and ConflictError is raised.
    False (the default) skips the check.
    """
    p = target(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = p.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600  # a preference profile is private
    tmp = p.with_name(f"{_temp_prefix(p)}{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            _full_fsync(fd)
        finally:
            os.close(fd)
        if expect_sha256 is not False and file_sha256(p) != expect_sha256:
            raise ConflictError(
                f"{p.name} changed while pxprofile was writing it; it was left as it is. "
                "Run the command again."
            )
        os.replace(tmp, p)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        what = (
            "the disk is full"
            if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
            else e.strerror
        )
        raise ProfileError(
            f"cannot write {p}: {what}; the file was left as it was. Free space or fix "
            "permissions and retry."
        ) from e
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(p.parent)
    return sha256(data)


# "All processes using a database must be on the same host computer; WAL does not work over a
# network filesystem" (sqlite.org/wal.html).
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
     "fuse.sshfs", "sshfs", "fuse.rclone", "davfs", "fuse.davfs2", "lustre", "gpfs"}
)  # fmt: skip


def filesystem_type(directory: Path) -> str | None:
    """The type of the filesystem holding ``directory`` (Linux: /proc/self/mountinfo), or None."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mountinfo = f.read()
    except OSError:
        return None
    return mount_type(mountinfo, os.path.realpath(directory))


def mount_type(mountinfo: str, target: str) -> str | None:
    """The filesystem type of the longest mount point in ``mountinfo`` that contains target."""
    best, best_type = "", None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, right.split()[0]
    return best_type
