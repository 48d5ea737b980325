"""Tests for parse_body: the body forms sources post, and how bad bodies fail."""

import json

import pytest

from playbooks.normalizers import DEFAULT_MAX_DOCUMENTS, BodyError, parse_body


def test_parse_body_single_object() -> None:
    assert parse_body(b'{"title": "one"}') == [{"title": "one"}]


def test_parse_body_array_of_objects() -> None:
    documents = parse_body(b'[{"n": 1}, {"n": 2}]')

    assert documents == [{"n": 1}, {"n": 2}]


def test_parse_body_empty_array() -> None:
    assert parse_body(b"[]") == []


def test_parse_body_ndjson_with_blank_and_comment_lines() -> None:
    body = b'# exported alerts\n{"n": 1}\n\n   \n// {"n": "skipped"}\n{"n": 2}\r\n'

    assert parse_body(body) == [{"n": 1}, {"n": 2}]


def test_parse_body_concatenated_pretty_objects() -> None:
    body = b'{\n  "n": 1\n}\n{\n  "n": 2\n}{"n": 3}'

    assert parse_body(body) == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_parse_body_byte_order_mark() -> None:
    assert parse_body(b'\xef\xbb\xbf{"n": 1}') == [{"n": 1}]


def test_parse_body_keeps_unicode_and_big_integers() -> None:
    body = json.dumps(
        {"command_line": "Já conferiu as atualizações?", "pid": 377077835340488700},
        ensure_ascii=False,
    ).encode()

    [document] = parse_body(body)

    assert document["command_line"] == "Já conferiu as atualizações?"
    assert document["pid"] == 377077835340488700


def test_parse_body_unwraps_odata_page() -> None:
    body = (
        b'{"@odata.context": "x", "value": [{"id": "a"}, {"id": "b"}]}\n{"value": []}'
    )

    assert parse_body(body) == [{"id": "a"}, {"id": "b"}]


def test_parse_body_unwraps_okta_event_hook() -> None:
    body = json.dumps(
        {
            "eventType": "com.okta.event_hook",
            "eventTime": "2026-03-02T10:15:01.000Z",
            "data": {"events": [{"uuid": "a"}, {"uuid": "b"}]},
        }
    ).encode()

    assert parse_body(body) == [{"uuid": "a"}, {"uuid": "b"}]


def test_parse_body_value_key_not_page() -> None:
    body = b'{"type": "doc", "value": [1]}'

    assert parse_body(body) == [{"type": "doc", "value": [1]}]


def test_parse_body_invalid_line() -> None:
    body = b'{"n": 1}\n{"n": 2}\n{"n": 3,}\n'

    with pytest.raises(BodyError) as caught:
        parse_body(body)

    assert caught.value.line == 3
    assert caught.value.column == 9
    assert "line 3, column 9" in str(caught.value)


def test_parse_body_trailing_comment_is_invalid() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b'{"n": 1} # not a comment line\n')

    assert caught.value.line == 1
    assert caught.value.column == 10


def test_parse_body_truncated_json_is_invalid() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b'[{"n": 1},\n {"n": ')

    assert caught.value.line == 2
    assert "invalid JSON" in str(caught.value)


def test_parse_body_non_object_item() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b'[{"n": 1}, "text", {"n": 3}]')

    assert caught.value.index == 1
    assert "item 1" in str(caught.value)
    assert "JSON string" in str(caught.value)


def test_parse_body_non_object_line() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b'{"n": 1}\n\n[1, 2]\n')

    assert caught.value.index == 1
    assert caught.value.line == 3
    assert "JSON array" in str(caught.value)


def test_parse_body_scalar_body_rejected() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b"42")

    assert caught.value.index == 0
    assert "JSON number" in str(caught.value)


def test_parse_body_non_object_in_odata_page_rejected() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b'{"value": [{"id": "a"}, null]}')

    assert "entry 1" in str(caught.value)
    assert "JSON null" in str(caught.value)


@pytest.mark.parametrize("body", [b"", b"  \n\n"])
def test_parse_body_empty_body_rejected(body: bytes) -> None:
    with pytest.raises(BodyError, match="empty"):
        parse_body(body)


def test_parse_body_only_comments() -> None:
    assert parse_body(b"# nothing to report\n// today\n") == []


def test_parse_body_invalid_utf8_names_offset() -> None:
    with pytest.raises(BodyError, match="offset 7"):
        parse_body(b'{"n": "\xff"}')


def test_parse_body_nan_rejected() -> None:
    with pytest.raises(BodyError, match="NaN is not valid JSON"):
        parse_body(b'{"score": NaN}')


def test_parse_body_deep_nesting_rejected() -> None:
    body = b'{"n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    with pytest.raises(BodyError, match="nested too deeply"):
        parse_body(body)


def test_parse_body_default_limit() -> None:
    at_limit = b"\n".join([b"{}"] * DEFAULT_MAX_DOCUMENTS)
    over_limit = at_limit + b"\n{}"

    assert len(parse_body(at_limit)) == DEFAULT_MAX_DOCUMENTS
    with pytest.raises(BodyError, match="more than 10000 documents"):
        parse_body(over_limit)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"n": 1}, {"n": 2}, {"n": 3}]',
        b'{"n": 1}\n{"n": 2}\n{"n": 3}',
        b'{"value": [{"n": 1}, {"n": 2}, {"n": 3}]}',
        b'{"value": [{"n": 1}]}\n{"value": [{"n": 2}, {"n": 3}]}',
    ],
)
def test_parse_body_configured_limit(body: bytes) -> None:
    assert len(parse_body(body, max_documents=3)) == 3
    with pytest.raises(BodyError, match="more than 2 documents"):
        parse_body(body, max_documents=2)


def test_parse_body_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_body(b"{")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"a": {"b": ["x", "y\\u0000"]}}', "a.b[1]"),
        (b'{"t": "\\ud800 lone surrogate"}', "t"),
        (b'{"k\\u0000": 1}', "k\x00"),
        (b'{"score": [1, 1e400]}', "score[1]"),
    ],
)
def test_parse_body_unstorable_text_rejected(body: bytes, path: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(b"{}\n" + body)

    assert caught.value.index == 1
    assert caught.value.line == 2
    assert repr(path) in str(caught.value)
    assert "cannot be stored" in str(caught.value)


def test_parse_body_surrogate_pair_kept() -> None:
    assert parse_body(b'{"t": "\\ud83d\\ude00"}') == [{"t": "\U0001f600"}]


def test_parse_body_invalid_limit() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        parse_body(b"{}", max_documents=0)
