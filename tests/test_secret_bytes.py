"""SecretBytes: secret material that never shows itself and never leaves by accident."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skms import SecretBytes, errors

SECRET = bytes.fromhex("deadbeefcafebabe0123456789abcdef") * 2


def _renderings(value: SecretBytes) -> list[str]:
    return [repr(value), str(value), f"{value}", f"{value!r}", "%s" % (value,)]  # noqa: UP031


def test_repr_and_str_hide_contents() -> None:
    secret = SecretBytes(SECRET)
    for shown in _renderings(secret):
        assert shown == "SecretBytes(<32 bytes redacted>)"
        lowered = shown.lower()
        assert SECRET.hex() not in lowered
        assert "deadbeef" not in lowered
        assert repr(SECRET) not in shown


@given(data=st.binary(min_size=1, max_size=64))
def test_repr_never_contains_the_bytes(data: bytes) -> None:
    shown = repr(SecretBytes(data))
    assert shown == f"SecretBytes(<{len(data)} bytes redacted>)"
    if len(data) >= 2:  # a 1-byte hex string could occur in the length by chance
        assert data.hex() not in shown


def test_expose_secret_round_trips() -> None:
    secret = SecretBytes(SECRET)
    exposed = secret.expose_secret()
    assert type(exposed) is bytes
    assert exposed == SECRET
    assert len(secret) == 32
    # Each call returns a fresh copy; the secret itself is unchanged.
    assert secret.expose_secret() == SECRET
    assert SecretBytes(b"").expose_secret() == b""


@given(data=st.binary(max_size=256))
def test_expose_secret_round_trips_any_bytes(data: bytes) -> None:
    secret = SecretBytes(data)
    assert secret.expose_secret() == data
    assert len(secret) == len(data)


def test_equality_is_by_value() -> None:
    a = SecretBytes(SECRET)
    assert a == SecretBytes(SECRET)
    assert a == SECRET  # bytes compare too
    assert a != SecretBytes(SECRET[:-1] + b"\x00")
    assert a != SECRET[:-1]  # different length
    assert a != SecretBytes(b"")
    assert SecretBytes(b"") == SecretBytes(b"")
    # Other types are never equal, and comparing them does not raise.
    assert a != SECRET.hex()
    assert a != 42
    assert a != None  # noqa: E711
    assert a != bytearray(SECRET)


@given(left=st.binary(max_size=40), right=st.binary(max_size=40))
def test_equality_matches_bytes_equality(left: bytes, right: bytes) -> None:
    # The comparison runs in constant time (subtle's ct_eq in the core); here
    # only its answers are checked: timing is never asserted in tests.
    assert (SecretBytes(left) == SecretBytes(right)) is (left == right)
    assert (SecretBytes(left) == right) is (left == right)
    assert (SecretBytes(left) != right) is (left != right)


def test_unhashable() -> None:
    secret = SecretBytes(SECRET)
    with pytest.raises(TypeError, match="unhashable"):
        hash(secret)
    with pytest.raises(errors.InvalidType):
        {secret}  # noqa: B018
    with pytest.raises(errors.InvalidType):
        _ = {secret: 1}


def test_not_picklable_or_copyable() -> None:
    secret = SecretBytes(SECRET)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(errors.InvalidType, match="cannot be pickled"):
            pickle.dumps(secret, protocol=protocol)
    with pytest.raises(errors.InvalidType, match="cannot be pickled"):
        copy.copy(secret)
    with pytest.raises(errors.InvalidType, match="cannot be pickled"):
        copy.deepcopy(secret)


def test_immutable() -> None:
    secret = SecretBytes(SECRET)
    with pytest.raises(AttributeError):
        secret.locked = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        secret.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("length", [0, 1, 16, 32, 64, 4096])
def test_random_lengths(length: int) -> None:
    secret = SecretBytes.random(length)
    assert isinstance(secret, SecretBytes)
    assert len(secret) == length
    assert len(secret.expose_secret()) == length
    assert repr(secret) == f"SecretBytes(<{length} bytes redacted>)"


def test_random_is_random() -> None:
    drawn = {SecretBytes.random(32).expose_secret() for _ in range(64)}
    assert len(drawn) == 64
    assert SecretBytes.random(32) != SecretBytes.random(32)


def test_locked_is_a_bool() -> None:
    # mlock may be refused (RLIMIT_MEMLOCK): only the type is guaranteed.
    assert isinstance(SecretBytes(SECRET).locked, bool)
    assert SecretBytes(b"").locked is False


@pytest.mark.parametrize("bad", ["text", 42, None, [1, 2]])
def test_constructor_takes_bytes_only(bad: object) -> None:
    with pytest.raises(
        errors.InvalidType, match=f"data must be bytes or a bytes-like buffer, got {type(bad).__name__}"
    ):
        SecretBytes(bad)  # type: ignore[arg-type]


def test_constructor_takes_buffers_the_caller_wipes() -> None:
    """A bytearray (or a view of one) lets a key pass through Python in memory that is wiped afterwards."""
    from skms._native import wipe

    buffer = bytearray(SECRET)
    secret = SecretBytes(memoryview(buffer)[1:5])
    wipe(buffer)
    assert buffer == bytearray(len(SECRET))
    assert secret == SECRET[1:5]
    assert secret.slice(1, 3) == SECRET[2:4]
    assert secret.expose_bytearray() == bytearray(SECRET[1:5])
    with pytest.raises(errors.InvalidInput):
        secret.slice(2, 9)


def test_wipe_zeroes_bytes_in_place_but_not_shared_singletons() -> None:
    from skms._native import wipe

    data = bytes(bytearray(b"key material"))
    wipe(data)
    assert data == bytes(12)
    one = b"A"
    wipe(one)  # one-byte bytes are shared by the interpreter: left alone
    assert one == b"A"
    with pytest.raises(errors.InvalidType):
        wipe("text")


def test_random_negative_length_is_invalid_input() -> None:
    with pytest.raises(errors.InvalidInput):
        SecretBytes.random(-1)


def test_random_huge_length_raises_instead_of_aborting() -> None:
    # In a child process: the bug being tested kills the interpreter.
    code = (
        "from skms import SecretBytes, errors\n"
        "try:\n"
        "    SecretBytes.random(2**62)\n"
        "except errors.SKMSError:\n"
        "    print('raised')\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr[-500:]
    assert child.stdout.strip() == "raised"
