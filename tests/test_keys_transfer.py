"""BYOK import and export (skms.keys.transfer): every registry type, every wrapping algorithm,
token expiry and single use, tampering, export policy, export → import into a second SKMS.

Material is made outside the service (by ``cryptography`` where it has the algorithm, else by
skms's own key classes) and wrapped here with ``cryptography`` primitives directly, so the wire
formats are checked against their description, not against the code under test.
"""

import asyncio
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import blake3
import nacl.bindings
import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from conftest import require_service
from skms._native import SecretBytes
from skms.crypto import falcon, registry
from skms.crypto.hybrid import Ed25519MlDsa65Key, XWingKey, XWingPublicKey
from skms.crypto.registry import CryptoPolicy
from skms.errors import (
    AlgorithmNotAllowed,
    Conflict,
    IntegrityError,
    InvalidInput,
    InvalidKey,
    InvalidState,
    NotFound,
    PolicyViolation,
    UnsupportedOperation,
)
from skms.keys import WALLET_TYPE, KeyService, transfer
from skms.keys.model import decode_versioned, encode_versioned
from skms.keys.seal import write_keyfile
from skms.keys.wallets import WalletRoot

T0 = 1_800_000_000.0
ALGORITHMS = list(transfer.WRAPPING_ALGORITHMS)
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
MESSAGE = b"bring your own key"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


# -- services -----------------------------------------------------------------------------------


async def _create_db(dsn: str) -> tuple[str, str]:
    parts = urlsplit(dsn)
    name = f"skms_transfer_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(parts._replace(path=f"/{name}")), name


async def _drop_db(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(urlunsplit(urlsplit(dsn)._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def keyfile(tmp_path: Path) -> str:
    path = str(tmp_path / "unseal.key")
    write_keyfile(path)
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'skms.db'}"
        return
    dsn = require_service("postgresql")
    url, name = asyncio.run(_create_db(dsn))
    try:
        yield url
    finally:
        asyncio.run(_drop_db(dsn, name))


async def open_service(url: str, keyfile: str, **options: Any) -> KeyService:
    service = await KeyService.open(url, **options)
    if await service.sealer.initialized():
        await service.sealer.unseal(keyfile=keyfile)
    else:
        await service.sealer.initialize("keyfile", keyfile=keyfile)
    return service


def run(url: str, keyfile: str, body: Callable[[KeyService], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        service = await open_service(url, keyfile, **options)
        try:
            await body(service)
        finally:
            await service.close()

    asyncio.run(main())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'skms.db'}"


# -- the client side of an import, written against the format description ----------------------------


def client_wrap(algorithm: str, public_key: bytes, material: bytes) -> bytes:
    if algorithm in ("rsa-oaep-3072-sha256", "rsa-aes-kwp-3072"):
        recipient = serialization.load_der_public_key(public_key)
        assert isinstance(recipient, rsa.RSAPublicKey) and recipient.key_size == 3072
        if algorithm == "rsa-oaep-3072-sha256":
            return recipient.encrypt(material, OAEP)
        aes = os.urandom(32)
        return recipient.encrypt(aes, OAEP) + keywrap.aes_key_wrap_with_padding(aes, material)
    if algorithm == "ml-kem-768-aes-kwp":
        shared, ciphertext = mlkem.MLKEM768PublicKey.from_public_bytes(public_key).encapsulate()
        assert len(ciphertext) == 1088
    else:
        secret, ciphertext = XWingPublicKey.load(public_key).encapsulate()
        shared = secret.expose_secret()
        assert len(ciphertext) == 1120
    kek = HKDF(hashes.SHA256(), 32, None, b"skms-import").derive(shared)
    return ciphertext + keywrap.aes_key_wrap_with_padding(kek, material)


def client_unwrap(algorithm: str, private_key: Any, wrapped: bytes) -> bytes:
    """The recipient side of an export (the test holds the recipient private key)."""
    if algorithm == "rsa-oaep-3072-sha256":
        return private_key.decrypt(wrapped, OAEP)  # type: ignore[no-any-return]
    if algorithm == "rsa-aes-kwp-3072":
        aes = private_key.decrypt(wrapped[:384], OAEP)
        return keywrap.aes_key_unwrap_with_padding(aes, wrapped[384:])
    if algorithm == "ml-kem-768-aes-kwp":
        shared = private_key.decapsulate(wrapped[:1088])
        rest = wrapped[1088:]
    else:
        shared = private_key.decapsulate(wrapped[:1120]).expose_secret()
        rest = wrapped[1120:]
    kek = HKDF(hashes.SHA256(), 32, None, b"skms-import").derive(shared)
    return keywrap.aes_key_unwrap_with_padding(kek, rest)


# -- material made outside the service, and how to check the imported key against it ---------------


_RSA: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    if bits not in _RSA:
        _RSA[bits] = rsa.generate_private_key(65537, bits)
    return _RSA[bits]


def pkcs8(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_material(type: str) -> tuple[bytes, Any]:
    """(material in the type's storage form, the original key it came from)."""
    if type in ("aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305", "hmac-sha256", "blake3-keyed"):
        key = os.urandom(32)
        return key, key
    if type == "hmac-sha512":
        key = os.urandom(64)
        return key, key
    if type == "ed25519":
        ed = ed25519.Ed25519PrivateKey.generate()
        return ed.private_bytes_raw(), ed
    if type in ("ecdsa-secp256k1", "schnorr-secp256k1", "ecdsa-p256", "ecdsa-p384"):
        curve: ec.EllipticCurve = {"ecdsa-p256": ec.SECP256R1(), "ecdsa-p384": ec.SECP384R1()}.get(type, ec.SECP256K1())
        eck = ec.generate_private_key(curve)
        size = (curve.key_size + 7) // 8
        return eck.private_numbers().private_value.to_bytes(size, "big"), eck
    if type.startswith("rsa-"):
        rk = rsa_key(int(type[4:]))
        return pkcs8(rk), rk
    if type == "x25519":
        xk = x25519.X25519PrivateKey.generate()
        return xk.private_bytes_raw(), xk
    if type.startswith("ml-dsa-"):
        dsa = {"44": mldsa.MLDSA44PrivateKey, "65": mldsa.MLDSA65PrivateKey, "87": mldsa.MLDSA87PrivateKey}
        mk = dsa[type[-2:]].generate()
        return mk.private_bytes_raw(), mk
    if type.startswith("ml-kem-"):
        kem = mlkem.MLKEM768PrivateKey if type.endswith("768") else mlkem.MLKEM1024PrivateKey
        kk = kem.generate()
        return kk.private_bytes_raw(), kk
    if type.startswith("falcon-"):
        fk = falcon.generate_private_key(int(type[7:]))
        return fk.expose_secret(), fk
    if type == "ed25519+ml-dsa-65":
        hk = Ed25519MlDsa65Key.generate()
        raw = hk.export("raw")
        assert isinstance(raw, bytes)
        return raw, hk
    if type == "x25519+ml-kem-768":
        xw = XWingKey.generate()
        raw = xw.export("raw")
        assert isinstance(raw, bytes)
        return raw, xw
    if type == WALLET_TYPE:
        root, phrase = WalletRoot.generate(24, "", "english")
        return root.material().expose_secret(), (root, phrase)
    raise AssertionError(type)


def original_public(type: str, original: Any) -> bytes | None:
    if type.startswith("rsa-"):
        return original.public_key().public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if type in ("ed25519", "x25519") or type.startswith(("ml-dsa-", "ml-kem-")):
        return original.public_key().public_bytes_raw()  # type: ignore[no-any-return]
    if type in ("ecdsa-p256", "ecdsa-p384", "ecdsa-secp256k1"):
        fmt = serialization.PublicFormat.CompressedPoint
        return original.public_key().public_bytes(serialization.Encoding.X962, fmt)  # type: ignore[no-any-return]
    if type == "schnorr-secp256k1":
        point = original.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        return point[1:]  # type: ignore[no-any-return]
    if type.startswith("falcon-"):
        return falcon.public_key(original)
    if type in ("ed25519+ml-dsa-65", "x25519+ml-kem-768"):
        raw = original.public_key().export("raw")
        assert isinstance(raw, bytes)
        return raw
    return None


async def check_interop(service: KeyService, tenant: str, name: str, type: str, original: Any) -> None:
    """The imported key works with, and like, the key it came from."""
    info = await service.get_key(tenant, name)
    assert info.type == type and info.latest_version == 1 and info.state == "active"
    public = original_public(type, original)
    if public is not None and type not in ("ecdsa-p256", "ecdsa-p384", "ecdsa-secp256k1"):
        assert info.versions[0].public_key == public
    elif public is not None:  # ECDSA public keys are stored compressed or not: compare the point
        stored = info.versions[0].public_key
        assert stored is not None
        curve = original.curve
        assert ec.EllipticCurvePublicKey.from_encoded_point(curve, stored) == original.public_key()

    if type in ("aes256-gcm", "chacha20-poly1305"):
        aead = AESGCM(original) if type == "aes256-gcm" else ChaCha20Poly1305(original)
        text, _ = await service.encrypt(tenant, name, MESSAGE, b"ad")
        data = decode_versioned(text)[1]
        assert aead.decrypt(data[:12], data[12:], b"ad") == MESSAGE
        nonce = os.urandom(12)
        mine = encode_versioned(1, nonce + aead.encrypt(nonce, MESSAGE, b"ad"))
        assert await service.decrypt(tenant, name, mine, b"ad") == MESSAGE
    elif type == "xchacha20-poly1305":
        text, _ = await service.encrypt(tenant, name, MESSAGE, b"ad")
        data = decode_versioned(text)[1]
        assert nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(data[24:], b"ad", data[:24], original) == (
            MESSAGE
        )
    elif type in ("hmac-sha256", "hmac-sha512", "blake3-keyed"):
        tag = decode_versioned((await service.mac(tenant, name, MESSAGE))[0], "tag")[1]
        if type == "blake3-keyed":
            expected = blake3.blake3(MESSAGE, key=original).digest()
        else:
            expected = hmac.new(original, MESSAGE, hashlib.sha256 if type == "hmac-sha256" else hashlib.sha512).digest()
        assert tag == expected
    elif type == "ed25519" or type.startswith("ml-dsa-"):
        sig = decode_versioned((await service.sign(tenant, name, MESSAGE))[0], "signature")[1]
        original.public_key().verify(sig, MESSAGE)  # raises if it does not verify
    elif type in ("ecdsa-p256", "ecdsa-p384", "ecdsa-secp256k1"):
        sig = decode_versioned((await service.sign(tenant, name, MESSAGE))[0], "signature")[1]
        digest = hashes.SHA384() if type == "ecdsa-p384" else hashes.SHA256()
        original.public_key().verify(sig, MESSAGE, ec.ECDSA(digest))
    elif type == "schnorr-secp256k1":
        sig = decode_versioned((await service.sign(tenant, name, MESSAGE))[0], "signature")[1]
        assert public is not None
        assert registry.load_public_key(type, public).verify(MESSAGE, sig)  # type: ignore[attr-defined]
    elif type.startswith("rsa-"):
        sig = decode_versioned((await service.sign(tenant, name, MESSAGE))[0], "signature")[1]
        original.public_key().verify(sig, MESSAGE, PSS, hashes.SHA256())
        # Imported for signing (the default purpose): one purpose per key, so it does not decrypt.
        mine = encode_versioned(1, original.public_key().encrypt(MESSAGE, OAEP))
        with pytest.raises(PolicyViolation):
            await service.decrypt(tenant, name, mine)
    elif type.startswith("ml-kem-"):
        shared, ciphertext = original.public_key().encapsulate()
        got = await service.decapsulate(tenant, name, encode_versioned(1, ciphertext))
        assert got.expose_secret() == shared
    elif type == "x25519+ml-kem-768":
        shared, ciphertext = original.public_key().encapsulate()
        assert await service.decapsulate(tenant, name, encode_versioned(1, ciphertext)) == shared
    elif type.startswith("falcon-"):
        sig = decode_versioned((await service.sign(tenant, name, MESSAGE))[0], "signature")[1]
        assert public is not None and falcon.verify(public, MESSAGE, sig)
    elif type == "ed25519+ml-dsa-65":
        sig = decode_versioned((await service.sign(tenant, name, MESSAGE))[0], "signature")[1]
        assert original.public_key().verify(MESSAGE, sig)
    elif type == WALLET_TYPE:
        root, _ = original
        path = "m/44'/60'/0'"
        assert await service.wallet_xpub(tenant, name, path) == root.xpub(path)
    elif type == "x25519":
        pass  # no service operation: the public key above is the check
    else:
        raise AssertionError(type)


# Each registry type with one wrapping algorithm, cycling so that every algorithm carries several types;
# RSA-OAEP alone cannot carry material over 318 bytes, so long material cycles over the KWP variants.
TYPES = [*registry.ALGORITHMS, WALLET_TYPE]
LONG = ("rsa-2048", "rsa-3072", "rsa-4096", "falcon-512", "falcon-1024")


def _pairs() -> list[tuple[str, str]]:
    out = []
    for i, type in enumerate(TYPES):
        choices = ALGORITHMS[1:] if type in LONG else ALGORITHMS
        out.append((type, choices[i % len(choices)]))
    return out


@pytest.mark.parametrize(("type", "algorithm"), _pairs())
def test_import_every_registry_type(sqlite_url: str, keyfile: str, type: str, algorithm: str) -> None:
    material, original = make_material(type)
    policy = CryptoPolicy(allow_deprecated=True)  # rsa-2048 is importable where the policy allows it

    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", algorithm)
        info = await service.import_key("acme", "imported", type, client_wrap(algorithm, public, material), token)
        assert info.name == "imported" and info.type == type
        await check_interop(service, "acme", "imported", type, original)

    run(sqlite_url, keyfile, body, crypto_policy=policy)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("type", ["aes256-gcm", "ecdsa-p256", "hmac-sha512", WALLET_TYPE])
def test_every_wrapping_algorithm(sqlite_url: str, keyfile: str, algorithm: str, type: str) -> None:
    material, original = make_material(type)

    async def body(service: KeyService) -> None:
        token, public, expires = await service.get_import_parameters("acme", algorithm)
        if algorithm.startswith("rsa"):
            loaded = serialization.load_der_public_key(public)
            assert isinstance(loaded, rsa.RSAPublicKey) and loaded.key_size == 3072
        else:
            assert len(public) == (1184 if algorithm == "ml-kem-768-aes-kwp" else 1216)
        assert expires == pytest.approx(service.clock() + 24 * 3600, abs=5)
        await service.import_key("acme", "k", type, client_wrap(algorithm, public, material), token)
        await check_interop(service, "acme", "k", type, original)

    run(sqlite_url, keyfile, body)


@pytest.mark.parametrize("algorithm", ["rsa-aes-kwp-3072", "ml-kem-768-aes-kwp"])
def test_long_rsa_material(sqlite_url: str, keyfile: str, algorithm: str) -> None:
    material, original = make_material("rsa-4096")

    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", algorithm)
        await service.import_key("acme", "big", "rsa-4096", client_wrap(algorithm, public, material), token)
        await check_interop(service, "acme", "big", "rsa-4096", original)

    run(sqlite_url, keyfile, body)


def test_rsa_oaep_direct_refuses_long_material(sqlite_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        _, public, _ = await service.get_import_parameters("acme", "rsa-oaep-3072-sha256")
        transfer.wrap_material("rsa-oaep-3072-sha256", public, b"\x01" * 318)  # the limit fits
        with pytest.raises(InvalidInput, match="at most 318 bytes"):
            transfer.wrap_material("rsa-oaep-3072-sha256", public, b"\x01" * 319)

    run(sqlite_url, keyfile, body)


def test_import_from_another_format(sqlite_url: str, keyfile: str) -> None:
    eck = ec.generate_private_key(ec.SECP256R1())

    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        wrapped = client_wrap("ml-kem-768-aes-kwp", public, pkcs8(eck))
        await service.import_key("acme", "p256", "ecdsa-p256", wrapped, token, format="pkcs8-der")
        await check_interop(service, "acme", "p256", "ecdsa-p256", eck)

    run(sqlite_url, keyfile, body)


def test_import_a_jwk(sqlite_url: str, keyfile: str) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    jwk = registry.load_private_key("ed25519", ed.private_bytes_raw()).export("jwk")

    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        wrapped = client_wrap("ml-kem-768-aes-kwp", public, json.dumps(jwk).encode())
        await service.import_key("acme", "ed", "ed25519", wrapped, token, format="jwk")
        await check_interop(service, "acme", "ed", "ed25519", ed)
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        with pytest.raises(InvalidInput, match="JWK"):
            await service.import_key(
                "acme", "bad", "ed25519", client_wrap("ml-kem-768-aes-kwp", public, b"{not json"), token, format="jwk"
            )

    run(sqlite_url, keyfile, body)


def test_import_options_and_wallet_seed(sqlite_url: str, keyfile: str) -> None:
    rk = rsa_key(3072)
    seed = bytes(range(16))  # a BIP32 test-vector seed shorter than 64 bytes

    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", "rsa-aes-kwp-3072")
        info = await service.import_key(
            "acme", "enc-only", "rsa-3072", client_wrap("rsa-aes-kwp-3072", public, pkcs8(rk)), token,
            purpose="encrypt", labels={"team": "pay"}, policy={"exportable": True, "rotation_period": 3600},
        )  # fmt: skip
        assert info.purpose == "encrypt" and info.labels == {"team": "pay"}
        assert info.policy["exportable"] is True and info.policy["rotation_period"] == 3600

        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        await service.import_key("acme", "bip32", WALLET_TYPE, client_wrap("ml-kem-768-aes-kwp", public, seed), token)
        expected = WalletRoot.from_seed(seed).xpub("m/0'")
        assert await service.wallet_xpub("acme", "bip32", "m/0'") == expected

    run(sqlite_url, keyfile, body)


# -- tokens ---------------------------------------------------------------------------------------


def test_token_lifecycle(store_url: str, keyfile: str) -> None:
    """Single use, expiry, tenant binding; both backends."""
    clock = Clock()
    key = os.urandom(32)

    async def body(service: KeyService) -> None:
        alg = "ml-kem-768-aes-kwp"
        token, public, expires = await service.get_import_parameters("acme", alg)
        assert expires == T0 + 24 * 3600
        wrapped = client_wrap(alg, public, key)
        with pytest.raises(NotFound):  # another tenant does not see the token
            await service.import_key("other", "k", "aes256-gcm", wrapped, token)
        await service.import_key("acme", "k", "aes256-gcm", wrapped, token)
        with pytest.raises(NotFound, match="already used"):  # single use
            await service.import_key("acme", "k2", "aes256-gcm", wrapped, token)
        with pytest.raises(NotFound):
            await service.import_key("acme", "k3", "aes256-gcm", wrapped, "no-such-token")

        token, public, _ = await service.get_import_parameters("acme", alg, ttl=3600)
        clock.now += 3600  # expired at exactly its expiry
        with pytest.raises(PolicyViolation, match="expired"):
            await service.import_key("acme", "late", "aes256-gcm", client_wrap(alg, public, key), token)
        with pytest.raises(NotFound):  # and gone
            await service.import_key("acme", "late", "aes256-gcm", client_wrap(alg, public, key), token)
        with pytest.raises(NotFound):
            await service.get_key("acme", "late")

        # A token nobody presents: its wrapping key is destroyed once it has expired.
        token, _, _ = await service.get_import_parameters("acme", alg)
        wrapping_id = (await service.store.get_import_token(token)).wrapping_key_id
        clock.now += 24 * 3600 - 1
        assert (await service.store.get_key_by_id(wrapping_id)).state == "active"
        clock.now += 1
        assert (await service.run_due())["destroyed"] >= 1
        wrapping = await service.store.get_key_by_id(wrapping_id)
        assert wrapping.state == "destroyed"
        assert all(v.material is None for v in await service.store.get_versions(wrapping_id))

    run(store_url, keyfile, body, clock=clock)


def test_wrapping_key_destroyed_after_use_and_hidden(sqlite_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        record = await service.store.get_import_token(token)
        assert record.tenant == "acme" and record.algorithm == "ml-kem-768-aes-kwp"
        wrapping = await service.store.get_key_by_id(record.wrapping_key_id)
        assert wrapping.tenant == transfer.INTERNAL_TENANT and wrapping.type == "ml-kem-768"
        assert (await service.list_keys("acme"))[0] == []  # the tenant never sees wrapping keys
        await service.import_key(
            "acme", "k", "aes256-gcm", client_wrap("ml-kem-768-aes-kwp", public, b"\x07" * 32), token
        )
        assert (await service.store.get_key_by_id(record.wrapping_key_id)).state == "destroyed"
        with pytest.raises(PolicyViolation, match="reserved"):
            await service.get_import_parameters(transfer.INTERNAL_TENANT, "ml-kem-768-aes-kwp")

    run(sqlite_url, keyfile, body)


def test_concurrent_imports_spend_a_token_once(store_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        wrapped = client_wrap("ml-kem-768-aes-kwp", public, os.urandom(32))
        results = await asyncio.gather(
            *(service.import_key("acme", f"k{i}", "aes256-gcm", wrapped, token) for i in range(8)),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert all(isinstance(r, NotFound) for r in results if isinstance(r, BaseException))

    run(store_url, keyfile, body)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_or_misdirected_material(sqlite_url: str, keyfile: str, algorithm: str) -> None:
    material = os.urandom(32)

    async def body(service: KeyService) -> None:
        for where in (0.0, 1.0):  # the KEM or RSA part, the key-wrap tail (or the RSA block's end)
            token, public, _ = await service.get_import_parameters("acme", algorithm)
            wrapped = bytearray(client_wrap(algorithm, public, material))
            wrapped[int(where * (len(wrapped) - 1))] ^= 0x01
            with pytest.raises(IntegrityError):
                await service.import_key("acme", "k", "aes256-gcm", bytes(wrapped), token)
        # wrapped for another token's key
        _, other_public, _ = await service.get_import_parameters("acme", algorithm)
        token, _, _ = await service.get_import_parameters("acme", algorithm)
        with pytest.raises(IntegrityError):
            await service.import_key("acme", "k", "aes256-gcm", client_wrap(algorithm, other_public, material), token)
        # truncated
        token, public, _ = await service.get_import_parameters("acme", algorithm)
        with pytest.raises(IntegrityError):
            await service.import_key("acme", "k", "aes256-gcm", client_wrap(algorithm, public, material)[:-8], token)
        # a failed attempt spends the token (no decryption oracle)
        with pytest.raises(NotFound):
            await service.import_key("acme", "k", "aes256-gcm", client_wrap(algorithm, public, material), token)
        with pytest.raises(NotFound):
            await service.get_key("acme", "k")

    run(sqlite_url, keyfile, body)


def test_import_refusals_before_the_token_is_spent(sqlite_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        alg = "ml-kem-768-aes-kwp"
        await service.create_key("acme", "taken", "aes256-gcm")
        token, public, _ = await service.get_import_parameters("acme", alg)
        wrapped = client_wrap(alg, public, os.urandom(32))
        with pytest.raises(Conflict):
            await service.import_key("acme", "taken", "aes256-gcm", wrapped, token)
        with pytest.raises(InvalidInput):
            await service.import_key("acme", "bad/name", "aes256-gcm", wrapped, token)
        with pytest.raises(InvalidInput):
            await service.import_key("acme", "k", "no-such-type", wrapped, token)
        with pytest.raises(AlgorithmNotAllowed):
            await service.import_key("acme", "k", "rsa-2048", wrapped, token)
        with pytest.raises(InvalidInput, match="purpose"):
            await service.import_key("acme", "k", "aes256-gcm", wrapped, token, purpose="sign")
        with pytest.raises(InvalidInput, match="policy"):
            await service.import_key("acme", "k", "aes256-gcm", wrapped, token, policy={"rotation_period": 1})
        with pytest.raises(InvalidInput, match="label"):
            await service.import_key("acme", "k", "aes256-gcm", wrapped, token, labels={"Bad Key": "x"})
        with pytest.raises(InvalidInput):
            await service.get_import_parameters("acme", "rsa-oaep-2048-sha1")
        # the token still works
        info = await service.import_key("acme", "k", "aes256-gcm", wrapped, token)
        assert info.name == "k"

    run(sqlite_url, keyfile, body)


def test_material_invalid_for_the_type(sqlite_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        alg = "ml-kem-768-aes-kwp"
        for type, material in [("ed25519", b"\x01" * 31), ("rsa-3072", b"not der"), ("ecdsa-p256", b"\xff" * 32)]:
            token, public, _ = await service.get_import_parameters("acme", alg)
            with pytest.raises(InvalidInput):
                await service.import_key("acme", "k", type, client_wrap(alg, public, material), token)
        token, public, _ = await service.get_import_parameters("acme", alg)
        with pytest.raises(InvalidKey, match="3072-bit"):  # an RSA-4096 key is not an rsa-3072 key
            await service.import_key("acme", "k", "rsa-3072", client_wrap(alg, public, pkcs8(rsa_key(4096))), token)
        assert (await service.list_keys("acme"))[0] == []

    run(sqlite_url, keyfile, body)


def test_quantum_safe_policy_refuses_rsa_wrapping(sqlite_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        with pytest.raises(AlgorithmNotAllowed):
            await service.get_import_parameters("acme", "rsa-aes-kwp-3072")
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        await service.import_key(
            "acme", "k", "ml-dsa-65", client_wrap("ml-kem-768-aes-kwp", public, b"\x02" * 32), token
        )

    run(sqlite_url, keyfile, body, crypto_policy=CryptoPolicy(quantum_safe_only=True))


# -- export ---------------------------------------------------------------------------------------


def recipient(algorithm: str) -> tuple[Any, bytes]:
    if algorithm.startswith("rsa"):
        key = rsa_key(3072)
        return key, key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if algorithm == "ml-kem-768-aes-kwp":
        kem = mlkem.MLKEM768PrivateKey.generate()
        return kem, kem.public_key().public_bytes_raw()
    xw = XWingKey.generate()
    raw = xw.public_key().export("raw")
    assert isinstance(raw, bytes)
    return xw, raw


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_export_to_a_recipient(sqlite_url: str, keyfile: str, algorithm: str) -> None:
    private, public = recipient(algorithm)

    async def body(service: KeyService) -> None:
        await service.create_key("acme", "sig", "ed25519", policy={"exportable": True})
        await service.rotate_key("acme", "sig")
        info = await service.get_key("acme", "sig")
        for version in (1, 2, None):
            wrapped = await service.export_key("acme", "sig", public, algorithm, version)
            material = client_unwrap(algorithm, private, wrapped)
            ed = ed25519.Ed25519PrivateKey.from_private_bytes(material)
            expected = info.versions[(version or 2) - 1].public_key
            assert ed.public_key().public_bytes_raw() == expected
        if algorithm != "rsa-oaep-3072-sha256":
            await service.create_key("acme", "rsa", "rsa-3072", policy={"exportable": True})
            wrapped = await service.export_key("acme", "rsa", public, algorithm)
            loaded = serialization.load_der_private_key(client_unwrap(algorithm, private, wrapped), None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            assert (
                loaded.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                == (await service.get_key("acme", "rsa")).versions[0].public_key
            )

    run(sqlite_url, keyfile, body)


def test_export_refused(sqlite_url: str, keyfile: str) -> None:
    _, public = recipient("ml-kem-768-aes-kwp")
    alg = "ml-kem-768-aes-kwp"

    async def body(service: KeyService) -> None:
        await service.create_key("acme", "locked", "aes256-gcm")
        with pytest.raises(PolicyViolation, match="not exportable"):
            await service.export_key("acme", "locked", public, alg)
        await service.create_key("acme", "closed", "aes256-gcm", policy={"exportable": True})
        await service.update_key("acme", "closed", policy={"exportable": False})
        with pytest.raises(PolicyViolation):
            await service.export_key("acme", "closed", public, alg)
        # Turned off is off for good (issue 13): turning it on again would be the way around it.
        with pytest.raises(InvalidState, match="exportable cannot be turned on"):
            await service.update_key("acme", "closed", policy={"exportable": True})
        with pytest.raises(InvalidState, match="exportable cannot be turned on"):
            await service.update_key("acme", "locked", policy={"exportable": True})
        with pytest.raises(PolicyViolation):
            await service.export_key("acme", "closed", public, alg)
        await service.create_key("acme", "free", "aes256-gcm", policy={"exportable": True})
        assert await service.export_key("acme", "free", public, alg)
        with pytest.raises(NotFound):
            await service.export_key("acme", "free", public, alg, version=7)
        with pytest.raises(NotFound):
            await service.export_key("acme", "missing", public, alg)
        with pytest.raises(InvalidInput):
            await service.export_key("acme", "free", public, "aes-kw")
        with pytest.raises(InvalidKey):
            await service.export_key("acme", "free", public[:-1], alg)
        small = (
            rsa.generate_private_key(65537, 2048)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        with pytest.raises(InvalidKey, match="3072"):
            await service.export_key("acme", "free", small, "rsa-aes-kwp-3072")
        await service.schedule_deletion("acme", "free", window=0)
        with pytest.raises(UnsupportedOperation, match="destroyed"):
            await service.export_key("acme", "free", public, alg)

    run(sqlite_url, keyfile, body)


def test_export_wallet_phrase(sqlite_url: str, keyfile: str) -> None:
    async def body(service: KeyService) -> None:
        _, phrase = await service.create_wallet("acme", "locked", words=12)
        with pytest.raises(PolicyViolation):
            await service.export_wallet_phrase("acme", "locked")
        _, phrase = await service.create_wallet("acme", "open", words=24, policy={"exportable": True})
        assert await service.export_wallet_phrase("acme", "open") == phrase
        await service.import_wallet("acme", "seeded", seed=bytes(32), policy={"exportable": True})
        with pytest.raises(UnsupportedOperation, match="no phrase"):
            await service.export_wallet_phrase("acme", "seeded")
        await service.create_key("acme", "aes", "aes256-gcm", policy={"exportable": True})
        with pytest.raises(UnsupportedOperation, match="not a wallet"):
            await service.export_wallet_phrase("acme", "aes")

    run(sqlite_url, keyfile, body)


EXPORT_TYPES = [
    "aes256-gcm",
    "ecdsa-secp256k1",
    "rsa-3072",
    "ml-dsa-65",
    "falcon-512",
    "x25519+ml-kem-768",
    WALLET_TYPE,
]


@pytest.mark.parametrize("type", EXPORT_TYPES)
def test_export_then_import_into_another_skms(tmp_path: Path, keyfile: str, type: str) -> None:
    """A exports for B's import wrapping key; B ends up with the same key."""
    algorithm = "x25519+ml-kem-768-aes-kwp" if type != "rsa-3072" else "rsa-aes-kwp-3072"
    other_keyfile = str(tmp_path / "b.key")
    write_keyfile(other_keyfile)

    async def main() -> None:
        a = await open_service(f"sqlite:///{tmp_path / 'a.db'}", keyfile)
        b = await open_service(f"sqlite:///{tmp_path / 'b.db'}", other_keyfile)
        try:
            if type == WALLET_TYPE:
                await a.create_wallet("acme", "k", policy={"exportable": True})
            else:
                await a.create_key("acme", "k", type, policy={"exportable": True})
            token, public, _ = await b.get_import_parameters("beta", algorithm)
            wrapped = await a.export_key("acme", "k", public, algorithm)
            imported = await b.import_key("beta", "k", type, wrapped, token)
            original = await a.get_key("acme", "k")
            assert imported.versions[0].public_key == original.versions[0].public_key
            if type == WALLET_TYPE:
                path = "m/84'/0'/0'"
                assert await b.wallet_xpub("beta", "k", path) == await a.wallet_xpub("acme", "k", path)
                assert imported.meta["fingerprint"] == original.meta["fingerprint"]
            elif type == "aes256-gcm":
                text, _ = await a.encrypt("acme", "k", MESSAGE)
                assert await b.decrypt("beta", "k", text) == MESSAGE
            elif type == "x25519+ml-kem-768":
                shared, text, _ = await a.encapsulate("acme", "k")
                assert await b.decapsulate("beta", "k", text) == shared
            else:
                signature, _ = await b.sign("beta", "k", MESSAGE)
                assert await a.verify("acme", "k", MESSAGE, signature)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_wallet_seed_export_keeps_the_seed_length(tmp_path: Path, keyfile: str) -> None:
    seed = bytes.fromhex("000102030405060708090a0b0c0d0e0f")

    async def main() -> None:
        a = await open_service(f"sqlite:///{tmp_path / 'a.db'}", keyfile)
        try:
            await a.import_wallet("acme", "w", seed=seed, policy={"exportable": True})
            kem = mlkem.MLKEM768PrivateKey.generate()
            wrapped = await a.export_key("acme", "w", kem.public_key().public_bytes_raw(), "ml-kem-768-aes-kwp")
            assert client_unwrap("ml-kem-768-aes-kwp", kem, wrapped) == seed
        finally:
            await a.close()

    asyncio.run(main())


def test_no_secret_in_errors_or_reprs(sqlite_url: str, keyfile: str) -> None:
    material = b"\x5a" * 32

    async def body(service: KeyService) -> None:
        token, public, _ = await service.get_import_parameters("acme", "rsa-oaep-3072-sha256")
        wrapped = bytearray(client_wrap("rsa-oaep-3072-sha256", public, material))
        wrapped[10] ^= 1
        with pytest.raises(IntegrityError) as caught:
            await service.import_key("acme", "k", "aes256-gcm", bytes(wrapped), token)
        assert material.hex() not in str(caught.value) and repr(material) not in str(caught.value)
        token, public, _ = await service.get_import_parameters("acme", "ml-kem-768-aes-kwp")
        info = await service.import_key(
            "acme", "k", "aes256-gcm", client_wrap("ml-kem-768-aes-kwp", public, material), token
        )
        assert material.hex() not in repr(info) and repr(material) not in repr(info)

    run(sqlite_url, keyfile, body)


def test_wrap_material_matches_the_description() -> None:
    """The library's own wrapper produces what the independent unwrapper reads (clients may use it)."""
    material = os.urandom(77)
    for algorithm in ALGORITHMS:
        private, public = recipient(algorithm)
        if algorithm == "rsa-oaep-3072-sha256":
            assert client_unwrap(algorithm, private, transfer.wrap_material(algorithm, public, material)) == material
            continue
        assert client_unwrap(algorithm, private, transfer.wrap_material(algorithm, public, SecretBytes(material))) == (
            material
        )
