"""Splitting a posted body into detection documents."""

import json
from typing import Any

from exec_site.jsonvalues import UNSTORABLE_MESSAGE, find_unstorable

DEFAULT_MAX_DOCUMENTS = 10_000

# A line starting with one of these, after optional spaces, is a comment in NDJSON.
_COMMENT_PREFIXES = ("#", "//")

_OKTA_EVENT_HOOK = "com.okta.event_hook"


def _reject_constant(name: str) -> None:
    raise BodyError(f"{name} is not valid JSON; send numbers or null instead")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class BodyError(ValueError):
    """A body that is not JSON detections; `line` and `column` count from 1.

    `index` is the position of the rejected document when the error is about one
    document rather than about the JSON text.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.index = index


def parse_body(
    body: bytes, *, max_documents: int = DEFAULT_MAX_DOCUMENTS
) -> list[dict]:
    """Return the JSON objects in a posted body, in order.

    The body may be one JSON object, one JSON array of objects, or a stream of
    objects: NDJSON, or pretty-printed objects one after another. In a stream,
    blank lines and lines starting with `#` or `//` are skipped. An OData page
    (`{"value": [...]}`, as the Microsoft APIs return) and an Okta event hook
    request give their items, so an empty page gives no documents.

    Raise BodyError, a ValueError, for invalid JSON, with its line and column.
    Raise it too, with the item's index, for an item that is not an object or
    that contains a value PostgreSQL cannot store (see find_unstorable), and
    when there are more than `max_documents` documents.
    """
    if max_documents < 1:
        raise ValueError(f"max_documents must be at least 1, got {max_documents}")
    text = _decode(body)
    values = _read_values(text, max_documents)

    if len(values) == 1 and isinstance(values[0][0], list):
        items = list(values[0][0])
        positions = [values[0][1]] * len(items)
    else:
        items = [value for value, _ in values]
        positions = [position for _, position in values]

    documents = _expand_pages(items, positions)
    if len(documents) > max_documents:
        raise _too_many(max_documents)
    return documents


def _too_many(max_documents: int) -> BodyError:
    return BodyError(
        f"the body contains more than {max_documents} documents, the maximum per "
        "request; split it into smaller requests"
    )


def _decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BodyError(
            f"the body is not UTF-8: invalid byte at offset {error.start}; "
            "send JSON encoded as UTF-8"
        ) from None
    if not text.strip():
        raise BodyError("the body is empty; send a JSON object, array or NDJSON")
    return text


def _read_values(text: str, max_documents: int) -> list[tuple[Any, tuple[int, int]]]:
    """Decode every JSON value in `text`, with the line and column it starts at.

    Stop with an error once there are more values than `max_documents`, so that a
    huge stream is not decoded in full before it is rejected.
    """
    values: list[tuple[Any, tuple[int, int]]] = []
    position = 0
    line = 1
    line_start = 0

    while True:
        position, line, line_start = _skip_blanks_and_comments(
            text, position, line, line_start
        )
        if position >= len(text):
            return values

        start = (line, position - line_start + 1)
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise BodyError(
                f"invalid JSON at line {error.lineno}, column {error.colno}: "
                f"{error.msg}",
                line=error.lineno,
                column=error.colno,
            ) from None
        except RecursionError:
            raise BodyError(
                f"the JSON value at line {start[0]}, column {start[1]} is nested "
                "too deeply",
                line=start[0],
                column=start[1],
            ) from None

        values.append((value, start))
        if len(values) > max_documents:
            raise _too_many(max_documents)
        line += text.count("\n", position, end)
        last_newline = text.rfind("\n", position, end)
        if last_newline != -1:
            line_start = last_newline + 1
        position = end


def _skip_blanks_and_comments(
    text: str, position: int, line: int, line_start: int
) -> tuple[int, int, int]:
    while position < len(text):
        character = text[position]
        if character == "\n":
            position += 1
            line += 1
            line_start = position
        elif character.isspace():
            position += 1
        elif position == _first_visible(text, line_start) and text.startswith(
            _COMMENT_PREFIXES, position
        ):
            newline = text.find("\n", position)
            position = len(text) if newline == -1 else newline
        else:
            break
    return position, line, line_start


def _first_visible(text: str, line_start: int) -> int:
    position = line_start
    while position < len(text) and text[position] in " \t\r":
        position += 1
    return position


def _expand_pages(items: list[Any], positions: list[tuple[int, int]]) -> list[dict]:
    documents: list[dict] = []
    for index, (item, (line, column)) in enumerate(zip(items, positions, strict=True)):
        if not isinstance(item, dict):
            raise BodyError(
                f"item {index} (line {line}, column {column}) is a "
                f"{_json_type(item)}; each detection must be a JSON object",
                line=line,
                column=column,
                index=index,
            )
        bad_path = find_unstorable(item)
        if bad_path is not None:
            raise BodyError(
                f"item {index} (line {line}, column {column}) field {bad_path!r} "
                + UNSTORABLE_MESSAGE,
                line=line,
                column=column,
                index=index,
            )
        page = _envelope_items(item)
        if page is None:
            documents.append(item)
            continue
        for position, entry in enumerate(page):
            if not isinstance(entry, dict):
                raise BodyError(
                    f"item {index} (line {line}) entry {position} is a "
                    f"{_json_type(entry)}; each detection must be a JSON object",
                    line=line,
                    column=column,
                    index=index,
                )
            documents.append(entry)
    return documents


def _envelope_items(item: dict) -> list | None:
    """Return the items of an envelope, or None when `item` is not one.

    Two envelopes are known: a Microsoft OData page, `{"value": [...]}` with only
    `@odata.*` keys beside it, and an Okta event hook request, whose events are
    in `data.events`.
    """
    if isinstance(item.get("value"), list) and all(
        key == "value" or key.startswith("@odata.") for key in item
    ):
        return item["value"]

    data = item.get("data")
    if item.get("eventType") == _OKTA_EVENT_HOOK and isinstance(data, dict):
        events = data.get("events")
        if isinstance(events, list):
            return events
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "JSON array"
    if isinstance(value, str):
        return "JSON string"
    if isinstance(value, bool):
        return "JSON boolean"
    if value is None:
        return "JSON null"
    return "JSON number"
