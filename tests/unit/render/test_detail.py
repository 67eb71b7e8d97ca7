"""``whrelay/render/detail.py``: one webhook in detail."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=json_values, spaced=st.booleans(), ascii_only=st.booleans())
def test_reindent_json_keeps_every_token_and_lays_out_like_json_dumps(
    value: object, spaced: bool, ascii_only: bool
) -> None:
    from whrelay.render.webhooks import reindent_json

    separators = (", ", ": ") if spaced else (",", ":")
    sent = json.dumps(value, separators=separators, ensure_ascii=ascii_only)
    shown = reindent_json(sent)
    assert shown == json.dumps(value, indent=2, ensure_ascii=ascii_only)
    assert json.loads(shown) == json.loads(sent)
