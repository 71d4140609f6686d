"""HD wallets over HTTP, checked against independent derivations of the mnemonic the server returned.

Addresses: bip_utils (Bitcoin P2PKH, P2SH-P2WPKH, P2WPKH, P2TR), eth-account
(Ethereum) and solders (Solana). Signatures by path: eth-account (personal_sign,
digests with EIP-155 chain ids), coincurve (Bitcoin ECDSA, BIP340 against the
taproot output key), solders and PyNaCl (Solana), and
``skms.wallet.bitcoin.verify_message`` (Bitcoin signed messages).
"""

from __future__ import annotations

import os
from typing import Any

import coincurve
import httpx
import nacl.signing
import pytest
from bip_utils import (
    Bip32Slip10Secp256k1,
    Bip39SeedGenerator,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip49,
    Bip49Coins,
    Bip84,
    Bip84Coins,
    Bip86,
    Bip86Coins,
    CoinsConf,
    P2PKHAddrEncoder,
    P2TRAddrDecoder,
)
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from server_process import ServerProcess, assert_problem, b64, server_fixture, unb64
from skms.wallet.bitcoin import verify_message

server = server_fixture()
Account.enable_unaudited_hdwallet_features()

PASSPHRASE = "correct horse battery staple"
BIP = {
    ("p2pkh", "mainnet"): (Bip44, Bip44Coins.BITCOIN),
    ("p2pkh", "testnet"): (Bip44, Bip44Coins.BITCOIN_TESTNET),
    ("p2sh-p2wpkh", "mainnet"): (Bip49, Bip49Coins.BITCOIN),
    ("p2sh-p2wpkh", "testnet"): (Bip49, Bip49Coins.BITCOIN_TESTNET),
    ("p2wpkh", "mainnet"): (Bip84, Bip84Coins.BITCOIN),
    ("p2wpkh", "testnet"): (Bip84, Bip84Coins.BITCOIN_TESTNET),
    ("p2tr", "mainnet"): (Bip86, Bip86Coins.BITCOIN),
    ("p2tr", "testnet"): (Bip86, Bip86Coins.BITCOIN_TESTNET),
}
PURPOSE = {"p2pkh": 44, "p2sh-p2wpkh": 49, "p2wpkh": 84, "p2tr": 86}


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    return server.client()


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}"
    body: dict[str, Any] = r.json()
    return body


class Wallet:
    """A wallet created on the server, with its mnemonic and seed for the oracles."""

    def __init__(self, name: str, mnemonic: str, passphrase: str, created: dict[str, Any]) -> None:
        self.name = name
        self.mnemonic = mnemonic
        self.passphrase = passphrase
        self.created = created
        self.seed = Bip39SeedGenerator(mnemonic).Generate(passphrase)

    def bitcoin(self, kind: str, network: str, account: int, change: int, index: int) -> Any:
        cls, coin = BIP[(kind, network)]
        branch = Bip44Changes.CHAIN_INT if change else Bip44Changes.CHAIN_EXT
        return cls.FromSeed(self.seed, coin).Purpose().Coin().Account(account).Change(branch).AddressIndex(index)


@pytest.fixture(scope="module")
def wallet(server: ServerProcess, api: httpx.Client) -> Wallet:
    r = api.post("/v1/wallets", json={"name": "treasury", "words": 12, "passphrase": PASSPHRASE})
    assert r.status_code == 201, r.text
    body = r.json()
    server.secret(PASSPHRASE)
    mnemonic = server.secret(body["mnemonic"])
    assert isinstance(mnemonic, str)
    return Wallet("treasury", mnemonic, PASSPHRASE, body)


def addresses(api: httpx.Client, wallet: str, **request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = ok(api.post(f"/v1/wallets/{wallet}/addresses", json=request))["addresses"]
    return out


def sign(api: httpx.Client, wallet: str, **request: Any) -> dict[str, Any]:
    return ok(api.post(f"/v1/wallets/{wallet}/sign", json=request))


# -- creation ---------------------------------------------------------------------------------------


def test_mnemonic_is_shown_once(server: ServerProcess, api: httpx.Client, wallet: Wallet) -> None:
    created = wallet.created
    assert len(wallet.mnemonic.split()) == 12
    info = created["wallet"]
    assert info["name"] == "treasury" and info["words"] == 12 and info["language"] == "english"
    assert info["state"] == "active"
    master = Bip32Slip10Secp256k1.FromSeed(wallet.seed).PublicKey().FingerPrint().ToBytes().hex()
    assert info["fingerprint"] == master
    shown = ok(api.get("/v1/wallets/treasury"))
    assert "mnemonic" not in shown and shown["fingerprint"] == master
    assert {k: v for k, v in shown.items() if k != "policy"} == {k: v for k, v in info.items() if k != "policy"}
    # No other read shows the phrase (nor any three of its words in a row) either.
    reads = [api.get("/v1/wallets/treasury"), api.get("/v1/keys/treasury"), api.get("/v1/keys", params={"limit": 1000})]
    words = wallet.mnemonic.split()
    for r in reads:
        assert r.status_code == 200
        assert all(" ".join(words[i : i + 3]) not in r.text for i in range(len(words) - 2))
    assert ok(api.get("/v1/keys/treasury"))["type"] == "hd-wallet"


def test_default_wallet_has_24_words(server: ServerProcess, api: httpx.Client) -> None:
    r = api.post("/v1/wallets", json={"name": "default-words"})
    assert r.status_code == 201, r.text
    mnemonic = server.secret(r.json()["mnemonic"])
    assert isinstance(mnemonic, str) and len(mnemonic.split()) == 24
    assert r.json()["wallet"]["words"] == 24


def test_import_phrase_derives_the_same_addresses(server: ServerProcess, api: httpx.Client, wallet: Wallet) -> None:
    body = {"name": "treasury-copy", "phrase": wallet.mnemonic, "passphrase": PASSPHRASE}
    r = api.post("/v1/wallets", json=body)
    assert r.status_code == 201, r.text
    assert "mnemonic" not in r.json()  # nothing new to show
    assert r.json()["wallet"]["fingerprint"] == wallet.created["wallet"]["fingerprint"]
    for chain in ("bitcoin", "ethereum", "solana"):
        assert addresses(api, "treasury-copy", chain=chain, count=3) == addresses(api, "treasury", chain=chain, count=3)
    assert_problem(api.post("/v1/wallets", json=body | {"name": "treasury"}), 409)
    bad = {"name": "bad-phrase", "phrase": " ".join([*wallet.mnemonic.split()[:-1], "notaword"])}
    assert_problem(api.post("/v1/wallets", json=bad), 400)


# -- addresses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr"])
def test_bitcoin_addresses(api: httpx.Client, wallet: Wallet, kind: str) -> None:
    got = addresses(api, wallet.name, chain="bitcoin", kind=kind, count=5)
    assert [a["index"] for a in got] == [0, 1, 2, 3, 4]
    for a in got:
        assert a["path"] == f"m/{PURPOSE[kind]}'/0'/0'/0/{a['index']}"
        assert a["address"] == wallet.bitcoin(kind, "mainnet", 0, 0, a["index"]).PublicKey().ToAddress()
    # Another account, the change branch, an offset start, and testnet.
    got = addresses(api, wallet.name, chain="bitcoin", kind=kind, account=2, change=1, start=7, count=2)
    assert [(a["index"], a["path"]) for a in got] == [(i, f"m/{PURPOSE[kind]}'/0'/2'/1/{i}") for i in (7, 8)]
    for a in got:
        assert a["address"] == wallet.bitcoin(kind, "mainnet", 2, 1, a["index"]).PublicKey().ToAddress()
    got = addresses(api, wallet.name, chain="bitcoin", kind=kind, network="testnet", count=2)
    for a in got:
        assert a["path"] == f"m/{PURPOSE[kind]}'/1'/0'/0/{a['index']}"
        assert a["address"] == wallet.bitcoin(kind, "testnet", 0, 0, a["index"]).PublicKey().ToAddress()


def test_bitcoin_default_kind_is_p2wpkh(api: httpx.Client, wallet: Wallet) -> None:
    assert addresses(api, wallet.name, chain="bitcoin", count=3) == addresses(
        api, wallet.name, chain="bitcoin", kind="p2wpkh", count=3
    )


def test_ethereum_addresses(api: httpx.Client, wallet: Wallet) -> None:
    for account, change, start in ((0, 0, 0), (1, 0, 5), (0, 1, 2)):
        got = addresses(api, wallet.name, chain="ethereum", account=account, change=change, start=start, count=4)
        for a in got:
            path = f"m/44'/60'/{account}'/{change}/{a['index']}"
            assert a["path"] == path
            assert is_checksum_address(a["address"])  # EIP-55
            expected = Account.from_mnemonic(wallet.mnemonic, passphrase=wallet.passphrase, account_path=path)
            assert a["address"] == expected.address


def test_solana_addresses(api: httpx.Client, wallet: Wallet) -> None:
    got = addresses(api, wallet.name, chain="solana", start=3, count=4)
    assert [a["index"] for a in got] == [3, 4, 5, 6]
    for a in got:
        assert a["path"] == f"m/44'/501'/{a['index']}'/0'"
        keypair = Keypair.from_seed_and_derivation_path(wallet.seed, a["path"])
        assert a["address"] == str(keypair.pubkey())


def test_many_addresses_in_one_request(api: httpx.Client, wallet: Wallet) -> None:
    got = addresses(api, wallet.name, chain="ethereum", count=500)
    assert [a["index"] for a in got] == list(range(500))
    last = Account.from_mnemonic(wallet.mnemonic, passphrase=wallet.passphrase, account_path="m/44'/60'/0'/0/499")
    assert got[-1]["address"] == last.address
    assert len({a["address"] for a in got}) == 500


@pytest.mark.parametrize("path", ["m/84'/0'/0'", "m/44'/0'/0'", "m/44'/60'/0'/0", "m/86'/0'/3'"])
def test_xpub_at_a_path(api: httpx.Client, wallet: Wallet, path: str) -> None:
    node = Bip32Slip10Secp256k1.FromSeed(wallet.seed).DerivePath(path)
    out = ok(api.get(f"/v1/wallets/{wallet.name}/xpub", params={"path": path}))
    assert out["path"] == path
    assert out["xpub"] == node.PublicKey().ToExtended()
    assert out["fingerprint"] == node.PublicKey().FingerPrint().ToBytes().hex()
    assert not out["xpub"].startswith("xprv")


def test_xpub_default_path_is_bip84_account_0(api: httpx.Client, wallet: Wallet) -> None:
    out = ok(api.get(f"/v1/wallets/{wallet.name}/xpub"))
    assert out["path"] == "m/84'/0'/0'"
    assert out["xpub"] == Bip32Slip10Secp256k1.FromSeed(wallet.seed).DerivePath("m/84'/0'/0'").PublicKey().ToExtended()


# -- signatures by path -----------------------------------------------------------------------------


def test_ethereum_personal_sign(api: httpx.Client, wallet: Wallet) -> None:
    message = b"Sign in to example.org: nonce 42"
    out = sign(api, wallet.name, scheme="ethereum-personal", chain="ethereum", index=3, payload=b64(message))
    expected = Account.from_mnemonic(wallet.mnemonic, passphrase=wallet.passphrase, account_path="m/44'/60'/0'/0/3")
    assert out["address"] == expected.address
    assert Account.recover_message(encode_defunct(primitive=message), signature=out["signature"]) == expected.address
    # The same key by explicit path gives a signature that recovers to the same address.
    by_path = sign(api, wallet.name, scheme="ethereum-personal", path="m/44'/60'/0'/0/3", payload=b64(message))
    assert Account.recover_message(encode_defunct(primitive=message), signature=by_path["signature"]) == out["address"]


@pytest.mark.parametrize("chain_id", [None, 1, 137, 11155111])
def test_ethereum_digest_sign(api: httpx.Client, wallet: Wallet, chain_id: int | None) -> None:
    digest = os.urandom(32)
    request: dict[str, Any] = {"scheme": "ethereum-digest", "path": "m/44'/60'/0'/0/0", "digest": b64(digest)}
    if chain_id is not None:
        request["chain_id"] = chain_id
    out = sign(api, wallet.name, **request)
    expected = Account.from_mnemonic(wallet.mnemonic, passphrase=wallet.passphrase, account_path="m/44'/60'/0'/0/0")
    assert out["address"] == expected.address
    v, r, s = out["v"], int(out["r"], 16), int(out["s"], 16)
    if chain_id is None:
        assert v in (27, 28)
    else:
        assert v - 35 - 2 * chain_id in (0, 1)  # EIP-155
    assert Account._recover_hash(digest, vrs=(v, r, s)) == expected.address
    signature = bytes.fromhex(out["signature"].removeprefix("0x"))
    assert signature[:32] == r.to_bytes(32, "big") and signature[32:64] == s.to_bytes(32, "big")
    assert s <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0  # low s (EIP-2)


def test_bitcoin_ecdsa_sign(api: httpx.Client, wallet: Wallet) -> None:
    digest = os.urandom(32)
    out = sign(api, wallet.name, scheme="bitcoin-ecdsa", chain="bitcoin", kind="p2wpkh", index=4, digest=b64(digest))
    node = wallet.bitcoin("p2wpkh", "mainnet", 0, 0, 4)
    public = node.PublicKey().RawCompressed().ToBytes()
    assert bytes.fromhex(out["public_key"]) == public
    assert coincurve.PublicKey(public).verify(bytes.fromhex(out["signature"]), digest, hasher=None)
    assert not coincurve.PublicKey(public).verify(bytes.fromhex(out["signature"]), os.urandom(32), hasher=None)


def test_bitcoin_taproot_sign(api: httpx.Client, wallet: Wallet) -> None:
    digest = os.urandom(32)
    out = sign(api, wallet.name, scheme="bitcoin-taproot", chain="bitcoin", kind="p2tr", index=2, digest=b64(digest))
    expected_address = wallet.bitcoin("p2tr", "mainnet", 0, 0, 2).PublicKey().ToAddress()
    assert out["address"] == expected_address
    output_key = bytes.fromhex(out["output_key"])
    assert P2TRAddrDecoder.DecodeAddr(expected_address, hrp="bc") == output_key  # BIP86 tweak applied
    assert coincurve.PublicKeyXOnly(output_key).verify(bytes.fromhex(out["signature"]), digest)
    assert not coincurve.PublicKeyXOnly(output_key).verify(bytes.fromhex(out["signature"]), os.urandom(32))


def test_bitcoin_message_sign(api: httpx.Client, wallet: Wallet) -> None:
    message = b"I own this address"
    out = sign(api, wallet.name, scheme="bitcoin-message", chain="bitcoin", kind="p2pkh", index=1, payload=b64(message))
    assert out["address"] == wallet.bitcoin("p2pkh", "mainnet", 0, 0, 1).PublicKey().ToAddress()
    assert verify_message(out["address"], message, out["signature"])
    assert not verify_message(out["address"], message + b".", out["signature"])
    # A segwit path: the signature recovers to that key, whose P2WPKH address verifies too (Electrum style).
    segwit = sign(api, wallet.name, scheme="bitcoin-message", chain="bitcoin", index=1, payload=b64(message))
    node = wallet.bitcoin("p2wpkh", "mainnet", 0, 0, 1)
    net = CoinsConf.BitcoinMainNet.ParamByKey("p2pkh_net_ver")
    assert segwit["address"] == P2PKHAddrEncoder.EncodeKey(node.PublicKey().RawCompressed().ToBytes(), net_ver=net)
    assert verify_message(node.PublicKey().ToAddress(), message, segwit["signature"])


def test_solana_sign(api: httpx.Client, wallet: Wallet) -> None:
    message = os.urandom(120)  # a serialized transaction message, say
    out = sign(api, wallet.name, scheme="solana", chain="solana", index=5, payload=b64(message))
    keypair = Keypair.from_seed_and_derivation_path(wallet.seed, "m/44'/501'/5'/0'")
    assert out["address"] == str(keypair.pubkey())
    signature = unb64(out["signature"])
    assert Signature.from_bytes(signature).verify(Pubkey.from_string(out["address"]), message)
    nacl.signing.VerifyKey(bytes(keypair.pubkey())).verify(message, signature)
    assert Signature.from_bytes(signature) == keypair.sign_message(message)  # Ed25519 is deterministic


# -- refusals ---------------------------------------------------------------------------------------


def test_wallet_refusals(api: httpx.Client, wallet: Wallet) -> None:
    name = wallet.name
    digest = b64(os.urandom(32))
    cases = [
        {"scheme": "ethereum-digest", "path": "m/44'/60'/0'/0/0"},  # neither payload nor digest
        {"scheme": "ethereum-digest", "path": "m/44'/60'/0'/0/0", "digest": digest, "payload": "AA=="},  # both
        {"scheme": "bitcoin-ecdsa", "path": "m/84'/0'/0'/0/0", "digest": b64(b"short")},
        {"scheme": "solana", "chain": "solana", "digest": digest},
        {"scheme": "ethereum-personal", "chain": "ethereum", "digest": digest},
        {"scheme": "bitcoin-taproot", "path": "not/a/path", "digest": digest},
        {"scheme": "bitcoin-ecdsa", "digest": digest},  # neither path nor chain
        {"scheme": "solana", "chain": "solana", "account": 1, "payload": "AA=="},
    ]
    for request in cases:
        assert_problem(api.post(f"/v1/wallets/{name}/sign", json=request), 400)
    assert_problem(api.post(f"/v1/wallets/{name}/addresses", json={"chain": "bitcoin", "count": 0}), 400)
    assert_problem(api.post(f"/v1/wallets/{name}/addresses", json={"chain": "ethereum", "kind": "p2tr"}), 400)
    assert_problem(api.post(f"/v1/wallets/{name}/addresses", json={"chain": "solana", "change": 1}), 400)
    assert_problem(api.post(f"/v1/wallets/{name}/addresses", json={"chain": "bitcoin", "account": 2**31}), 400)
    assert_problem(api.get(f"/v1/wallets/{name}/xpub", params={"path": "m/x"}), 400)
    # A wallet is not a key for key operations, and a key is not a wallet.
    assert_problem(api.post(f"/v1/keys/{name}/encrypt", json={"plaintext": "AA=="}), 422)
    assert_problem(api.post(f"/v1/keys/{name}/rotate"), 422)
    assert api.post("/v1/keys", json={"name": "plain-key", "type": "ed25519"}).status_code == 201
    assert_problem(api.get("/v1/wallets/plain-key"), 422)
    assert_problem(api.post("/v1/wallets/plain-key/addresses", json={"chain": "bitcoin"}), 422)
    assert_problem(api.get("/v1/wallets/nobody"), 404)
    assert_problem(api.post("/v1/wallets/nobody/sign", json={"scheme": "solana", "chain": "solana"}), 404)
