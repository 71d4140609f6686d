"""The cryptographic operations of :class:`~skms.keys.service.KeyService`: encrypt, decrypt, rewrap,
data keys, sign, verify, MAC, KEM, public keys."""

from typing import Any

from skms._native import SecretBytes
from skms.crypto import registry
from skms.crypto.keys import AeadKey, DecryptingKey, KemPrivateKey, MacKey, SigningKey
from skms.crypto.random import random_secret_async
from skms.errors import InvalidInput, UnsupportedOperation
from skms.keys.core import ServiceCore
from skms.keys.guarding import guarded
from skms.keys.model import decode_versioned, encode_versioned


class OperationsMixin(ServiceCore):
    @guarded("key:Encrypt")
    async def encrypt(
        self,
        tenant: str,
        name: str,
        plaintext: bytes | SecretBytes,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> tuple[str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, (AeadKey, DecryptingKey), "encrypt")
        version = self._for_protect(cached, "encrypt")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "encrypt")
        data = await self._backend(cached.record).encrypt(key, plaintext, associated_data)
        return encode_versioned(version, data), version

    @guarded("key:Decrypt")
    async def decrypt(
        self,
        tenant: str,
        name: str,
        ciphertext: str,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> bytes:
        version, data = decode_versioned(ciphertext)
        cached = await self._load(tenant, name)
        self._require(cached, (AeadKey, DecryptingKey), "decrypt")
        self._for_process(cached, version, "decrypt")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "decrypt")
        return await self._backend(cached.record).decrypt(key, data, associated_data)

    @guarded("key:Rewrap")
    async def rewrap(
        self,
        tenant: str,
        name: str,
        ciphertext: str,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> tuple[str, int]:
        """Decrypts with the version that made ``ciphertext`` and encrypts with the newest one."""
        plaintext = await self.decrypt(tenant, name, ciphertext, associated_data)
        return await self.encrypt(tenant, name, plaintext, associated_data)

    @guarded("key:Datakey")
    async def datakey(
        self,
        tenant: str,
        name: str,
        size: int = 32,
        associated_data: bytes = b"",
        *,
        principal: object = None,
    ) -> tuple[SecretBytes, str, int]:
        """A fresh data key, and the same encrypted under this key (envelope encryption for callers)."""
        if size not in (16, 24, 32, 64):
            raise InvalidInput(f"data keys are 16, 24, 32 or 64 bytes, not {size}")
        plaintext = await random_secret_async(size)  # the token's generator mixed in with hsm_random
        text, version = await self.encrypt(tenant, name, plaintext, associated_data)
        return plaintext, text, version

    @guarded("key:Sign")
    async def sign(
        self,
        tenant: str,
        name: str,
        message: bytes,
        *,
        prehashed: bool = False,
        principal: object = None,
    ) -> tuple[str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, SigningKey, "sign")
        version = self._for_protect(cached, "sign")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "sign")
        record = cached.record
        return encode_versioned(
            version, await self._backend(record).sign(key, record.type, message, prehashed)
        ), version

    @guarded("key:Sign")
    async def sign_batch(
        self, tenant: str, name: str, messages: list[bytes], *, principal: object = None
    ) -> tuple[list[str], int]:
        """Signatures of many messages with the newest version: one check, one audit record, every core."""
        cached = await self._load(tenant, name)
        self._require(cached, SigningKey, "sign")
        version = self._for_protect(cached, "sign")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "sign")
        signatures = await self._backend(cached.record).sign_batch(key, messages)
        return [encode_versioned(version, sig) for sig in signatures], version

    @guarded("key:Verify")
    async def verify(
        self,
        tenant: str,
        name: str,
        message: bytes,
        signature: str,
        *,
        prehashed: bool = False,
        principal: object = None,
    ) -> bool:
        version, data = decode_versioned(signature, "signature")
        cached = await self._load(tenant, name)
        self._require(cached, SigningKey, "verify")
        self._for_process(cached, version, "verify")
        key = self._key_object(cached, version)
        self._check_purpose(cached, "verify")
        record = cached.record
        return await self._backend(record).verify(key, record.type, message, data, prehashed)

    @guarded("key:Mac")
    async def mac(self, tenant: str, name: str, data: bytes, *, principal: object = None) -> tuple[str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, MacKey, "mac")
        version = self._for_protect(cached, "mac")
        return encode_versioned(version, self._key_object(cached, version).mac(data)), version

    @guarded("key:VerifyMac")
    async def verify_mac(self, tenant: str, name: str, data: bytes, tag: str, *, principal: object = None) -> bool:
        version, raw = decode_versioned(tag, "tag")
        cached = await self._load(tenant, name)
        self._require(cached, MacKey, "verify_mac")
        self._for_process(cached, version, "verify_mac")
        return bool(self._key_object(cached, version).verify(data, raw))

    @guarded("key:Encapsulate")
    async def encapsulate(self, tenant: str, name: str, *, principal: object = None) -> tuple[SecretBytes, str, int]:
        cached = await self._load(tenant, name)
        self._require(cached, KemPrivateKey, "encapsulate")
        version = self._for_protect(cached, "encapsulate")
        shared, ciphertext = self._key_object(cached, version).public_key().encapsulate()
        return shared, encode_versioned(version, ciphertext), version

    @guarded("key:Decapsulate")
    async def decapsulate(self, tenant: str, name: str, ciphertext: str, *, principal: object = None) -> SecretBytes:
        version, data = decode_versioned(ciphertext)
        cached = await self._load(tenant, name)
        self._require(cached, KemPrivateKey, "decapsulate")
        self._for_process(cached, version, "decapsulate")
        return self._key_object(cached, version).decapsulate(data)  # type: ignore[no-any-return]

    @guarded("key:Get")
    async def public_key(self, tenant: str, name: str, version: int | None = None, *, principal: object = None) -> Any:
        """The public key object of a version (the newest by default)."""
        cached = await self._load(tenant, name)
        number = version or cached.newest or cached.record.latest_version
        v = cached.versions.get(number)
        if v is None or v.public_key is None:
            raise UnsupportedOperation(f"{name!r} has no public key for version {number}")
        alg = registry.get(cached.record.type)
        assert alg.public_class is not None
        return alg.public_class.load(v.public_key, "spki-der" if alg.family == "rsa" else "raw")
