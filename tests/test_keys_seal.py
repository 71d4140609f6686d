"""The seal, on SQLite and PostgreSQL: a store starts sealed; unseal by passphrase, SLIP-39
shares or key file; sealing drops decrypted secrets; root rotation rewraps data keys only
and survives being cut short. Also the SLIP-39 vectors (``tests/vectors/slip39_vectors.json``)."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import shamir_mnemonic

from conftest import load_vectors
from keys_support import OpenService, sql
from skms.errors import Conflict, InvalidInput, Sealed, UnsealFailed
from skms.keys import KeyService
from skms.keys.seal import write_keyfile
from skms.wallet import HDKey

pytestmark = pytest.mark.anyio

T = "acme"
PASSPHRASE = "correct horse battery staple"


async def _keys_with_ciphertexts(svc: KeyService, count: int = 3) -> dict[str, str]:
    out = {}
    for i in range(count):
        await svc.create_key(T, f"k{i}", "aes256-gcm")
        out[f"k{i}"] = (await svc.encrypt(T, f"k{i}", b"plain %d" % i))[0]
    return out


async def _all_decrypt(svc: KeyService, texts: dict[str, str]) -> None:
    for i, (name, text) in enumerate(texts.items()):
        assert await svc.decrypt(T, name, text) == b"plain %d" % i


# --------------------------------------------------------------------------- sealed at start


async def test_fresh_service_is_sealed(svc: KeyService, open_service: OpenService, keyfile: str) -> None:
    texts = await _keys_with_ciphertexts(svc, 1)
    await svc.create_key(T, "sig", "ed25519")
    await svc.create_wallet(T, "wallet", words=12)
    fresh = await open_service(unseal=False)
    assert fresh.sealer.sealed and await fresh.sealer.initialized()
    ops: list[Callable[[], Awaitable[Any]]] = [
        lambda: fresh.create_key(T, "new", "aes256-gcm"),
        lambda: fresh.create_wallet(T, "new-wallet"),
        lambda: fresh.encrypt(T, "k0", b"x"),
        lambda: fresh.decrypt(T, "k0", texts["k0"]),
        lambda: fresh.datakey(T, "k0"),
        lambda: fresh.sign(T, "sig", b"x"),
        lambda: fresh.rotate_key(T, "k0"),
        lambda: fresh.wallet_sign(T, "wallet", path="m/0", scheme="solana", payload=b"x"),
        lambda: fresh.sealer.rotate_root(keyfile=keyfile),
    ]
    for op in ops:
        with pytest.raises(Sealed):
            await op()
    await fresh.sealer.unseal(keyfile=keyfile)
    await _all_decrypt(fresh, texts)


async def test_uninitialized_store(open_service: OpenService, keyfile: str) -> None:
    svc = await open_service(unseal=False)
    assert not await svc.sealer.initialized()
    with pytest.raises(InvalidInput, match="not initialized"):
        await svc.sealer.unseal(keyfile=keyfile)
    with pytest.raises(Sealed):
        await svc.create_key(T, "k", "aes256-gcm")
    for method, options in [("nope", {}), ("passphrase", {"passphrase": "short"}), ("keyfile", {})]:
        with pytest.raises(InvalidInput):
            await svc.sealer.initialize(method, **options)
    with pytest.raises(InvalidInput):
        await svc.sealer.initialize("shamir", threshold=4, shares=3)
    assert not await svc.sealer.initialized()
    await svc.sealer.initialize("keyfile", keyfile=keyfile)
    with pytest.raises(Conflict):
        await svc.sealer.initialize("keyfile", keyfile=keyfile)
    other = await open_service(unseal=False)  # a second node cannot initialize again either
    with pytest.raises(Conflict):
        await other.sealer.initialize("passphrase", passphrase=PASSPHRASE)


# --------------------------------------------------------------------------- passphrase


async def test_passphrase(open_service: OpenService) -> None:
    svc = await open_service(unseal=False)
    result = await svc.sealer.initialize("passphrase", passphrase=PASSPHRASE)
    assert result.shares is None and not svc.sealer.sealed
    texts = await _keys_with_ciphertexts(svc)
    seal_row = (await sql(svc.store, "SELECT method, params FROM seal"))[0]
    assert seal_row[0] == "passphrase" and PASSPHRASE not in seal_row[1]
    node = await open_service(unseal=False)
    for wrong in [{"passphrase": PASSPHRASE + "!"}, {"passphrase": PASSPHRASE.upper()}, {}, {"shares": ["x"]}]:
        with pytest.raises(UnsealFailed):
            await node.sealer.unseal(**wrong)
        assert node.sealer.sealed
    await node.sealer.unseal(passphrase=PASSPHRASE)
    await _all_decrypt(node, texts)


# --------------------------------------------------------------------------- SLIP-39 shares


async def test_shamir_shares(open_service: OpenService, tmp_path: Path) -> None:
    svc = await open_service(unseal=False)
    result = await svc.sealer.initialize("shamir", threshold=3, shares=5)
    shares = result.shares
    assert shares is not None and len(shares) == 5
    texts = await _keys_with_ciphertexts(svc, 1)
    node = await open_service(unseal=False)
    for subset in itertools.combinations(shares, 3):
        node.sealer.seal()
        await node.sealer.unseal(shares=list(subset))
        await _all_decrypt(node, texts)
    node.sealer.seal()
    for subset in [*itertools.combinations(shares, 2), *itertools.combinations(shares, 1)]:
        with pytest.raises(UnsealFailed):
            await node.sealer.unseal(shares=list(subset))
    with pytest.raises(UnsealFailed):
        await node.sealer.unseal(shares=[shares[0], shares[0], shares[1]])  # a share twice is one share
    with pytest.raises(UnsealFailed):
        await node.sealer.unseal(shares=[shares[0], shares[1], shares[2].replace(shares[2].split()[5], "zebra")])
    with pytest.raises(UnsealFailed):
        await node.sealer.unseal(passphrase=PASSPHRASE)
    # Shares of another store's set combine to another secret, which opens nothing.
    strangers = shamir_mnemonic.generate_mnemonics(1, [(3, 5)], os.urandom(32))[0]
    with pytest.raises(UnsealFailed):
        await node.sealer.unseal(shares=strangers[:3])
    with pytest.raises(UnsealFailed):
        await node.sealer.unseal(shares=[shares[0], shares[1], strangers[2]])
    assert node.sealer.sealed


async def test_shamir_more_shares_than_threshold(open_service: OpenService) -> None:
    svc = await open_service(unseal=False)
    shares = (await svc.sealer.initialize("shamir", threshold=3, shares=5)).shares
    assert shares is not None
    svc.sealer.seal()
    await svc.sealer.unseal(shares=shares[:4])


# --------------------------------------------------------------------------- key file


async def test_keyfile(open_service: OpenService, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "dev.key"
    write_keyfile(str(path))
    assert (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(FileExistsError):
        write_keyfile(str(path))  # never overwrites
    loose = tmp_path / "loose.key"
    loose.write_bytes(os.urandom(32))
    loose.chmod(0o644)
    svc = await open_service(unseal=False)
    with pytest.raises(UnsealFailed, match="600"):
        await svc.sealer.initialize("keyfile", keyfile=str(loose))
    assert not await svc.sealer.initialized()
    with caplog.at_level(logging.WARNING, logger="skms.seal"):
        await svc.sealer.initialize("keyfile", keyfile=str(path))
    assert "development only" in caplog.text
    texts = await _keys_with_ciphertexts(svc, 1)
    node = await open_service(unseal=False)
    for mode in (0o644, 0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(UnsealFailed, match="600"):
            await node.sealer.unseal(keyfile=str(path))
    path.chmod(0o400)
    with pytest.raises(UnsealFailed, match="32 bytes as key"):
        await node.sealer.unseal()  # no material: a key-file store never opens by itself
    await node.sealer.unseal(keyfile=str(path))  # the server's own start: its configured path
    await _all_decrypt(node, texts)
    node.sealer.seal()
    await node.sealer.unseal(key=path.read_bytes())  # a remote operator: the file's 32 bytes
    await _all_decrypt(node, texts)
    node.sealer.seal()
    for wrong in ({"key": os.urandom(32)}, {"key": path.read_bytes()[:31]}, {"passphrase": "p" * 20},
                  {"shares": ["x"]}):  # fmt: skip
        with pytest.raises(UnsealFailed):
            await node.sealer.unseal(**wrong)
    other = tmp_path / "other.key"
    write_keyfile(str(other))
    short = tmp_path / "short.key"
    short.write_bytes(os.urandom(31))
    short.chmod(0o600)
    for bad in (other, short, tmp_path / "missing.key"):
        with pytest.raises(UnsealFailed):
            await node.sealer.unseal(keyfile=str(bad))
    assert node.sealer.sealed


# --------------------------------------------------------------------------- seal()


async def test_seal_drops_decrypted_material(svc: KeyService, keyfile: str) -> None:
    texts = await _keys_with_ciphertexts(svc, 2)
    await svc.create_key(T, "sig", "ecdsa-secp256k1")
    await svc.sign(T, "sig", b"m")
    await svc.create_wallet(T, "wallet", words=12)
    await svc.wallet_sign(T, "wallet", path="m/44'/0'/0'/0/0", scheme="bitcoin-message", payload=b"m")
    assert len(svc._materials) >= 4 and len(svc._deks) >= 4
    hooks: list[str] = []
    svc.sealer.on_seal.append(lambda: hooks.append("sealed"))
    svc.sealer.seal()
    assert svc.sealer.sealed and hooks == ["sealed"]
    assert (len(svc._materials), len(svc._deks), len(svc._meta)) == (0, 0, 0)
    ops: list[Callable[[], Awaitable[Any]]] = [
        lambda: svc.decrypt(T, "k0", texts["k0"]),
        lambda: svc.encrypt(T, "k1", b"x"),
        lambda: svc.sign(T, "sig", b"m"),
        lambda: svc.wallet_sign(T, "wallet", path="m/44'/0'/0'/0/0", scheme="bitcoin-message", payload=b"m"),
        lambda: svc.create_key(T, "new", "aes256-gcm"),
    ]
    for op in ops:
        with pytest.raises(Sealed):
            await op()
    await svc.sealer.unseal(keyfile=keyfile)
    await _all_decrypt(svc, texts)


# --------------------------------------------------------------------------- root rotation


async def _root_ids(svc: KeyService) -> dict[str, int]:
    return {name: rid for name, rid in await sql(svc.store, "SELECT name, root_id FROM keys")}


async def test_rotate_root(open_service: OpenService) -> None:
    svc = await open_service(unseal=False)
    await svc.sealer.initialize("passphrase", passphrase=PASSPHRASE)
    texts = await _keys_with_ciphertexts(svc, 4)
    await svc.create_wallet(T, "wallet", words=12)
    address = (await svc.wallet_addresses(T, "wallet", chain="ethereum", count=1))[0]["address"]
    deks_before = dict(await sql(svc.store, "SELECT id, wrapped_dek FROM keys"))
    materials_before = dict(await sql(svc.store, "SELECT key_id || ':' || version, material FROM key_versions"))
    with pytest.raises(UnsealFailed):
        await svc.sealer.rotate_root(passphrase="not the passphrase")
    assert set((await _root_ids(svc)).values()) == {1}
    assert await svc.sealer.rotate_root(passphrase=PASSPHRASE) == 2
    assert set((await _root_ids(svc)).values()) == {2}
    deks_after = dict(await sql(svc.store, "SELECT id, wrapped_dek FROM keys"))
    assert all(deks_after[k] != deks_before[k] for k in deks_before)  # every data key rewrapped
    # Key material is not rewritten: only data keys are.
    assert dict(await sql(svc.store, "SELECT key_id || ':' || version, material FROM key_versions")) == materials_before
    root_id, params = (await sql(svc.store, "SELECT root_id, params FROM seal"))[0]
    # Retired roots stay in the record for nodes that have not seen the rotation yet.
    assert root_id == 2 and '"root_id":1' in params
    await _all_decrypt(svc, texts)
    svc.purge()
    await _all_decrypt(svc, texts)
    # Another node unseals with the same passphrase and reads everything.
    node = await open_service(unseal=False)
    await node.sealer.unseal(passphrase=PASSPHRASE)
    await _all_decrypt(node, texts)
    assert (await node.wallet_addresses(T, "wallet", chain="ethereum", count=1))[0]["address"] == address
    assert await node.sealer.rotate_root(passphrase=PASSPHRASE) == 3
    await _all_decrypt(node, texts)


async def test_rotate_root_cut_short(svc: KeyService, open_service: OpenService, keyfile: str) -> None:
    texts = await _keys_with_ciphertexts(svc, 7)
    store = svc.store
    all_keys, rewrap_deks = store.all_keys, store.rewrap_deks
    calls: list[int] = []

    async def small_batches(after: str | None, limit: int) -> Any:
        return await all_keys(after, 2)

    async def crash_after_first_batch(updates: Any) -> None:
        calls.append(len(updates))
        if len(calls) > 1:
            raise RuntimeError("power cut")
        await rewrap_deks(updates)

    store.all_keys = small_batches  # type: ignore[method-assign]
    store.rewrap_deks = crash_after_first_batch  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="power cut"):
        await svc.sealer.rotate_root(keyfile=keyfile)
    store.all_keys, store.rewrap_deks = all_keys, rewrap_deks  # type: ignore[method-assign]
    assert sorted((await _root_ids(svc)).values()) == [1] * 5 + [2] * 2
    # A restarted node unseals with both roots and reads every key.
    node = await open_service(unseal=False)
    await node.sealer.unseal(keyfile=keyfile)
    await _all_decrypt(node, texts)
    await node.create_key(T, "during", "aes256-gcm")
    texts["during"] = (await node.encrypt(T, "during", b"plain 7"))[0]
    svc.purge()
    await _all_decrypt(svc, texts)
    # The next rotation finishes the job.
    assert await node.sealer.rotate_root(keyfile=keyfile) == 3
    assert set((await _root_ids(svc)).values()) == {3}
    assert '"previous"' in (await sql(svc.store, "SELECT params FROM seal"))[0][0]
    last = await open_service(unseal=False)
    await last.sealer.unseal(keyfile=keyfile)
    await _all_decrypt(last, texts)


async def test_rotate_root_other_node_keeps_working(svc: KeyService, open_service: OpenService, keyfile: str) -> None:
    texts = await _keys_with_ciphertexts(svc, 2)
    other = await open_service()
    await svc.sealer.rotate_root(keyfile=keyfile)
    await _all_decrypt(other, texts)


async def test_key_created_on_stale_node_survives(svc: KeyService, open_service: OpenService, keyfile: str) -> None:
    stale = await open_service()
    await svc.sealer.rotate_root(keyfile=keyfile)
    await stale.create_key(T, "late", "aes256-gcm")  # acknowledged
    text, _ = await stale.encrypt(T, "late", b"plain 0")
    restarted = await open_service()
    await _all_decrypt(restarted, {"late": text})


# --------------------------------------------------------------------------- SLIP-39 vectors

SLIP39 = load_vectors("slip39_vectors.json")


@pytest.mark.parametrize(
    ("mnemonics", "secret", "xprv"),
    [pytest.param(m, s, x, id=d.split(".")[0]) for d, m, s, x in SLIP39],
)
def test_slip39_vectors(mnemonics: list[str], secret: str, xprv: str) -> None:
    if not secret:
        with pytest.raises(shamir_mnemonic.MnemonicError):
            shamir_mnemonic.combine_mnemonics(mnemonics, passphrase=b"TREZOR")
        return
    master = shamir_mnemonic.combine_mnemonics(mnemonics, passphrase=b"TREZOR")
    assert master.hex() == secret
    assert HDKey.from_seed(master).xprv() == xprv


def test_slip39_vectors_cover_both_outcomes() -> None:
    assert len(SLIP39) == 45
    assert sum(1 for v in SLIP39 if v[2]) == 15
