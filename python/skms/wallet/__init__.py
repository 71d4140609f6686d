"""HD wallets: BIP39 mnemonics, BIP32/SLIP-10 keys, account layouts, addresses, signing.

Derivation and encoding run in the native core; :func:`derive_addresses` uses
every core with the GIL released. Chain-specific signing lives in
:mod:`skms.wallet.bitcoin`, :mod:`skms.wallet.ethereum` and :mod:`skms.wallet.solana`.
"""

from skms._native.bip32 import HDKey, derive_addresses
from skms._native.bip39 import Mnemonic
from skms.wallet import bitcoin, ethereum, solana
from skms.wallet.paths import account_path, address_path

__all__ = [
    "HDKey",
    "Mnemonic",
    "account_path",
    "address_path",
    "bitcoin",
    "derive_addresses",
    "ethereum",
    "solana",
]
