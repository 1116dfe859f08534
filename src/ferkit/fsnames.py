"""File names that are not valid UTF-8, written losslessly in every text output.

On POSIX a file name is bytes. Python hands the bytes that are not UTF-8 over as lone surrogates
(U+DC80-U+DCFF, its "surrogateescape" convention), which no UTF-8 text file can hold. ferkit writes each
such character as the six characters ``\\udcXX``: in JSON and JSONL that is JSON's own escape, so
``json.loads`` gives back the very same string and ``os.fsencode`` the original bytes (which is how a
resumed run recognises the file again); in CSV, the table and the other text files it is the same six
characters. Files ferkit writes under such a name (annotated images, crops) get the original bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as ``\\uXXXX`` (unchanged when it has none)."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(obj: Any, indent: int | None = None) -> str:
    """``obj`` as JSON text (UTF-8 characters as they are) that any UTF-8 file or stream can hold."""
    return escape_surrogates(json.dumps(obj, ensure_ascii=False, indent=indent))
