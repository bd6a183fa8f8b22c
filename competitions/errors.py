"""The one base class of errors a user can fix from the message alone.

    raise DataError(path, "empty text", column="prompt", row=12)   # a UserError
    ...
    except UserError as err:      # the CLI: the message, no traceback, exit code 2

Bad input files, recipe values out of range, a missing optional install, a damaged artifact: each error
class that a user meets derives from `UserError` (and from the builtin it has always been, so existing
`except ValueError` code still catches it). Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message names the file, setting or install and what was expected."""
