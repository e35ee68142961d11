"""The masking functions Tornado code imports: ``util._websocket_mask_python`` and
``speedups.websocket_mask`` (C, from the ``websockets`` package)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.speedups import websocket_mask
from squall.util import _websocket_mask_python

MASKERS: list[Callable[[bytes, bytes], bytes]] = [_websocket_mask_python, websocket_mask]


def naive(mask: bytes, data: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("masker", MASKERS)
def test_known_vectors(masker: Callable[[bytes, bytes], bytes]) -> None:
    assert masker(b"abcd", b"") == b""
    assert masker(b"abcd", b"b") == b"\x03"
    assert masker(b"abcd", b"54321") == b"TVPVP"
    assert masker(b"\x00\x01\x02\x03", b"\xff\xfb\xfd\xfc\xfe\xfa") == b"\xff\xfa\xff\xff\xfe\xfb"


@pytest.mark.parametrize("masker", MASKERS)
@pytest.mark.parametrize("mask", [b"", b"a", b"abc", b"abcde"])
def test_a_mask_that_is_not_4_bytes_is_a_value_error(
    masker: Callable[[bytes, bytes], bytes], mask: bytes
) -> None:
    with pytest.raises(ValueError, match="4"):
        masker(mask, b"data")


@given(mask=st.binary(min_size=4, max_size=4), data=st.binary(max_size=300))
def test_both_agree_with_the_definition_and_undo_themselves(mask: bytes, data: bytes) -> None:
    expected = naive(mask, data)
    assert _websocket_mask_python(mask, data) == expected
    assert websocket_mask(mask, data) == expected
    assert _websocket_mask_python(mask, expected) == data
