"""Text from the evidence made safe for a terminal, and the test for text a shell can quote.

Names in the evidence are chosen by whoever wrote it: a directory named ``x<newline>D `` would
forge a ``diff`` line, ``ESC ]`` retitles a terminal, ``ESC [`` moves its cursor, a CR or a
backspace hides what came before. :func:`display` is the one function every table, line,
finding and error printed for people goes through (the command line's rendering and the
reclaim plan's comments); JSON output keeps exact values with JSON escapes instead
(:mod:`storagekit.jsontext`). Sizes for people are written as Docker writes them
(:func:`human_size`), in tables and progress bars alike.
"""

from __future__ import annotations

import re


def display(text: str) -> str:
    r"""Text from the evidence made safe for a terminal: the one escaping function.

    Every table cell, line and finding printed for people goes through it (the JSON keeps the
    exact value, with JSON escapes). Escaped: control characters — C0 as ``\n``, ``\r``,
    ``\t`` or ``\x1b``, DEL as ``\x7f``, C1 (8-bit CSI, OSC…) as ``\u009b`` —, bytes that are
    not UTF-8 as ``\xff`` (carried as surrogate escapes), other lone surrogates as ``\ud800``,
    and the line separators and bidirectional controls that reorder or break a line on screen.
    So a name can neither start a line of its own (a forged ``D /etc/shadow`` in ``diff``) nor
    move the cursor, retitle the window or hide what follows. Idempotent: backslashes are kept.
    """
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)


_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def shell_safe(text: str) -> bool:
    """Whether ``text`` can stand, quoted, in one line of a shell script a person reviews.

    Printable characters only: no control character, line separator, bidirectional control
    or lone surrogate (a byte that is not UTF-8), which quoting would carry into the script raw.
    """
    return bool(text) and text.isprintable()


def human_size(value: float | None, precision: int = 4, missing: str = "-") -> str:
    """Docker's ``go-units`` HumanSizeWithPrecision: decimal units, significant digits.

    ``precision`` is ``HumanSize``'s 4 by default (``1.982MB``); ``missing`` shows an unknown
    value.
    """
    if value is None:
        return missing
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    size = float(value)
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.{precision}g}{units[i]}"
