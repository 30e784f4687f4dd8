"""A request the library refuses, said in the library's terms; the CLI says it in its own.

The message names the arguments it is about in backticks, as the library's functions call them (`shots`,
`speaker`, `lr`, `out_path`). ``str(error)`` gives them plainly ("shots 9 but ... has 4 clip(s)"); a front end whose
names differ gives them its way with `Phrased.phrased` (`coqui_meta.cli.voices.in_flags`: "--shots 9 but ...").

Example::

    raise RequestError(f"`speaker` {speaker!r} exists already in {config_path}; choose a new name")
"""

from __future__ import annotations

import re
from typing import Callable

_ARGUMENT = re.compile(r"`([a-z_]+)`")


class Phrased(Exception):
    """An error whose message names arguments in backticks."""

    def __init__(self, message: str) -> None:
        self.template = message
        super().__init__(self.phrased(lambda name: name))

    def phrased(self, name_of: Callable[[str], str]) -> str:
        """The message with each argument named by ``name_of``."""
        return _ARGUMENT.sub(lambda match: name_of(match.group(1)), self.template)


class RequestError(Phrased, ValueError):
    """A bad argument, or one that does not fit the model or the data; nothing has been written."""


class FolderExistsError(RequestError, FileExistsError):
    """An output folder that exists already: it is never overwritten."""
