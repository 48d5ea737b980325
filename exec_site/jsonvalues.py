"""JSON values that PostgreSQL cannot store, found before they reach it.

jsonb rejects NUL characters and lone surrogates, and JSON has no infinity,
so a detection or an agent's task result with one of them would fail with a
database error instead of a message that names the field.
"""

import math
import re
from typing import Any

# PostgreSQL's text and jsonb types cannot store NUL, and UTF-8 cannot encode a
# lone surrogate, which JSON allows as an escape such as "\ud800".
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

UNSTORABLE_MESSAGE = (
    "contains a NUL character, a lone UTF-16 surrogate or a number too large for "
    "a float, which cannot be stored; remove it or send valid text and numbers"
)


def find_unstorable(document: Any) -> str | None:
    """Return the dotted path of the first key or value that cannot be stored.

    That is a string containing NUL or a lone surrogate, or a float that is not
    finite: JSON parsers read 1e400 as infinity, which JSON cannot represent.
    List items appear as `[i]`, and the whole document as "".
    """
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return path
        elif isinstance(value, float):
            if not math.isfinite(value):
                return path
        elif isinstance(value, dict):
            for key, child in value.items():
                child_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    return child_path
                pending.append((child_path, child))
        elif isinstance(value, list):
            pending.extend(
                (f"{path}[{index}]", child) for index, child in enumerate(value)
            )
    return None


def nesting_exceeds(document: Any, max_depth: int) -> bool:
    """Return whether lists and objects in `document` nest deeper than `max_depth`.

    A scalar is at depth 0 and a flat object at depth 1. The walk keeps its
    own stack, so it is safe for any depth that the JSON parser accepted.
    """
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth + 1 > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
