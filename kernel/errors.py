"""The one base class of errors a user can fix from the message alone.

    raise DataError(path, "empty text", column="prompt", row=12)   # a UserError
    with writing(path): path.write_text(text)   # a full disk or a read-only place -> WriteError
    ...
    except UserError as err:      # the CLI: the message, no traceback, exit code 2

Bad input files, recipe values out of range, a missing optional install, a damaged artifact: each error
class that a user meets derives from `UserError` (and from the builtin it has always been, so existing
`except ValueError` code still catches it). Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """Something the user can fix: the message names the file, setting or install and what was expected."""


class HeadUnavailable(UserError, RuntimeError):
    """A head whose optional packages are not installed; the message gives the install command."""


class WriteError(UserError, OSError):
    """A file that cannot be written for a reason outside the code: a full disk, a read-only place."""


_FULL = "free some space, then run the same command again (finished work is kept)"
_PLACE = "choose a place you can write to (--runs, --output) or change its permissions"
# The OS errors a user fixes, and how; any other OSError is a bug and keeps its traceback.
_FIXABLE = {errno.ENOSPC: ("no space left on the device", _FULL), errno.EDQUOT: ("disk quota exceeded", _FULL),
            errno.EROFS: ("a read-only file system", _PLACE), errno.EACCES: ("permission denied", _PLACE),
            errno.EPERM: ("operation not permitted", _PLACE)}


def write_error(path: Path | str, err: OSError) -> WriteError | None:
    """The WriteError for an OS error met writing `path`, or None when it is not one a user can fix."""
    if isinstance(err, UserError) or err.errno not in _FIXABLE:
        return None
    problem, advice = _FIXABLE[err.errno]
    return WriteError(f"cannot write {path}: {problem}; {advice}")


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn a full disk or a read-only place met while writing `path` into a WriteError with what to do."""
    try:
        yield
    except OSError as err:
        mapped = write_error(path, err)
        if mapped is None:
            raise
        raise mapped from None
