"""Authentication: who is calling. API keys now; JWT, OAuth 2.0 and mTLS come with the security layer."""

from skms.auth.api_keys import ApiKeyManager, Principal
from skms.auth.jwt import Issuer, JwtVerifier
from skms.auth.oauth import TokenIssuer

__all__ = ["ApiKeyManager", "Issuer", "JwtVerifier", "Principal", "TokenIssuer"]
