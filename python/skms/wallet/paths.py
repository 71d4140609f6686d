"""Account layouts: BIP44 (coin types 0, 1, 60, 501), BIP49, BIP84, BIP86, and Solana's."""

from skms.errors import InvalidInput

# BIP purpose of each Bitcoin address kind.
_PURPOSE = {"p2pkh": 44, "p2sh-p2wpkh": 49, "p2wpkh": 84, "p2tr": 86}
_COIN = {("ethereum", "mainnet"): 60, ("ethereum", "testnet"): 60,
         ("solana", "mainnet"): 501, ("solana", "testnet"): 501,
         ("bitcoin", "mainnet"): 0, ("bitcoin", "testnet"): 1}  # fmt: skip


def _check_index(name: str, value: int) -> None:
    # bool is an int subclass: True would be written into the path as "True".
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise InvalidInput(f"{name} must be an integer in [0, 2^31), got {value!r}")


def account_path(chain: str, account: int = 0, kind: str | None = None, network: str = "mainnet") -> str:
    """The account path: ``m/84'/0'/0'`` for Bitcoin P2WPKH, ``m/44'/60'/0'`` for Ethereum, …"""
    _check_index("account", account)
    if (chain, network) not in _COIN:
        raise InvalidInput(
            f"unknown chain or network {chain!r}/{network!r}; expected bitcoin, ethereum or "
            "solana on mainnet or testnet"
        )
    if chain == "bitcoin":
        kind = kind or "p2wpkh"
        if kind not in _PURPOSE:
            raise InvalidInput(f"unknown Bitcoin address kind {kind!r}; expected one of {list(_PURPOSE)}")
        purpose = _PURPOSE[kind]
    elif kind is not None:
        raise InvalidInput(f"{chain} has one address kind; got kind {kind!r}")
    else:
        purpose = 44
    return f"m/{purpose}'/{_COIN[(chain, network)]}'/{account}'"


def address_path(
    chain: str,
    account: int = 0,
    change: int = 0,
    index: int = 0,
    kind: str | None = None,
    network: str = "mainnet",
) -> str:
    """The path of one address.

    Bitcoin and Ethereum: ``account_path(...)/change/index``. Solana wallets (Phantom,
    Solflare) number addresses as accounts: address ``index`` is ``m/44'/501'/{index}'/0'``,
    so ``account`` and ``change`` must be 0.
    """
    _check_index("change", change)
    _check_index("index", index)
    if chain == "solana":
        if account or change:
            raise InvalidInput("Solana addresses are numbered by index alone: m/44'/501'/{index}'/0'")
        account_path(chain, 0, kind, network)
        return f"m/44'/501'/{index}'/0'"
    return f"{account_path(chain, account, kind, network)}/{change}/{index}"
