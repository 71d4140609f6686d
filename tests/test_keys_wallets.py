"""HD wallets held by KeyService, on SQLite and PostgreSQL: the phrase is shown once, addresses
and xpubs equal skms.wallet's derivation from the same phrase, every signing scheme verifies
with skms.wallet's verification functions, and wallets import from a phrase or a seed."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from conftest import load_vectors
from skms.errors import InvalidInput, InvalidMnemonic, InvalidState, UnsupportedOperation
from skms.keys import WALLET_TYPE, KeyService
from skms.wallet import HDKey, Mnemonic, address_path, bitcoin, ethereum, solana

pytestmark = pytest.mark.anyio

T = "acme"
ABANDON = "abandon " * 11 + "about"
DIGEST = hashlib.sha256(b"a sighash").digest()
ADDRESS_CASES: list[tuple[str, str | None, str]] = [
    ("bitcoin", "p2pkh", "mainnet"),
    ("bitcoin", "p2sh-p2wpkh", "mainnet"),
    ("bitcoin", "p2wpkh", "mainnet"),
    ("bitcoin", "p2tr", "mainnet"),
    ("bitcoin", "p2wpkh", "testnet"),
    ("ethereum", None, "mainnet"),
    ("solana", None, "mainnet"),
]


def _roots(phrase: str, passphrase: str = "") -> dict[str, HDKey]:
    seed = Mnemonic.from_phrase(phrase).to_seed(passphrase)
    return {"secp256k1": HDKey.from_seed(seed), "ed25519": HDKey.from_seed(seed, "ed25519")}


def _expected_addresses(roots: dict[str, HDKey], chain: str, kind: str | None, network: str, account: int,
                        change: int, start: int, count: int) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for index in range(start, start + count):
        if chain == "solana":
            path = address_path(chain, 0, 0, index)
            node = roots["ed25519"].derive(path)
            out.append({"index": index, "path": path, "address": node.address("solana")})
        else:
            path = address_path(chain, account, change, index, kind, network)
            node = roots["secp256k1"].derive(path)
            address = node.address(chain, kind, network) if chain == "bitcoin" else node.address(chain)
            out.append({"index": index, "path": path, "address": address})
    return out


async def test_create_wallet_shows_the_phrase_once(svc: KeyService) -> None:
    info, phrase = await svc.create_wallet(T, "w", words=24, passphrase="extra", labels={"team": "custody"})
    mnemonic = Mnemonic.from_phrase(phrase)
    assert mnemonic.word_count == 24 and mnemonic.language == "english"
    assert (info.type, info.purpose, info.labels) == (WALLET_TYPE, "derive", {"team": "custody"})
    roots = _roots(phrase, "extra")
    assert info.meta["fingerprint"] == roots["secp256k1"].fingerprint.hex()
    assert info.meta["words"] == 24 and info.versions[0].public_key is None
    seed = mnemonic.to_seed("extra").expose_secret()
    for shown in (info, await svc.get_key(T, "w"), (await svc.list_keys(T))[0][0]):
        text = repr(shown)
        assert phrase not in text and " ".join(phrase.split()[:3]) not in text
        assert seed.hex() not in text and mnemonic.entropy().expose_secret().hex() not in text
    for words in (12, 15, 18, 21):
        _, phrase = await svc.create_wallet(T, f"w{words}", words=words)
        assert len(phrase.split()) == words
    _, spanish = await svc.create_wallet(T, "es", words=12, language="spanish")
    assert Mnemonic.from_phrase(spanish).language == "spanish"
    for bad in ({"words": 13}, {"words": 11}, {"language": "klingon"}):
        with pytest.raises(InvalidInput):
            await svc.create_wallet(T, "bad", **bad)


async def test_addresses_match_skms_wallet(svc: KeyService) -> None:
    _, phrase = await svc.create_wallet(T, "w", words=12, passphrase="pass")
    roots = _roots(phrase, "pass")
    for chain, kind, network in ADDRESS_CASES:
        for account, change, start, count in [(0, 0, 0, 5), (1, 1, 7, 3)]:
            if chain == "solana" and (account or change):
                continue
            got = await svc.wallet_addresses(
                T, "w", chain=chain, account=account, change=change, start=start, count=count, kind=kind,
                network=network,
            )  # fmt: skip
            assert got == _expected_addresses(roots, chain, kind, network, account, change, start, count), chain


async def test_known_addresses_and_xpub(svc: KeyService) -> None:
    """The "abandon … about" phrase against published vectors."""
    await svc.import_wallet(T, "abandon", phrase=ABANDON)
    eth = await svc.wallet_addresses(T, "abandon", chain="ethereum", count=1)
    assert eth[0]["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    btc = await svc.wallet_addresses(T, "abandon", chain="bitcoin", kind="p2wpkh", count=1)
    assert btc[0]["address"] == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    sol = await svc.wallet_addresses(T, "abandon", chain="solana", count=1)
    assert sol[0]["address"] == "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    xpub = await svc.wallet_xpub(T, "abandon", "m/84'/0'/0'")
    assert xpub["xpub"] == _roots(ABANDON)["secp256k1"].derive("m/84'/0'/0'").xpub()
    with pytest.raises(InvalidInput):
        await svc.wallet_xpub(T, "abandon", "84'/0'/0'")


async def test_wallet_sign_schemes_verify(svc: KeyService) -> None:
    _, phrase = await svc.create_wallet(T, "w", words=12)
    root = _roots(phrase)["secp256k1"]
    path = "m/44'/0'/0'/0/3"
    node = root.derive(path)

    r = await svc.wallet_sign(T, "w", path=path, scheme="bitcoin-ecdsa", digest=DIGEST)
    assert r["public_key"] == node.public_key.hex()
    assert bitcoin.verify_sighash(node.public_key, DIGEST, bytes.fromhex(r["signature"]))

    r = await svc.wallet_sign(T, "w", path="m/86'/0'/0'/0/0", scheme="bitcoin-taproot", digest=DIGEST)
    taproot = root.derive("m/86'/0'/0'/0/0")
    assert r["address"] == taproot.address("bitcoin", "p2tr")
    assert r["output_key"] == bitcoin.taproot_output_key(taproot.public_key).hex()
    assert bitcoin.verify_taproot(bytes.fromhex(r["output_key"]), DIGEST, bytes.fromhex(r["signature"]))

    r = await svc.wallet_sign(T, "w", path=path, scheme="bitcoin-message", payload=b"vires in numeris")
    assert r["address"] == node.address("bitcoin", "p2pkh")
    assert bitcoin.verify_message(r["address"], b"vires in numeris", r["signature"])
    assert not bitcoin.verify_message(r["address"], b"vires in numeris!", r["signature"])

    eth_path = "m/44'/60'/0'/0/0"
    eth_address = root.derive(eth_path).address("ethereum")
    r = await svc.wallet_sign(T, "w", path=eth_path, scheme="ethereum-personal", payload=b"login nonce 42")
    assert r["address"] == eth_address
    assert ethereum.recover_personal(b"login nonce 42", bytes.fromhex(r["signature"][2:])) == eth_address

    for chain_id in (None, 1, 137):
        r = await svc.wallet_sign(T, "w", path=eth_path, scheme="ethereum-digest", digest=DIGEST, chain_id=chain_id)
        signature = ethereum.EthereumSignature(r["v"], int(r["r"], 16), int(r["s"], 16))
        assert r["v"] in ((27, 28) if chain_id is None else (35 + 2 * chain_id, 36 + 2 * chain_id))
        assert ethereum.recover_digest(DIGEST, signature, chain_id) == eth_address == r["address"]

    sol_path = "m/44'/501'/0'/0'"
    r = await svc.wallet_sign(T, "w", path=sol_path, scheme="solana", payload=b"a transaction message")
    assert r["address"] == _roots(phrase)["ed25519"].derive(sol_path).address("solana")
    assert solana.verify(r["address"], b"a transaction message", base64.b64decode(r["signature"]))
    assert not solana.verify(r["address"], b"another message", base64.b64decode(r["signature"]))


async def test_wallet_sign_rejects(svc: KeyService) -> None:
    await svc.create_wallet(T, "w", words=12)
    bad: list[dict[str, Any]] = [
        {"scheme": "dogecoin", "digest": DIGEST},
        {"scheme": "bitcoin-ecdsa", "digest": DIGEST, "payload": b"x"},
        {"scheme": "bitcoin-ecdsa"},
        {"scheme": "bitcoin-ecdsa", "digest": DIGEST[:31]},
        {"scheme": "bitcoin-ecdsa", "payload": b"x"},
        {"scheme": "solana", "digest": DIGEST, "path": "m/44'/501'/0'/0'"},
        {"scheme": "ethereum-personal", "digest": DIGEST},
        {"scheme": "bitcoin-ecdsa", "digest": DIGEST, "path": "44'/0'/0'"},
        {"scheme": "bitcoin-ecdsa", "digest": DIGEST, "path": "m/not/a/path"},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            await svc.wallet_sign(T, "w", **{"path": "m/44'/0'/0'/0/0", **kwargs})
            pytest.fail(f"accepted {kwargs!r}")


async def test_import_wallet_from_phrase_and_seed(svc: KeyService) -> None:
    _, phrase = await svc.create_wallet(T, "original", words=24, passphrase="p")
    info = await svc.import_wallet(T, "copy", phrase=phrase, passphrase="p")
    assert info.meta["fingerprint"] == (await svc.get_key(T, "original")).meta["fingerprint"]
    for chain in ("bitcoin", "ethereum", "solana"):
        assert await svc.wallet_addresses(T, "copy", chain=chain) == await svc.wallet_addresses(
            T, "original", chain=chain
        )
    # Another passphrase is another wallet.
    other = await svc.import_wallet(T, "other", phrase=phrase, passphrase="q")
    assert other.meta["fingerprint"] != info.meta["fingerprint"]
    # From a seed: the full 64-byte BIP39 seed ...
    seed = Mnemonic.from_phrase(phrase).to_seed("p").expose_secret()
    from_seed = await svc.import_wallet(T, "seed64", seed=seed)
    assert from_seed.meta["fingerprint"] == info.meta["fingerprint"] and from_seed.meta["words"] is None
    assert await svc.wallet_addresses(T, "seed64", chain="ethereum") == await svc.wallet_addresses(
        T, "original", chain="ethereum"
    )
    # ... and a short BIP32 seed (BIP32 test vector 1).
    vector = load_vectors("bip32_test_vectors.json")["valid"][0]
    await svc.import_wallet(T, "bip32", seed=bytes.fromhex(vector["seed"]))
    for chain in vector["chains"]:
        if chain["path"] != "m":
            assert (await svc.wallet_xpub(T, "bip32", chain["path"]))["xpub"] == chain["xpub"]
    with pytest.raises(InvalidInput):
        await svc.import_wallet(T, "none")
    with pytest.raises(InvalidInput):
        await svc.import_wallet(T, "short", seed=bytes(15))
    with pytest.raises(InvalidMnemonic):
        await svc.import_wallet(T, "typo", phrase=ABANDON.replace("about", "abort"))


async def test_wallet_lifecycle_rules(svc: KeyService) -> None:
    await svc.create_wallet(T, "w", words=12)
    with pytest.raises(UnsupportedOperation):
        await svc.rotate_key(T, "w")
    await svc.set_state(T, "w", "suspended")
    with pytest.raises(InvalidState):
        await svc.wallet_sign(T, "w", path="m/44'/60'/0'/0/0", scheme="ethereum-personal", payload=b"x")
    with pytest.raises(InvalidState):
        await svc.wallet_addresses(T, "w", chain="ethereum")
    await svc.set_state(T, "w", "active")
    assert len(await svc.wallet_addresses(T, "w", chain="ethereum", count=2)) == 2
    await svc.schedule_deletion(T, "w", window=0)
    with pytest.raises(InvalidState):
        await svc.wallet_xpub(T, "w", "m/44'/60'/0'")
