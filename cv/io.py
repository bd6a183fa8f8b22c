"""Atomic file writes: a reader (or a run killed half-way) sees the old file or the new one, never a part.

    atomic_write(path, lambda tmp: frame.to_parquet(tmp))
    atomic_write_text(path, json.dumps(scores))

The temporary file beside the target is named `.<name>.<pid>-<random>.tmp`: a run killed while writing
leaves it behind, and the next write of the same file removes it once that process is gone. Files get
the mode the umask gives, like any other file the user writes. A full disk or a read-only place ends in
a WriteError that says what to do, and leaves the old file as it was.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from submit.kernel.errors import WriteError, writing

_TEMP = re.compile(r"\.(?P<pid>\d+)-[0-9a-f]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Temporary files of earlier writes of `path` whose writer is gone (killed mid-write); returns them."""
    removed = []
    for name in glob.glob(glob.escape(str(path.parent / f".{path.name}.")) + "*.tmp"):
        match = _TEMP.search(name)
        if match is None or not _alive(int(match["pid"])):  # no pid: written by an older version
            Path(name).unlink(missing_ok=True)
            removed.append(Path(name))
    return removed


def _new_temp(path: Path) -> Path:
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # 0o666 less the umask
    return tmp


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call write(tmp) on a temporary file beside path, then rename it over path."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        tmp = _new_temp(path)
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path


def check_can_write(path: Path) -> None:
    """Refuse, before any work, a path that cannot become a file: a folder, a file in the way of its folder,
    a place that cannot be written to (found by writing a temporary file there, then removing it)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{path} is a folder; expected the path of a file, e.g. {path / 'submission.csv'}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the folders that will be made, up to one that is
        folder = folder.parent
    if not folder.is_dir():
        raise WriteError(f"cannot write {path}: {folder} is a file, not a folder")
    with writing(path):
        _new_temp(folder / path.name).unlink()


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
