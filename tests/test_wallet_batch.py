"""derive_addresses (native, all cores) against one-key-at-a-time derivation."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from bip_utils import Bip44Changes, Bip84, Bip84Coins

from skms.errors import InvalidInput, SKMSError
from skms.wallet import HDKey, derive_addresses

HARDENED = 2**31


@pytest.fixture(scope="module")
def root() -> HDKey:
    return HDKey.from_seed(random.Random(7).randbytes(64))


@pytest.fixture(scope="module")
def ed_root() -> HDKey:
    return HDKey.from_seed(random.Random(7).randbytes(64), curve="ed25519")


def _expected_path(key: HDKey, prefix: str, index: str) -> set[str]:
    """The contract gives prefix + "/i"; a relative prefix under a key with a known path may
    also come back as the full path."""
    relative = f"{prefix}/{index}"
    if prefix.startswith("m") or key.path is None:
        return {relative}
    return {relative, f"{key.path}/{relative}"}


SECP_CASES = [
    ("ethereum", None, "mainnet", "m/44'/60'/0'"),
    ("bitcoin", "p2wpkh", "mainnet", "m/84'/0'/0'"),
    ("bitcoin", "p2tr", "mainnet", "m/86'/0'/0'"),
    ("bitcoin", "p2pkh", "mainnet", "m/44'/0'/0'"),
    ("bitcoin", "p2sh-p2wpkh", "mainnet", "m/49'/0'/0'"),
    ("bitcoin", "p2wpkh", "testnet", "m/84'/1'/0'"),
    ("bitcoin", "p2tr", "testnet", "m/86'/1'/0'"),
]


@pytest.mark.parametrize(
    ("chain", "kind", "network", "account_path"),
    SECP_CASES,
    ids=[f"{c}-{k}-{n}" for c, k, n, _ in SECP_CASES],
)
def test_batch_equals_single(root: HDKey, chain: str, kind: str | None, network: str, account_path: str) -> None:
    count = 300
    account = root.derive(account_path)
    expected = [root.derive(f"{account_path}/0/{i}").address(chain, kind=kind, network=network) for i in range(count)]
    # from the root, with the absolute prefix
    from_root = derive_addresses(root, f"{account_path}/0", 0, count, chain, kind, network)
    assert [a for _, a in from_root] == expected
    assert [p for p, _ in from_root] == [f"{account_path}/0/{i}" for i in range(count)]
    # from the account's watch-only key (derived, then neutered), relative prefix
    watch = account.neuter()
    from_watch = derive_addresses(watch, "0", 0, count, chain, kind, network)
    assert [a for _, a in from_watch] == expected
    for i, (path, _) in enumerate(from_watch):
        assert path in _expected_path(watch, "0", str(i)), path
    # from the account's xpub string (no known path)
    imported = HDKey.from_extended(account.xpub("tpub" if network == "testnet" else "xpub"))
    assert imported.path is None
    from_xpub = derive_addresses(imported, "0", 0, count, chain, kind)  # network from the key
    assert from_xpub == [(f"0/{i}", a) for i, a in enumerate(expected)]
    # start in the middle
    middle = derive_addresses(imported, "0", 123, 10, chain, kind)
    assert [a for _, a in middle] == expected[123:133]
    assert [p for p, _ in middle] == [f"0/{i}" for i in range(123, 133)]


def test_batch_matches_bip_utils(root: HDKey) -> None:
    seed = random.Random(7).randbytes(64)
    change = Bip84.FromSeed(seed, Bip84Coins.BITCOIN).Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT)
    expected = [change.AddressIndex(i).PublicKey().ToAddress() for i in range(200)]
    got = derive_addresses(root, "m/84'/0'/0'/0", 0, 200, "bitcoin", "p2wpkh")
    assert [a for _, a in got] == expected


def test_large_batch_keeps_order(root: HDKey) -> None:
    # large enough to be split across threads; spot-check positions
    count = 20_000
    account = HDKey.from_extended(root.derive("m/44'/60'/0'").xpub())
    batch = derive_addresses(account, "0", 0, count, "ethereum")
    assert len(batch) == count
    rng = random.Random(3)
    checked = 0
    for i in [0, 1, count // 2 - 1, count // 2, count - 1, *rng.sample(range(count), 40)]:
        assert batch[i] == (f"0/{i}", account.derive(f"0/{i}").address("ethereum"))
        checked += 1
    assert checked == 45
    assert len({a for _, a in batch}) == count


def test_solana_template(ed_root: HDKey) -> None:
    template = "m/44'/501'/{index}'/0'"
    batch = derive_addresses(ed_root, template, 0, 50, "solana")
    expected = [(f"m/44'/501'/{i}'/0'", ed_root.derive(f"m/44'/501'/{i}'/0'").address("solana")) for i in range(50)]
    assert batch == expected
    shifted = derive_addresses(ed_root, template, 1000, 5, "solana")
    assert shifted == [
        (f"m/44'/501'/{i}'/0'", ed_root.derive(f"m/44'/501'/{i}'/0'").address("solana")) for i in range(1000, 1005)
    ]


def test_ed25519_prefix_is_hardened(ed_root: HDKey) -> None:
    batch = derive_addresses(ed_root, "m/44'/501'", 0, 10, "solana")
    assert batch == [(f"m/44'/501'/{i}'", ed_root.derive(f"m/44'/501'/{i}'").address("solana")) for i in range(10)]


def test_secp256k1_template(root: HDKey) -> None:
    batch = derive_addresses(root, "m/44'/60'/{index}'/0/0", 0, 5, "ethereum")
    assert batch == [(f"m/44'/60'/{i}'/0/0", root.derive(f"m/44'/60'/{i}'/0/0").address("ethereum")) for i in range(5)]


@pytest.mark.parametrize("template", ["0/{index}/0", "1/{index}/2/3"])
def test_xpub_template_equals_single(root: HDKey, template: str) -> None:
    # Past the first level each batched step has its own parent.
    imported = HDKey.from_extended(root.derive("m/44'/60'/0'").xpub())
    batch = derive_addresses(imported, template, 5, 300, "ethereum")
    expected = []
    for i in range(5, 305):
        path = template.replace("{index}", str(i))
        key = imported
        for part in path.split("/"):
            key = key.derive_child(int(part))
        expected.append((path, key.address("ethereum")))
    assert batch == expected


def test_count_zero(root: HDKey, ed_root: HDKey) -> None:
    assert derive_addresses(root, "m/44'/60'/0'/0", 0, 0, "ethereum") == []
    assert derive_addresses(root, "m/44'/60'/0'/0", HARDENED - 1, 0, "ethereum") == []
    assert derive_addresses(ed_root, "m/44'/501'/{index}'/0'", 5, 0, "solana") == []


def test_large_start(root: HDKey, ed_root: HDKey) -> None:
    prefix = "m/84'/0'/0'/0"
    last = derive_addresses(root, prefix, HARDENED - 3, 3, "bitcoin")
    assert last == [
        (f"{prefix}/{i}", root.derive(f"{prefix}/{i}").address("bitcoin")) for i in range(HARDENED - 3, HARDENED)
    ]
    # index 2**31 would be a hardened index: not a receive address
    with pytest.raises(InvalidInput):
        derive_addresses(root, prefix, HARDENED - 2, 3, "bitcoin")
    with pytest.raises(InvalidInput):
        derive_addresses(root, prefix, HARDENED, 1, "bitcoin")
    top = derive_addresses(ed_root, "m/44'/501'/{index}'/0'", HARDENED - 1, 1, "solana")
    assert top == [
        (
            f"m/44'/501'/{HARDENED - 1}'/0'",
            ed_root.derive(f"m/44'/501'/{HARDENED - 1}'/0'").address("solana"),
        )
    ]


def test_batch_bad_input(root: HDKey, ed_root: HDKey) -> None:
    account = root.derive("m/84'/0'/0'").neuter()
    bad_calls: list[Callable[[], object]] = [
        lambda: derive_addresses(account, "0'", 0, 5, "bitcoin"),  # hardened from public
        lambda: derive_addresses(account, "m/0", 0, 5, "bitcoin"),  # absolute at depth 3
        lambda: derive_addresses(root, "m/x", 0, 5, "bitcoin"),
        lambda: derive_addresses(root, "m/84'/0'/0'/0", 0, 5, "dogecoin"),
        lambda: derive_addresses(root, "m/84'/0'/0'/0", 0, 5, "bitcoin", "p2wsh"),
        lambda: derive_addresses(root, "m/84'/0'/0'/0", 0, 5, "solana"),  # wrong curve
        lambda: derive_addresses(ed_root, "m/44'/501'/0'", 0, 5, "ethereum"),
        lambda: derive_addresses(root, "m/{index}/{index}", 0, 5, "ethereum"),
        lambda: derive_addresses(root, "m/44'/60'/0'/0", 0, 5, "ethereum", network="moon"),
    ]
    checked = 0
    for call in bad_calls:
        with pytest.raises(SKMSError):
            call()
        checked += 1
    assert checked == 9


@pytest.mark.parametrize(("start", "count"), [(-1, 5), (0, -1), (2**32, 1), ("0", 1)])
def test_batch_bad_integers(root: HDKey, start: int, count: int) -> None:
    with pytest.raises(SKMSError):
        derive_addresses(root, "m/44'/60'/0'/0", start, count, "ethereum")
