"""skms.wallet.ethereum against eth-account / eth-utils, plus the EIP-155 and EIP-712 examples."""

from __future__ import annotations

import random
from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account._utils.legacy_transactions import serializable_unsigned_transaction_from_dict
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils.crypto import keccak

from skms import SecretBytes
from skms.errors import InvalidAddress, SKMSError
from skms.wallet import HDKey, ethereum

RANDOM_KEYS = 300
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _random_key(rng: random.Random) -> bytes:
    return rng.randrange(1, N).to_bytes(32, "big")


def _public(secret: bytes, compressed: bool = True) -> bytes:
    return coincurve.PrivateKey(secret).public_key.format(compressed=compressed)


def test_keccak256(rng: random.Random) -> None:
    checked = 0
    for size in (0, 1, 31, 32, 33, 135, 136, 137, 1000):
        data = rng.randbytes(size)
        assert ethereum.keccak256(data) == keccak(data)
        checked += 1
    assert checked == 9


def test_address_matches_eth_account(rng: random.Random) -> None:
    checked = 0
    for _ in range(RANDOM_KEYS):
        secret = _random_key(rng)
        expected = Account.from_key(secret).address
        assert ethereum.address(_public(secret)) == expected
        assert ethereum.address(_public(secret, compressed=False)) == expected
        assert ethereum.to_checksum_address(expected.lower()) == expected
        ethereum.validate_address(expected)
        checked += 1
    assert checked == RANDOM_KEYS


def test_personal_sign_matches_eth_account(rng: random.Random) -> None:
    checked = 0
    for i in range(RANDOM_KEYS):
        secret = _random_key(rng)
        message = rng.randbytes(rng.choice((0, 1, 32, 100, 1000)))
        expected = Account.sign_message(encode_defunct(primitive=message), private_key=secret)
        # every accepted key form gives the same signature
        key: bytes | SecretBytes = secret if i % 2 else SecretBytes(secret)
        signature = ethereum.personal_sign(key, message)
        assert signature == bytes(expected.signature)
        assert signature[64] in (27, 28)
        assert ethereum.personal_message_digest(message) == bytes(expected.message_hash)
        address = Account.from_key(secret).address
        assert ethereum.recover_personal(message, signature) == address
        checked += 1
    assert checked == RANDOM_KEYS


def test_personal_sign_with_hd_key() -> None:
    phrase_seed = bytes(range(64))
    node = HDKey.from_seed(phrase_seed).derive("m/44'/60'/0'/0/7")
    secret = node.private_key.expose_secret()
    message = b"hello from skms"
    expected = Account.sign_message(encode_defunct(primitive=message), private_key=secret)
    assert ethereum.personal_sign(node, message) == bytes(expected.signature)
    assert ethereum.recover_personal(message, bytes(expected.signature)) == node.address("ethereum")


def test_sign_digest_matches_eth_account(rng: random.Random) -> None:
    checked = 0
    for _ in range(RANDOM_KEYS):
        secret = _random_key(rng)
        digest = rng.randbytes(32)
        address = Account.from_key(secret).address
        peer = Account.unsafe_sign_hash(digest, secret)
        # without a chain id: v is 27/28
        plain = ethereum.sign_digest(secret, digest)
        assert (plain.r, plain.s, plain.v) == (peer.r, peer.s, peer.v)
        assert plain.y_parity == peer.v - 27
        assert plain.to_bytes() == bytes(peer.signature)
        assert ethereum.recover_digest(digest, plain) == address
        assert ethereum.recover_digest(digest, plain.to_bytes()) == address
        assert Account._recover_hash(digest, vrs=(plain.v, plain.r, plain.s)) == address
        # EIP-155: v = y_parity + 35 + 2 * chain_id
        chain_id = rng.choice((1, 5, 56, 137, 1337, 11155111, 2**40 + 7))
        eip155 = ethereum.sign_digest(secret, digest, chain_id=chain_id)
        assert (eip155.r, eip155.s) == (peer.r, peer.s)
        assert eip155.y_parity == peer.v - 27
        assert eip155.v == eip155.y_parity + 35 + 2 * chain_id
        assert eip155.to_bytes() == bytes(peer.signature)
        assert ethereum.recover_digest(digest, eip155, chain_id=chain_id) == address
        vrs = (27 + eip155.y_parity, eip155.r, eip155.s)
        assert Account._recover_hash(digest, vrs=vrs) == address
        checked += 1
    assert checked == RANDOM_KEYS


def test_eip155_example() -> None:
    # EIP-155 "Example" (ethereum/EIPs EIPS/eip-155.md)
    tx: dict[str, Any] = {
        "nonce": 9,
        "gasPrice": 20 * 10**9,
        "gas": 21000,
        "to": "0x3535353535353535353535353535353535353535",
        "value": 10**18,
        "data": b"",
        "chainId": 1,
    }
    digest = bytes(serializable_unsigned_transaction_from_dict(tx).hash())
    assert digest.hex() == "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"
    signature = ethereum.sign_digest(b"\x46" * 32, digest, chain_id=1)
    assert signature.v == 37
    assert signature.r == (18515461264373351373200002665853028612451056578545711640558177340181847433846)
    assert signature.s == (46948507304638947509940763649030358759909902576025900602547168820602576006531)
    sender = Account.from_key(b"\x46" * 32).address
    assert ethereum.recover_digest(digest, signature, chain_id=1) == sender


# EIP-712 "Ether Mail" example: ethereum/EIPs assets/eip-712/Example.js
MAIL = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}


def test_eip712_example() -> None:
    signable = encode_typed_data(full_message=MAIL)
    domain_separator, struct_hash = bytes(signable.header), bytes(signable.body)
    assert domain_separator.hex() == ("f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f")
    assert struct_hash.hex() == "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"
    digest = ethereum.eip712_digest(domain_separator, struct_hash)
    assert digest.hex() == "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
    cow = keccak(text="cow")
    signature = ethereum.sign_digest(cow, digest)
    assert signature.v == 28
    assert signature.r == 0x4355C47D63924E8A72E509B65029052EB6C299D53A04E167C5775FD466751C9D
    assert signature.s == 0x07299936D304C153F6443DFA05F40FF007D72911B6F72307F996231605B91562
    expected = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"
    assert ethereum.recover_digest(digest, signature) == expected


def test_eip712_matches_eth_account(rng: random.Random) -> None:
    checked = 0
    for i in range(100):
        secret = _random_key(rng)
        message = {
            **MAIL,
            "domain": {**MAIL["domain"], "chainId": rng.randrange(1, 2**32)},  # type: ignore[dict-item]
            "message": {
                "from": {"name": f"n{i}", "wallet": Account.from_key(secret).address},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                "contents": rng.randbytes(20).hex(),
            },
        }
        signable = encode_typed_data(full_message=message)
        digest = keccak(b"\x19" + bytes(signable.version) + signable.header + signable.body)
        assert ethereum.eip712_digest(bytes(signable.header), bytes(signable.body)) == digest
        expected = Account.sign_message(signable, private_key=secret)
        signature = ethereum.sign_digest(secret, digest)
        assert signature.to_bytes() == bytes(expected.signature)
        assert ethereum.recover_digest(digest, signature) == Account.from_key(secret).address
        checked += 1
    assert checked == 100


def test_recover_rejects_malformed_signatures() -> None:
    digest = b"\x01" * 32
    good = ethereum.sign_digest(b"\x02" * 32, digest).to_bytes()
    bad_inputs = [
        good[:64],  # too short
        good + b"\x00",  # too long
        good[:64] + bytes([29]),  # v out of range
        b"\x00" * 65,  # r = s = 0
    ]
    checked = 0
    for signature in bad_inputs:
        with pytest.raises(SKMSError):
            ethereum.recover_digest(digest, signature)
        checked += 1
    assert checked == 4
    # a different digest recovers a different address (never raises)
    other = ethereum.recover_digest(b"\x03" * 32, good)
    assert other != Account.from_key(b"\x02" * 32).address


@pytest.mark.parametrize(
    ("address", "keyword"),
    [
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "checksum"),  # last letter case flipped
        ("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "checksum"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "length"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00", "length"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", "hex"),
        ("", "0x"),
    ],
)
def test_invalid_ethereum_addresses(address: str, keyword: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        ethereum.validate_address(address)
    message = str(info.value).lower()
    if keyword == "length":
        assert "length" in message or "40" in message or "20" in message, message
    elif keyword == "0x":
        assert "0x" in message or "length" in message, message
    elif keyword == "hex":
        assert "hex" in message or "character" in message, message
    else:
        assert keyword in message, message
    if keyword != "checksum":
        with pytest.raises(InvalidAddress):
            ethereum.to_checksum_address(address)
