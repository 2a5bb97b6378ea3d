"""Option parsing the way an operator expects it: a wrong value is one line naming the option, never a traceback.

invoke casts typed options (``--workers 4``) with the type itself and lets the ``ValueError`` of a bad value
(``--workers x``) escape as a traceback. ``install`` wraps that cast so the same mistake becomes invoke's own
``ParseError``, which its command line prints as one message with exit status 1.
"""

from __future__ import annotations

from typing import Any

from invoke.exceptions import ParseError
from invoke.parser.argument import Argument

_KIND_WORDS = {int: "a whole number", float: "a number"}


def install() -> None:
    if getattr(Argument.set_value, "_pm_clean_errors", False):
        return
    original = Argument.set_value

    def set_value(self: Argument, value: Any, cast: bool = True) -> None:
        try:
            original(self, value, cast)
        except (TypeError, ValueError):
            flag = "--" + str(self.name).replace("_", "-")
            kind = _KIND_WORDS.get(self.kind, f"of type {getattr(self.kind, '__name__', self.kind)}")
            raise ParseError(f"{flag}: {value!r} is not {kind}") from None

    set_value._pm_clean_errors = True  # type: ignore[attr-defined]
    Argument.set_value = set_value  # type: ignore[method-assign]
