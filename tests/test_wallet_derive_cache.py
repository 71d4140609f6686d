"""HDKey.derive keeps the parent nodes of recent paths; every result must equal a fresh root's."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import SEED
from skms.errors import SKMSError
from skms.wallet import HDKey

CACHED_PARENTS = 8  # node_cache::CAPACITY


def _seed() -> bytes:
    return random.Random(f"{SEED}-derive-cache").randbytes(64)


def _fields(key: HDKey) -> tuple[object, ...]:
    """Everything a key shows, secret included."""
    private = key.private_key.expose_secret() if key.is_private else None
    xprv = key.xprv() if key.is_private else None
    return (
        key.curve,
        key.path,
        key.depth,
        key.child_number,
        key.network,
        key.fingerprint,
        key.parent_fingerprint,
        key.chain_code,
        key.public_key,
        private,
        xprv,
        key.xpub(),
    )


def _fresh(public: bool = False, curve: str = "secp256k1") -> HDKey:
    """A new root, so an empty cache: private, or its xpub imported."""
    root = HDKey.from_seed(_seed(), curve=curve)
    return HDKey.from_extended(root.xpub(), curve=curve) if public else root


def _assert_same(cached_root: HDKey, path: str, public: bool = False, curve: str = "secp256k1") -> None:
    """cached_root.derive(path) equals the same derivation from a fresh root, errors included."""
    try:
        expected = _fields(_fresh(public, curve).derive(path))
    except SKMSError as error:
        with pytest.raises(type(error)) as caught:
            cached_root.derive(path)
        assert str(caught.value) == str(error)
        return
    assert _fields(cached_root.derive(path)) == expected, path


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_repeated_and_interleaved_paths(public: bool) -> None:
    root = _fresh(public)
    paths = []
    for i in [0, 1, 2, 3, 1000, 2**31 - 1]:
        paths += [f"m/44'/0'/0'/0/{i}", f"m/44'/0'/0'/1/{i}", f"m/84'/0'/0'/0/{i}", f"m/0/1/{i}", f"m/0/1/{i}"]
    if public:
        paths = [p for p in paths if "'" not in p]
    for _ in range(2):
        for path in paths:
            _assert_same(root, path, public)


def test_hardened_and_normal_mixes() -> None:
    root = _fresh()
    for i in range(4):
        for path in [
            f"m/44'/0'/0'/0'/{i}",
            f"m/44'/0'/0'/0/{i}'",
            f"m/44'/0'/0'/0'/{i}'",
            f"m/44/0/{i}",
            f"m/44/0'/{i}",
            f"m/{i}",
            f"m/{i}'",
            "m",
        ]:
            _assert_same(root, path)


def test_relative_paths_below_an_account() -> None:
    account = _fresh().derive("m/44'/60'/0'")
    watch = account.neuter()
    imported = HDKey.from_extended(account.xpub())
    for i in range(5):
        for key in (account, watch, imported):
            got = key.derive(f"0/{i}")
            assert got.public_key == account.derive_child(0).derive_child(i).public_key
            assert got.parent_fingerprint == account.derive_child(0).fingerprint
            assert got.depth == 5
        assert account.derive(f"0/{i}").path == f"m/44'/60'/0'/0/{i}"
        assert imported.derive(f"0/{i}").path is None


def test_more_parents_than_the_cache_holds() -> None:
    root = _fresh()
    accounts = range(CACHED_PARENTS + 4)
    for i in range(3):
        for account in accounts:
            _assert_same(root, f"m/44'/0'/{account}'/0/{i}")


def test_other_curves() -> None:
    for curve in ("ed25519", "nist256p1"):
        root = _fresh(curve=curve)
        for i in range(3):
            _assert_same(root, f"m/44'/501'/0'/{i}'", curve=curve)
            _assert_same(root, f"m/44'/501'/0'/{i}", curve=curve)  # refused on ed25519


def test_errors_unchanged() -> None:
    public_root = _fresh(public=True)
    account = _fresh().derive("m/44'/0'/0'").neuter()
    for _ in range(2):
        _assert_same(public_root, "m/0'/1", public=True)  # hardened from a public key
        _assert_same(public_root, "m/0/1'", public=True)
        with pytest.raises(SKMSError):
            account.derive("m/0/1")  # absolute path below the root
        with pytest.raises(SKMSError):
            account.derive("0/1'")


def test_threads_share_one_root() -> None:
    root = _fresh()
    paths = [f"m/44'/0'/{n % (CACHED_PARENTS + 2)}'/{n % 2}/{n}" for n in range(400)]
    expected = [_fields(_fresh().derive(p)) for p in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: _fields(root.derive(p)), paths))
    assert results == expected
