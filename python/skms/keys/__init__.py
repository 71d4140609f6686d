"""The key service: lifecycle, envelope-encrypted storage, crypto operations, wallets."""

from skms.keys.model import KeyPolicy, KeyState
from skms.keys.service import WALLET_TYPE, Guard, KeyInfo, KeyService, VersionInfo

__all__ = ["WALLET_TYPE", "Guard", "KeyInfo", "KeyPolicy", "KeyService", "KeyState", "VersionInfo"]
