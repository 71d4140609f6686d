"""Constant-time EME-OAEP decoding (SHA-256, MGF1-SHA-256) in the native core, against ``cryptography``.

HSM-resident RSA keys decrypt with it when the token does OAEP with SHA-1 only (SoftHSM2 2.6):
the token computes m = c^d mod n (CKM_RSA_X_509) and :func:`skms.crypto.asymmetric.rsa_oaep_decode`
decodes m. Here the raw private operation is ``pow(c, d, n)`` with the private numbers; the
ciphertexts come from ``cryptography`` with the parameters of SKMS's software RSA keys. Every
malformed encoding must fail with one error class and one message (no Manger-style oracle).
No Wycheproof RSA-OAEP vectors are in the shared vector set, so the cases are random.
"""

from __future__ import annotations

import functools
import os
import random

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from skms import errors
from skms._native import SecretBytes, oaep
from skms.crypto.asymmetric import Rsa3072Key, rsa_oaep_decode

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
FAILED = "RSA-OAEP decryption failed: wrong key or altered ciphertext"


@functools.cache
def private_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


def raw_private(key: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
    """What the token's CKM_RSA_X_509 decryption gives: I2OSP(c^d mod n, k)."""
    numbers = key.private_numbers()
    n, k = numbers.public_numbers.n, key.key_size // 8
    return pow(int.from_bytes(ciphertext, "big"), numbers.d, n).to_bytes(k, "big")


def assert_fails_alike(encoded: bytes, k: int) -> None:
    with pytest.raises(errors.IntegrityError) as caught:
        rsa_oaep_decode(encoded, k)
    assert type(caught.value) is errors.IntegrityError and str(caught.value) == FAILED


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_random_messages_decode_as_cryptography_encrypted_them(bits: int) -> None:
    key = private_key(bits)
    k = bits // 8
    rng = random.Random(bits)
    lengths = [0, 1, 31, 32, 33, k - 2 * 32 - 3, k - 2 * 32 - 2] + [rng.randrange(k - 65) for _ in range(60)]
    for length in lengths:
        message = os.urandom(length)
        ciphertext = key.public_key().encrypt(message, OAEP)
        plain = rsa_oaep_decode(raw_private(key, ciphertext), k)
        assert isinstance(plain, SecretBytes)
        assert plain.expose_secret() == message == key.decrypt(ciphertext, OAEP)


def test_the_public_helper_is_the_native_decoder_with_skms_parameters() -> None:
    key = Rsa3072Key.generate()
    ciphertext = key.public_key().encrypt(b"software key")
    exported = key.export("pkcs8-der")
    assert isinstance(exported, bytes)
    theirs = serialization.load_der_private_key(exported, None)  # the test plays the token: it needs d
    assert isinstance(theirs, rsa.RSAPrivateKey)
    encoded = raw_private(theirs, ciphertext)
    assert rsa_oaep_decode(encoded, 384).expose_secret() == b"software key" == key.decrypt(ciphertext)
    assert oaep.decode_sha256(SecretBytes(encoded), 384).expose_secret() == b"software key"
    # A label other than SKMS's (none) does not match.
    with pytest.raises(errors.IntegrityError, match=FAILED):
        oaep.decode_sha256(encoded, 384, b"a label")


@pytest.mark.parametrize("bits", [2048, 3072])
def test_every_single_byte_corruption_of_the_encoding_fails_alike(bits: int) -> None:
    key = private_key(bits)
    k = bits // 8
    encoded = raw_private(key, key.public_key().encrypt(b"a 32-byte data key goes here....", OAEP))
    for i in range(k):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(encoded)
            bad[i] ^= flip
            assert_fails_alike(bytes(bad), k)


def test_every_single_byte_corruption_of_the_ciphertext_fails_alike() -> None:
    key = private_key(2048)
    n = key.public_key().public_numbers().n
    ciphertext = key.public_key().encrypt(b"message", OAEP)
    for i in range(256):
        bad = bytearray(ciphertext)
        bad[i] ^= 1 << (i % 8)
        if int.from_bytes(bad, "big") >= n:
            continue  # not a ciphertext of this key: the HSM layer refuses it before the token
        assert_fails_alike(raw_private(key, bytes(bad)), 256)


def test_wrong_key_and_random_blocks_fail_alike() -> None:
    key, other = private_key(2048), rsa.generate_private_key(65537, 2048)
    ciphertext = key.public_key().encrypt(b"for key one", OAEP)
    assert_fails_alike(raw_private(other, ciphertext), 256)
    for _ in range(200):
        assert_fails_alike(b"\0" + os.urandom(255), 256)  # Y = 0, the rest random: still one answer
    assert_fails_alike(bytes(256), 256)
    assert_fails_alike(b"", 256)


def test_a_token_that_strips_leading_zeros_is_understood() -> None:
    key = private_key(2048)
    ciphertext = key.public_key().encrypt(b"short output", OAEP)
    encoded = raw_private(key, ciphertext)
    assert encoded[0] == 0
    assert rsa_oaep_decode(encoded.lstrip(b"\0"), 256).expose_secret() == b"short output"


def test_shape_errors_are_public_and_named() -> None:
    with pytest.raises(errors.InvalidInput, match="longer than the 256-byte modulus"):
        rsa_oaep_decode(bytes(257), 256)
    with pytest.raises(errors.InvalidInput, match="modulus_len"):
        rsa_oaep_decode(bytes(65), 65)
    with pytest.raises(errors.InvalidType):
        oaep.decode_sha256("text", 256)  # type: ignore[arg-type]
