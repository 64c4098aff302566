"""The served-form fast path of timestamp parsing takes exactly what the general path takes."""

from __future__ import annotations

import string

from hypothesis import example, given
from hypothesis import strategies as st

from cdrstore.timestamps import (
    _served_epoch_ms,
    canonical_timestamp,
    format_timestamp,
    parse_timestamp,
)

SHAPE = "0000-00-00T00:00:00.000Z"
# What may stand where the served form has a digit: digits, other ASCII, other scripts' digits.
DIGITISH = st.sampled_from(string.digits * 4 + "+- .:Tz\u0663\u0969\uff11")


@st.composite
def served_shaped(draw: st.DrawFn) -> str:
    return "".join(draw(DIGITISH) if c == "0" else c for c in SHAPE)


@given(served_shaped())
@example("2026-W36-1T00:00:00.000Z")  # an ISO week date datetime's parser also reads
@example("2026-02-30T00:00:00.000Z")
@example("2026-09-01T24:00:00.000Z")
@example("0001-01-01T00:00:00.000Z")
@example("9999-12-31T23:59:59.999Z")
def test_the_fast_path_agrees_with_the_general_one(text: str) -> None:
    fast = _served_epoch_ms(text)
    try:
        general = parse_timestamp(text)
    except ValueError:
        assert fast is None
        return
    assert fast == general and format_timestamp(fast) == text
    assert canonical_timestamp(text) == (text, general)
