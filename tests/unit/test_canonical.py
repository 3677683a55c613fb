"""Canonical JSON: a float anywhere in a stored document is refused, everything else is
written sorted and compact (the hash chains depend on both)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import canonical
from gateway.store.errors import InvalidValueError

exact = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


class Fen(float):
    """A float subclass is still a float."""


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (1.5, "value"),
        ({"a": 1.0}, "a"),
        ({"a": [1, {"b": 2.0}]}, "a[1].b"),
        ([1, 2.0], "[1]"),
        ({"a": {"b": (1, 2.5)}}, "a.b[1]"),
        ({"x": Fen(1)}, "x"),
    ],
)
def test_a_float_at_any_depth_is_refused_with_its_path(value: Any, where: str) -> None:
    with pytest.raises(InvalidValueError, match=re.escape(f"{where} is a float")):
        canonical.dumps(value)


def test_a_non_text_key_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="non-text key"):
        canonical.dumps({"a": {1: 2}})


@given(exact)
def test_exact_documents_are_written_sorted_and_compact(value: Any) -> None:
    assert canonical.dumps(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@given(exact, st.floats(allow_nan=False), st.data())
def test_a_float_slipped_in_anywhere_is_found(
    value: Any, number: float, data: st.DataObject
) -> None:
    # Put the float at a random place: wrap the document so there is always a container.
    doc: Any = {"doc": value}
    node = doc
    while True:
        children = list(node.values()) if isinstance(node, dict) else node
        containers = [c for c in children if isinstance(c, dict | list)]
        if not containers or data.draw(st.booleans()):
            break
        node = data.draw(st.sampled_from(containers))
    if isinstance(node, dict):
        node[data.draw(st.text(max_size=4))] = number
    else:
        node.append(number)
    with pytest.raises(InvalidValueError):
        canonical.dumps(doc)
