"""Falcon (FN-DSA, degrees 512 and 1024): round trips, forged and altered
signatures, malformed keys and signatures, bad argument types.

The fn-dsa known-answer tests run in ``cargo test`` (rust/skms-core/src/falcon.rs);
here the Python surface is checked. Sizes are those of the fn-dsa crate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skms import SecretBytes, errors
from skms.crypto import falcon

# degree: (private key, public key, signature) sizes in bytes, first bytes.
SIZES = {512: (1345, 897, 666), 1024: (2369, 1793, 1280)}
HEADERS = {512: (0x59, 0x09, 0x39), 1024: (0x5A, 0x0A, 0x3A)}
MESSAGE = b"skms falcon"

KEYS = {degree: falcon.generate_private_key(degree) for degree in SIZES}
PUBLIC = {degree: falcon.public_key(key) for degree, key in KEYS.items()}
SIGNATURES = {degree: falcon.sign(key, MESSAGE) for degree, key in KEYS.items()}


# --- Round trips ----------------------------------------------------------------


@pytest.mark.parametrize("degree", sorted(SIZES))
def test_round_trip(degree: int) -> None:
    key = falcon.generate_private_key(degree)
    assert isinstance(key, SecretBytes)
    public = falcon.public_key(key)
    assert public == falcon.public_key(key.expose_secret()), "bytes and SecretBytes agree"
    signature = falcon.sign(key, MESSAGE)
    assert (len(key), len(public), len(signature)) == SIZES[degree]
    assert (key.expose_secret()[0], public[0], signature[0]) == HEADERS[degree]
    assert falcon.verify(public, MESSAGE, signature) is True
    assert falcon.verify(public, MESSAGE, falcon.sign(key.expose_secret(), MESSAGE))


def test_default_degree_is_512() -> None:
    assert len(falcon.generate_private_key()) == SIZES[512][0]


@pytest.mark.parametrize("degree", sorted(SIZES))
def test_signing_is_randomized(degree: int) -> None:
    first = falcon.sign(KEYS[degree], MESSAGE)
    second = falcon.sign(KEYS[degree], MESSAGE)
    assert first != second
    assert falcon.verify(PUBLIC[degree], MESSAGE, first)
    assert falcon.verify(PUBLIC[degree], MESSAGE, second)


@pytest.mark.parametrize("message", [b"", b"\x00", bytes(range(256)) * 64], ids=len)
def test_any_message_length(message: bytes) -> None:
    signature = falcon.sign(KEYS[512], message)
    assert falcon.verify(PUBLIC[512], message, signature)
    assert not falcon.verify(PUBLIC[512], message + b"\x00", signature)


def test_fresh_keys_differ() -> None:
    assert falcon.generate_private_key() != falcon.generate_private_key()


# --- Signatures that must not verify ---------------------------------------------


@pytest.mark.parametrize("degree", sorted(SIZES))
def test_signature_from_another_key_fails(degree: int) -> None:
    other = falcon.public_key(falcon.generate_private_key(degree))
    assert falcon.verify(other, MESSAGE, SIGNATURES[degree]) is False


@pytest.mark.parametrize("degree", sorted(SIZES))
def test_other_message_fails(degree: int) -> None:
    assert falcon.verify(PUBLIC[degree], MESSAGE + b"!", SIGNATURES[degree]) is False
    assert falcon.verify(PUBLIC[degree], MESSAGE[:-1], SIGNATURES[degree]) is False
    assert falcon.verify(PUBLIC[degree], b"", SIGNATURES[degree]) is False


@pytest.mark.parametrize("degree", sorted(SIZES))
def test_every_altered_position_fails(degree: int) -> None:
    """Each byte of a sample signature, flipped in its low and high bit.

    The header byte names the degree, so changing it is a malformed signature
    (InvalidSignature); any change to the nonce or the compressed body is a
    signature that does not verify (False).
    """
    signature = SIGNATURES[degree]
    checked = 0
    for position in range(len(signature)):
        for mask in (0x01, 0x80):
            altered = bytearray(signature)
            altered[position] ^= mask
            if position == 0:
                with pytest.raises(errors.InvalidSignature, match="must start with"):
                    falcon.verify(PUBLIC[degree], MESSAGE, bytes(altered))
            else:
                assert falcon.verify(PUBLIC[degree], MESSAGE, bytes(altered)) is False, position
            checked += 1
    assert checked == 2 * SIZES[degree][2]


@pytest.mark.parametrize("degree", sorted(SIZES))
@pytest.mark.parametrize("cut", [1, 2, 40, 300])
def test_truncated_or_extended_signature_is_refused(degree: int, cut: int) -> None:
    signature = SIGNATURES[degree]
    size = SIZES[degree][2]
    with pytest.raises(errors.InvalidSignature, match=f"must be {size} bytes, got {size - cut}"):
        falcon.verify(PUBLIC[degree], MESSAGE, signature[:-cut])
    with pytest.raises(errors.InvalidSignature, match=f"must be {size} bytes, got {size + cut}"):
        falcon.verify(PUBLIC[degree], MESSAGE, signature + bytes(cut))


def test_signature_of_the_other_degree_is_refused() -> None:
    with pytest.raises(errors.InvalidSignature, match="FN-DSA-512 signature must be 666 bytes"):
        falcon.verify(PUBLIC[512], MESSAGE, SIGNATURES[1024])
    with pytest.raises(errors.InvalidSignature, match="FN-DSA-1024 signature must be 1280"):
        falcon.verify(PUBLIC[1024], MESSAGE, SIGNATURES[512])


def test_empty_signature_is_refused() -> None:
    with pytest.raises(errors.InvalidSignature, match="got 0"):
        falcon.verify(PUBLIC[512], MESSAGE, b"")


@settings(max_examples=300)
@given(signature=st.binary(min_size=0, max_size=1400))
def test_random_signatures_never_crash(signature: bytes) -> None:
    with contextlib.suppress(errors.InvalidSignature):
        assert falcon.verify(PUBLIC[512], MESSAGE, signature) is False


@settings(max_examples=300)
@given(body=st.binary(min_size=665, max_size=665))
def test_random_well_framed_signatures_do_not_verify(body: bytes) -> None:
    assert falcon.verify(PUBLIC[512], MESSAGE, b"\x39" + body) is False


@settings(max_examples=200)
@given(public=st.binary(min_size=0, max_size=2000))
def test_random_public_keys_never_crash(public: bytes) -> None:
    with contextlib.suppress(errors.InvalidKey, errors.InvalidSignature):
        falcon.verify(public, MESSAGE, SIGNATURES[512])


@settings(max_examples=200)
@given(private=st.binary(min_size=0, max_size=2500))
def test_random_private_keys_never_crash(private: bytes) -> None:
    with contextlib.suppress(errors.InvalidKey):
        falcon.public_key(private)


# --- Malformed keys ------------------------------------------------------------------


def _with(data: bytes, position: int, value: int) -> bytes:
    out = bytearray(data)
    out[position] = value
    return bytes(out)


PRIVATE_512 = KEYS[512].expose_secret()


@pytest.mark.parametrize(
    ("private_key", "keyword"),
    [
        (b"", "private key is empty"),
        (PRIVATE_512[:-1], "FN-DSA-512 private key must be 1345 bytes, got 1344"),
        (PRIVATE_512 + b"\x00", "FN-DSA-512 private key must be 1345 bytes, got 1346"),
        (_with(PRIVATE_512, 0, 0x58), "must start with 0x59 (FN-DSA-512) or 0x5a"),
        (_with(PRIVATE_512, 0, 0x5A), "FN-DSA-1024 private key must be 2369 bytes"),
        (PUBLIC[512], "private key must start with"),
        (bytes(32), "private key must start with"),
        (
            _with(PRIVATE_512, len(PRIVATE_512) - 1, PRIVATE_512[-1] ^ 1),
            "public-key hash does not match",
        ),
        (b"\x59" + b"\x80" * 1344, "does not decode"),
    ],
    ids=[
        "empty",
        "short",
        "long",
        "toy-degree",
        "header-1024-length-512",
        "a-public-key",
        "a-secp256k1-key",
        "inconsistent-hash",
        "out-of-range",
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda k: falcon.public_key(k),
        lambda k: falcon.sign(k, MESSAGE),
        lambda k: falcon.sign(SecretBytes(k), MESSAGE),
    ],
    ids=["public_key", "sign", "sign-SecretBytes"],
)
def test_bad_private_key(call: Callable[[bytes], object], private_key: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        call(private_key)
    assert keyword in str(info.value)


def test_private_key_errors_do_not_show_key_bytes() -> None:
    secret = bytes([0xC3]) * 32
    with pytest.raises(errors.InvalidKey) as info:
        falcon.public_key(secret)
    assert "c3" not in str(info.value).lower()


PUBLIC_512 = PUBLIC[512]


@pytest.mark.parametrize(
    ("public_key", "keyword"),
    [
        (b"", "public key is empty"),
        (PUBLIC_512[:-1], "FN-DSA-512 public key must be 897 bytes, got 896"),
        (PUBLIC_512 + b"\x00", "FN-DSA-512 public key must be 897 bytes, got 898"),
        (_with(PUBLIC_512, 0, 0x08), "must start with 0x09 (FN-DSA-512) or 0x0a"),
        (_with(PUBLIC_512, 0, 0x0A), "FN-DSA-1024 public key must be 1793 bytes"),
        (PRIVATE_512, "public key must start with"),
        (b"\x09" + b"\xff" * 896, "coefficient not below q = 12289"),
    ],
    ids=["empty", "short", "long", "toy-degree", "header-1024", "a-private-key", "coefficient"],
)
def test_bad_public_key(public_key: bytes, keyword: str) -> None:
    with pytest.raises(errors.InvalidKey) as info:
        falcon.verify(public_key, MESSAGE, SIGNATURES[512])
    assert keyword in str(info.value)


@pytest.mark.parametrize("degree", [0, 1, 256, 511, 513, 2048, -512, 2**64, True])
def test_bad_degree(degree: int) -> None:
    with pytest.raises(errors.InvalidInput, match="degree must be 512 or 1024"):
        falcon.generate_private_key(degree)


@pytest.mark.parametrize(("degree", "got"), [("512", "str"), (512.0, "float"), (None, "NoneType"), (b"512", "bytes")])
def test_degree_wrong_type(degree: object, got: str) -> None:
    with pytest.raises(errors.InvalidType, match=f"degree must be int, got {got}"):
        falcon.generate_private_key(degree)  # type: ignore[arg-type]


# --- Bad argument types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "args", "position", "name", "kind"),
    [
        (falcon.public_key, (PRIVATE_512,), 0, "private_key", "SecretBytes or bytes"),
        (falcon.sign, (PRIVATE_512, MESSAGE), 0, "private_key", "SecretBytes or bytes"),
        (falcon.sign, (PRIVATE_512, MESSAGE), 1, "message", "bytes"),
        (falcon.verify, (PUBLIC_512, MESSAGE, SIGNATURES[512]), 0, "public_key", "bytes"),
        (falcon.verify, (PUBLIC_512, MESSAGE, SIGNATURES[512]), 1, "message", "bytes"),
        (falcon.verify, (PUBLIC_512, MESSAGE, SIGNATURES[512]), 2, "signature", "bytes"),
    ],
)
@pytest.mark.parametrize(
    ("bad", "got"),
    [("text", "str"), (bytearray(b"x"), "bytearray"), (None, "NoneType"), (7, "int")],
)
def test_wrong_argument_type(
    fn: Callable[..., object],
    args: tuple[object, ...],
    position: int,
    name: str,
    kind: str,
    bad: object,
    got: str,
) -> None:
    call_args = list(args)
    call_args[position] = bad
    with pytest.raises(errors.InvalidType) as info:
        fn(*call_args)
    assert str(info.value) == f"{name} must be {kind}, got {got}"
    assert isinstance(info.value, TypeError)
