"""skms.hazmat.constant_time.bytes_eq: the answers of ``==``, without the timing leak.

Only the answers are tested; timing is never asserted in tests.
"""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skms import SecretBytes, errors
from skms.hazmat import constant_time


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (b"", b"", True),
        (b"abc", b"abc", True),
        (b"abc", b"abd", False),
        (b"abc", b"ab", False),
        (b"ab", b"abc", False),
        (b"\x00", b"", False),
        (b"\x00" * 64, b"\x00" * 64, True),
        (b"\x00" * 63 + b"\x01", b"\x00" * 64, False),
    ],
)
def test_bytes_eq(a: bytes, b: bytes, equal: bool) -> None:
    assert constant_time.bytes_eq(a, b) is equal
    assert constant_time.bytes_eq(b, a) is equal


def test_accepts_secret_bytes() -> None:
    secret = SecretBytes(b"k" * 32)
    assert constant_time.bytes_eq(secret, b"k" * 32) is True
    assert constant_time.bytes_eq(b"k" * 32, secret) is True
    assert constant_time.bytes_eq(secret, SecretBytes(b"k" * 32)) is True
    assert constant_time.bytes_eq(secret, b"k" * 31) is False


@given(a=st.binary(max_size=100), b=st.binary(max_size=100))
def test_matches_equality(a: bytes, b: bytes) -> None:
    assert constant_time.bytes_eq(a, b) is (a == b)
    assert constant_time.bytes_eq(a, b) is hmac.compare_digest(a, b)


@given(a=st.binary(min_size=1, max_size=100), index=st.integers(min_value=0), flip=st.integers(1, 255))
def test_one_changed_byte_is_unequal(a: bytes, index: int, flip: int) -> None:
    i = index % len(a)
    b = a[:i] + bytes([a[i] ^ flip]) + a[i + 1 :]
    assert constant_time.bytes_eq(a, b) is False


@pytest.mark.parametrize("bad", ["abc", 1, None, [1, 2, 3], bytearray(b"abc")])
def test_non_bytes_raise_invalid_type(bad: object) -> None:
    name = type(bad).__name__
    with pytest.raises(errors.InvalidType, match=f"a must be SecretBytes or bytes, got {name}"):
        constant_time.bytes_eq(bad, b"abc")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidType, match=f"b must be SecretBytes or bytes, got {name}"):
        constant_time.bytes_eq(b"abc", bad)  # type: ignore[arg-type]
