"""skms.wallet.bitcoin signing: ECDSA over a sighash, BIP340/BIP86 taproot, BIP137 messages.

Oracles: coincurve (libsecp256k1) for ECDSA, Schnorr and the taproot tweak;
bip_utils for P2TR addresses; bitcoinjs-message fixtures for BIP137.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import random

import coincurve
import pytest
from bip_utils import P2PKHAddrEncoder, P2SHAddrEncoder, P2TRAddrEncoder, P2WPKHAddrEncoder

from skms import SecretBytes
from skms.errors import SKMSError
from skms.wallet import HDKey, bitcoin

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
RANDOM_KEYS = 200


def _random_key(rng: random.Random) -> bytes:
    return rng.randrange(1, N).to_bytes(32, "big")


def _public(secret: bytes) -> bytes:
    return coincurve.PrivateKey(secret).public_key.format(compressed=True)


def _tagged_hash(tag: str, data: bytes) -> bytes:
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash + data).digest()


def _taptweak(public: bytes, merkle_root: bytes | None) -> tuple[bytes, bytes]:
    """(output key, tweaked secret scalar bytes) per BIP341, computed with coincurve."""
    internal = public[1:]
    tweak = _tagged_hash("TapTweak", internal + (merkle_root or b""))
    output = coincurve.PublicKeyXOnly(internal)
    output.tweak_add(tweak)
    return output.format(), tweak


def _tweaked_secret(secret: bytes, tweak: bytes) -> bytes:
    d = int.from_bytes(secret, "big")
    if _public(secret)[0] == 3:  # BIP340: use the key whose point has even y
        d = N - d
    return ((d + int.from_bytes(tweak, "big")) % N).to_bytes(32, "big")


def _der_s(signature: bytes) -> int:
    # DER: 30 len 02 rlen r 02 slen s
    assert signature[0] == 0x30 and signature[1] == len(signature) - 2
    rlen = signature[3]
    slen = signature[5 + rlen]
    return int.from_bytes(signature[6 + rlen : 6 + rlen + slen], "big")


# --------------------------------------------------------------------------- ECDSA


def test_sign_sighash_verifies_with_coincurve(rng: random.Random) -> None:
    checked = 0
    for i in range(RANDOM_KEYS):
        secret = _random_key(rng)
        sighash = rng.randbytes(32)
        key: bytes | SecretBytes = SecretBytes(secret) if i % 2 else secret
        signature = bitcoin.sign_sighash(key, sighash)
        public = coincurve.PublicKey(_public(secret))
        assert public.verify(signature, sighash, hasher=None)
        assert _der_s(signature) <= N // 2  # low-S
        # RFC 6979, as libsecp256k1 does it
        assert signature == coincurve.PrivateKey(secret).sign(sighash, hasher=None)
        assert bitcoin.verify_sighash(_public(secret), sighash, signature)
        assert not bitcoin.verify_sighash(_public(secret), bytes(32), signature)
        checked += 1
    assert checked == RANDOM_KEYS


def test_verify_sighash_rejects_high_s_and_garbage(rng: random.Random) -> None:
    secret = _random_key(rng)
    sighash = rng.randbytes(32)
    der = coincurve.PrivateKey(secret).sign(sighash, hasher=None)
    compact = coincurve.PrivateKey(secret).sign_recoverable(sighash, hasher=None)[:64]
    r_int, s_int = int.from_bytes(compact[:32], "big"), int.from_bytes(compact[32:], "big")
    high = _der_encode(r_int, N - s_int)
    outcome: bool | None
    try:
        outcome = bitcoin.verify_sighash(_public(secret), sighash, high)
    except SKMSError:
        outcome = None
    assert outcome in (False, None)  # Bitcoin's low-S rule
    for garbage in (b"", b"\x30", der[:-1], der + b"\x00"):
        with contextlib.suppress(SKMSError):
            assert bitcoin.verify_sighash(_public(secret), sighash, garbage) is False


def _der_int(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big")
    return b"\x02" + bytes([len(raw)]) + raw


def _der_encode(r: int, s: int) -> bytes:
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def test_sign_sighash_with_hd_key() -> None:
    node = HDKey.from_seed(bytes(range(32))).derive("m/84'/0'/0'/0/0")
    sighash = hashlib.sha256(b"tx").digest()
    signature = bitcoin.sign_sighash(node, sighash)
    assert coincurve.PublicKey(node.public_key).verify(signature, sighash, hasher=None)


# --------------------------------------------------------------------------- taproot


def test_taproot_output_key_and_address(rng: random.Random) -> None:
    checked = 0
    for _ in range(RANDOM_KEYS):
        public = _public(_random_key(rng))
        output, _tweak = _taptweak(public, None)
        assert bitcoin.taproot_output_key(public[1:]) == output
        address = bitcoin.address(public, "p2tr")
        assert address == P2TRAddrEncoder.EncodeKey(public, hrp="bc")
        assert bitcoin.parse_address(address).program == output
        merkle_root = rng.randbytes(32)
        output_with_script, _ = _taptweak(public, merkle_root)
        assert bitcoin.taproot_output_key(public[1:], merkle_root) == output_with_script
        checked += 1
    assert checked == RANDOM_KEYS


def test_sign_taproot_key_path(rng: random.Random) -> None:
    checked = 0
    for i in range(RANDOM_KEYS):
        secret = _random_key(rng)
        public = _public(secret)
        sighash = rng.randbytes(32)
        merkle_root = rng.randbytes(32) if i % 3 == 0 else None
        output, tweak = _taptweak(public, merkle_root)
        # random aux: verifies against the output key of the BIP86 address
        signature = bitcoin.sign_taproot(secret, sighash, merkle_root=merkle_root)
        assert len(signature) == 64
        assert coincurve.PublicKeyXOnly(output).verify(signature, sighash)
        assert bitcoin.verify_taproot(output, sighash, signature)
        assert not bitcoin.verify_taproot(output, rng.randbytes(32), signature)
        if merkle_root is None:
            program = bitcoin.parse_address(P2TRAddrEncoder.EncodeKey(public, hrp="bc")).program
            assert coincurve.PublicKeyXOnly(program).verify(signature, sighash)
        # given aux_rand, BIP340 signing is deterministic: same bytes as libsecp256k1
        aux = rng.randbytes(32)
        fixed = bitcoin.sign_taproot(secret, sighash, aux_rand=aux, merkle_root=merkle_root)
        expected = coincurve.PrivateKey(_tweaked_secret(secret, tweak)).sign_schnorr(sighash, aux)
        assert fixed == expected
        checked += 1
    assert checked == RANDOM_KEYS


def test_sign_taproot_with_hd_key_matches_bip86_address() -> None:
    root = HDKey.from_seed(bytes(range(64)))
    node = root.derive("m/86'/0'/0'/0/0")
    sighash = hashlib.sha256(b"spend").digest()
    signature = bitcoin.sign_taproot(node, sighash)
    program = bitcoin.parse_address(node.address("bitcoin", kind="p2tr")).program
    assert coincurve.PublicKeyXOnly(program).verify(signature, sighash)


# --------------------------------------------------------------------------- BIP137

# bitcoinjs/bitcoinjs-message test/fixtures.json (see tests/vectors/README.md)
VIRES = "vires is numeris"
D1 = (1).to_bytes(32, "big")
_D1_SIG = "F8nHqFr3K2UKYahhX3soVeoW8W1ECNbr0wfck7lzyXjCS5Q16Ek45zyBuy1Fiy9sTPKVgsqqOuPvbycuVSSVl8="
_OTHER_SIG = "8JawPtQOrybrSP1WHQnQPr67B9S3qrxBrl1mlzoTJOSHEpmnF7D3+t+LX0Xei9J20B5AIdPbeL3AaTBZ4N3bY0="
# the first base64 character carries the header byte: I = 32 (31+1), J = 36, K = 40, H = 31,
# G = 27 (uncompressed)
BITCOINJS_SIGN = {
    "p2pkh": "I" + _D1_SIG,
    "p2sh-p2wpkh": "J" + _D1_SIG,
    "p2wpkh": "K" + _D1_SIG,
}
BITCOINJS_VERIFY = [
    ("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs", "H" + _OTHER_SIG),
    ("3JvL6Ymt8MVWiCNHC7oWU6nLeHNJKLZGLN", "J" + _D1_SIG),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "K" + _D1_SIG),
]
# header 27: uncompressed P2PKH, which BIP137 also defines
BITCOINJS_VERIFY_UNCOMPRESSED = ("16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM", "G" + _OTHER_SIG)
BITCOINJS_VERIFY_INVALID = [
    # wrong message
    ("foobar", "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM", BITCOINJS_VERIFY_UNCOMPRESSED[1]),
    # wrong address
    (VIRES, "1111111111111111111114oLvT2", BITCOINJS_VERIFY[0][1]),
    # uncompressed address, compressed signature
    (VIRES, "16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM", BITCOINJS_VERIFY[0][1]),
    # compressed address, uncompressed signature
    (VIRES, "1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs", BITCOINJS_VERIFY_UNCOMPRESSED[1]),
]
_BAD_RS = (
    "987ceade6a304fc5823ab38f99fc3c5f772a2d3e89ea05931e2726105fc53b9e"
    "601fc3231f35962c714fcbce5c95b427496edc7ae8b3d12e93791d7629795b62"
)
BITCOINJS_BAD_SIGNATURES = [
    "2b" + _BAD_RS,  # header 43: invalid signature parameter
    "1c" + _BAD_RS + "000000",  # 68 bytes: invalid length
    "1c" + _BAD_RS[:-12],  # 59 bytes: invalid length
]


def _bip137_hash(message: bytes) -> bytes:
    prefix = b"\x18Bitcoin Signed Message:\n"
    assert len(message) < 253
    data = prefix + bytes([len(message)]) + message
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def test_bip137_bitcoinjs_sign_vectors() -> None:
    checked = 0
    for kind, expected in BITCOINJS_SIGN.items():
        assert bitcoin.sign_message(D1, VIRES, kind=kind) == expected
        assert bitcoin.sign_message(D1, VIRES.encode(), kind=kind) == expected
        address = bitcoin.address(_public(D1), kind)
        assert bitcoin.verify_message(address, VIRES, expected)
        assert bitcoin.recover_message_public_key(VIRES, expected) == _public(D1)
        checked += 1
    assert checked == 3


def test_bip137_bitcoinjs_verify_vectors() -> None:
    checked = 0
    for address, signature in BITCOINJS_VERIFY:
        assert bitcoin.verify_message(address, VIRES, signature), address
        checked += 1
    assert checked == 3


def test_bip137_uncompressed_p2pkh_vector() -> None:
    address, signature = BITCOINJS_VERIFY_UNCOMPRESSED
    assert bitcoin.verify_message(address, VIRES, signature)


def test_bip137_bitcoinjs_invalid_vectors() -> None:
    checked = 0
    for message, address, signature in BITCOINJS_VERIFY_INVALID:
        # a named error is fine; a crash or True is not
        with contextlib.suppress(SKMSError):
            assert bitcoin.verify_message(address, message, signature) is False
        checked += 1
    for hex_signature in BITCOINJS_BAD_SIGNATURES:
        signature = base64.b64encode(bytes.fromhex(hex_signature)).decode()
        with contextlib.suppress(SKMSError):
            assert bitcoin.verify_message("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs", VIRES, signature) is False
        checked += 1
    assert checked == 7


@pytest.mark.parametrize(
    ("kind", "first_header"),
    [("p2pkh", 31), ("p2sh-p2wpkh", 35), ("p2wpkh", 39)],
)
def test_bip137_round_trip(kind: str, first_header: int, rng: random.Random) -> None:
    encoders = {
        "p2pkh": lambda pub: P2PKHAddrEncoder.EncodeKey(pub, net_ver=b"\x00"),
        "p2sh-p2wpkh": lambda pub: P2SHAddrEncoder.EncodeKey(pub, net_ver=b"\x05"),
        "p2wpkh": lambda pub: P2WPKHAddrEncoder.EncodeKey(pub, hrp="bc", wit_ver=0),
    }
    checked = 0
    for _ in range(100):
        secret = _random_key(rng)
        public = _public(secret)
        message = rng.choice(["", "hello", "ünïcödé ✓", rng.randbytes(40).hex()])
        signature = bitcoin.sign_message(secret, message, kind=kind)
        raw = base64.b64decode(signature)
        assert len(raw) == 65
        assert first_header <= raw[0] <= first_header + 3
        # independent check: recover with libsecp256k1 from the BIP137 hash
        recid = raw[0] - first_header
        recovered = coincurve.PublicKey.from_signature_and_message(
            raw[1:] + bytes([recid]), _bip137_hash(message.encode()), hasher=None
        )
        assert recovered.format() == public
        address = encoders[kind](public)
        assert bitcoin.address(public, kind) == address
        assert bitcoin.verify_message(address, message, signature)
        assert not bitcoin.verify_message(address, message + "!", signature)
        assert bitcoin.recover_message_public_key(message, signature) == public
        other = encoders[kind](_public(_random_key(rng)))
        assert not bitcoin.verify_message(other, message, signature)
        checked += 1
    assert checked == 100
