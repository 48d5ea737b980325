import pytest

from exec_site.jsonvalues import find_unstorable, nesting_exceeds


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        (None, 0),
        ("text", 0),
        ({}, 1),
        ([], 1),
        ({"a": 1}, 1),
        ({"a": [1, 2]}, 2),
        ({"a": {"b": [{"c": 1}]}}, 4),
        ([[[[[]]]]], 5),
    ],
)
def test_nesting_exceeds_at_exact_depth(document, depth):
    assert nesting_exceeds(document, depth) is False
    if depth:
        assert nesting_exceeds(document, depth - 1) is True


def test_nesting_exceeds_deeper_than_recursion_limit():
    document: list = []
    for _ in range(5000):
        document = [document]

    assert nesting_exceeds(document, 32) is True
    assert nesting_exceeds(document, 5001) is False


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"a": "x\x00"}, "a"),
        ({"a\x00": 1}, "a\x00"),
        ({"a": ["ok", "\ud800"]}, "a[1]"),
        ({"a": {"b": float("inf")}}, "a.b"),
        ({"a": float("nan")}, "a"),
        ({"a": ["ok", 1.5, {"b": "😀"}]}, None),
    ],
)
def test_find_unstorable_paths(document, path):
    assert find_unstorable(document) == path
