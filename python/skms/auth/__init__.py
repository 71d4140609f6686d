"""Authentication: who is calling. API keys now; JWT, OAuth 2.0 and mTLS come with the security layer."""

from skms.auth.api_keys import ApiKeyManager, Principal

__all__ = ["ApiKeyManager", "Principal"]
