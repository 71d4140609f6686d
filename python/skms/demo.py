"""A short tour of the library, run by ``make run`` until the server lands.

It derives wallet addresses from the well-known test mnemonic, signs with
secp256k1, Ed25519 and an Ethereum key, and verifies each signature.
"""

import hashlib
import time

from skms.crypto import ed25519, secp256k1
from skms.wallet import HDKey, Mnemonic, address_path, derive_addresses, ethereum, solana

# The BIP39 test phrase: never hold funds with it.
TEST_PHRASE = " ".join(["abandon"] * 11 + ["about"])


def main() -> None:
    mnemonic = Mnemonic.from_phrase(TEST_PHRASE)
    print(f"mnemonic: {mnemonic!r} (the BIP39 test phrase)")
    seed = mnemonic.to_seed()
    root = HDKey.from_seed(seed)
    print(f"root:     {root!r}")

    for kind in ("p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr"):
        path = address_path("bitcoin", kind=kind)
        print(f"bitcoin {kind:<12} {path:<18} {root.derive(path).address('bitcoin', kind)}")
    eth_path = address_path("ethereum")
    eth_key = root.derive(eth_path)
    print(f"ethereum             {eth_path:<18} {eth_key.address('ethereum')}")
    sol_root = HDKey.from_seed(seed, curve="ed25519")
    sol_path = address_path("solana")
    print(f"solana               {sol_path:<18} {sol_root.derive(sol_path).address('solana')}")

    account = root.derive("m/84'/0'/0'").neuter()
    started = time.perf_counter()
    batch = derive_addresses(account, "0", 0, 10_000, "bitcoin", "p2wpkh")
    elapsed = time.perf_counter() - started
    print(f"\n10,000 P2WPKH addresses from the account xpub in {elapsed * 1000:.1f} ms;")
    print(f"  last: {batch[-1][0]} {batch[-1][1]}")

    digest = hashlib.sha256(b"hello, SKMS").digest()
    key = secp256k1.generate_private_key()
    signature = secp256k1.sign(key, digest)
    ok = secp256k1.verify(secp256k1.public_key(key), digest, signature)
    print(f"\nsecp256k1 key {key!r}: signature {signature.hex()[:32]}… verifies: {ok}")

    ed_key = ed25519.generate_private_key()
    ed_sig = ed25519.sign(ed_key, b"hello, SKMS")
    print(f"ed25519 signature verifies: {ed25519.verify(ed25519.public_key(ed_key), b'hello, SKMS', ed_sig)}")

    eth_sig = ethereum.personal_sign(eth_key, b"hello, SKMS")
    print(f"personal_sign by {ethereum.recover_personal(b'hello, SKMS', eth_sig)}")
    sol_sig = solana.sign(sol_root.derive(sol_path), b"hello, SKMS")
    sol_addr = sol_root.derive(sol_path).address("solana")
    print(f"solana signature verifies: {solana.verify(sol_addr, b'hello, SKMS', sol_sig)}")
    print("\nThe server (REST API) is not built yet; see README.md for the library API.")


if __name__ == "__main__":
    main()
