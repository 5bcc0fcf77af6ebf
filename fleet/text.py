"""Text a person types that the registry records and labels, exports and tables print: one line of printable
characters. A control character (NUL, ESC, a newline, DEL, C1 codes) or a Unicode line/paragraph separator is
refused where it comes in (provision --site/--location/--installer, `fleet import`), never recorded."""

from __future__ import annotations

import unicodedata

_REFUSED = ("Cc", "Zl", "Zp")


def check_line(text: str, what: str) -> str:
    """`text` if it holds no control character; else ValueError in one line naming `what` and the character."""
    for c in text:
        if unicodedata.category(c) in _REFUSED:
            raise ValueError(f"{what}: control character {c!r} in {text!r}: give plain text on one line")
    return text
