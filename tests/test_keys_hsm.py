"""HSM-resident keys through KeyService (issue 14 item 6), on a real SoftHSM2 token, SQLite and PostgreSQL.

Every HSM key type signs or encrypts in the token and the result verifies or decrypts with
``cryptography`` (coincurve for secp256k1); the token refuses to reveal CKA_VALUE of every
private or secret key SKMS made; rotation makes a new object and old outputs still verify or
decrypt; destruction deletes the objects; export and backup are refused.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import coincurve
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from skms.errors import (
    Forbidden,
    IntegrityError,
    InvalidInput,
    InvalidState,
    PolicyViolation,
    UnsupportedOperation,
)
from skms.keys import KeyService

pytestmark = pytest.mark.anyio

T = "acme"
SIGN_TYPES = ["ecdsa-p256", "ecdsa-p384", "ecdsa-secp256k1", "ed25519", "rsa-3072", "rsa-4096"]
HASHES = {"ecdsa-p256": hashes.SHA256(), "ecdsa-p384": hashes.SHA384()}
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.fixture
async def hsvc(svc: KeyService, hsm: Any) -> AsyncIterator[KeyService]:
    svc.use_hsm(hsm)
    yield svc


def raw(text: str, version: int = 1) -> bytes:
    prefix = f"skms:v{version}:"
    assert text.startswith(prefix), text
    return base64.b64decode(text[len(prefix) :])


async def public_of(svc: KeyService, name: str, version: int | None = None) -> Any:
    spki = (await svc.public_key(T, name, version)).export("spki-der")
    return serialization.load_der_public_key(spki)


def verify_independently(type: str, public: Any, message: bytes, signature: bytes) -> None:
    """Raises unless ``signature`` verifies with ``cryptography`` (coincurve for secp256k1)."""
    if type in HASHES:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(HASHES[type]))
    elif type == "ecdsa-secp256k1":
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        assert coincurve.PublicKey(point).verify(signature, message, hasher=lambda m: hashlib.sha256(m).digest())
        _, s = decode_dss_signature(signature)
        assert s <= SECP256K1_N // 2, "secp256k1 signatures have a low s"
    elif type == "ed25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, PSS, hashes.SHA256())


async def objects(svc: KeyService, name: str) -> list[dict[str, Any]]:
    """The token objects of every live version of ``name``: class, sensitive, extractable, and
    whether the token revealed the secret value (CKA_VALUE, or CKA_PRIVATE_EXPONENT of RSA)."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    backend = svc.hsm_backend
    assert backend is not None
    record = await svc.store.get_key(T, name)
    refs = [backend.reference(record, v) for v in await svc.store.get_versions(record.id) if v.material is not None]

    def read(session: Any) -> list[dict[str, Any]]:
        out = []
        for ref in refs:
            for obj in session.get_objects({Attribute.LABEL: ref.label, Attribute.ID: ref.id}):
                cls = obj[Attribute.CLASS]
                entry: dict[str, Any] = {"label": ref.label, "class": cls}
                if cls in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
                    entry["sensitive"] = obj[Attribute.SENSITIVE]
                    entry["extractable"] = obj[Attribute.EXTRACTABLE]
                    # CKA_VALUE holds the secret of EC, EdDSA and AES keys; RSA's is CKA_PRIVATE_EXPONENT.
                    rsa_key = obj[Attribute.KEY_TYPE] == KeyType.RSA
                    try:
                        obj[Attribute.PRIVATE_EXPONENT if rsa_key else Attribute.VALUE]
                        entry["value"] = "READ"
                    except AttributeSensitive:
                        entry["value"] = "refused"
                out.append(entry)
        return out

    return await backend.hsm.run(read, idempotent=True)


async def test_hsm_backend_needs_an_hsm(svc: KeyService) -> None:
    with pytest.raises(InvalidInput, match="none configured"):
        await svc.create_key(T, "k", "ecdsa-p256", backend="hsm")
    with pytest.raises(InvalidInput, match="unknown key backend"):
        await svc.create_key(T, "k", "ecdsa-p256", backend="tpm")


async def test_only_token_types_and_no_export_policy(hsvc: KeyService) -> None:
    with pytest.raises(InvalidInput, match="cannot live in the HSM"):
        await hsvc.create_key(T, "k", "ml-dsa-65", backend="hsm")
    with pytest.raises(InvalidInput, match="never leaves the token"):
        await hsvc.create_key(T, "k", "ecdsa-p256", backend="hsm", policy={"exportable": True})
    with pytest.raises(InvalidInput, match="never leaves the token"):
        await hsvc.create_key(T, "k", "ecdsa-p256", backend="hsm", policy={"allow_backup": True})


@pytest.mark.parametrize("type", SIGN_TYPES)
async def test_signatures_verify_independently(hsvc: KeyService, type: str) -> None:
    info = await hsvc.create_key(T, "s", type, backend="hsm")
    assert info.backend == "hsm" and info.meta["backend"] == "hsm"
    public = await public_of(hsvc, "s")
    for message in (b"", b"hello", bytes(range(256)) * 20):
        text, version = await hsvc.sign(T, "s", message)
        assert version == 1
        verify_independently(type, public, message, raw(text))
        assert await hsvc.verify(T, "s", message, text)
        assert not await hsvc.verify(T, "s", message + b"!", text)
    texts, _ = await hsvc.sign_batch(T, "s", [b"a", b"b", b"c"])
    for message, text in zip([b"a", b"b", b"c"], texts, strict=True):
        verify_independently(type, public, message, raw(text))
    if type.startswith("ecdsa"):
        digest = hashlib.new("sha384" if type == "ecdsa-p384" else "sha256", b"pre").digest()
        text, _ = await hsvc.sign(T, "s", digest, prehashed=True)
        verify_independently(type, public, b"pre", raw(text))
        assert await hsvc.verify(T, "s", digest, text, prehashed=True)
        with pytest.raises(InvalidInput, match="digest is"):
            await hsvc.sign(T, "s", digest[:-1], prehashed=True)
    else:
        with pytest.raises(UnsupportedOperation, match="not digests"):
            await hsvc.sign(T, "s", b"\0" * 32, prehashed=True)
    for entry in await objects(hsvc, "s"):
        if "value" in entry:
            assert (entry["sensitive"], entry["extractable"], entry["value"]) == (True, False, "refused")


@pytest.mark.parametrize("type", ["rsa-3072", "rsa-4096"])
async def test_rsa_oaep_both_ways(hsvc: KeyService, type: str) -> None:
    await hsvc.create_key(T, "r", type, purpose="encrypt", backend="hsm")
    public = await public_of(hsvc, "r")
    outside = public.encrypt(b"made outside", OAEP)
    assert await hsvc.decrypt(T, "r", "skms:v1:" + base64.b64encode(outside).decode()) == b"made outside"
    text, _ = await hsvc.encrypt(T, "r", b"made by skms")
    assert await hsvc.decrypt(T, "r", text) == b"made by skms"
    bad = bytearray(outside)
    bad[10] ^= 1
    with pytest.raises(IntegrityError):
        await hsvc.decrypt(T, "r", "skms:v1:" + base64.b64encode(bytes(bad)).decode())
    with pytest.raises(InvalidInput, match="associated data"):
        await hsvc.encrypt(T, "r", b"x", b"aad")


async def test_aes_gcm_in_the_token(hsvc: KeyService) -> None:
    await hsvc.create_key(T, "a", "aes256-gcm", backend="hsm")
    text, _ = await hsvc.encrypt(T, "a", b"secret data", b"context")
    blob = raw(text)
    assert len(blob) == 12 + len(b"secret data") + 16  # nonce ‖ ciphertext ‖ tag, as software keys
    assert await hsvc.decrypt(T, "a", text, b"context") == b"secret data"
    with pytest.raises(IntegrityError):
        await hsvc.decrypt(T, "a", text, b"other context")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        await hsvc.decrypt(T, "a", "skms:v1:" + base64.b64encode(bytes(tampered)).decode(), b"context")
    plaintext, wrapped, _ = await hsvc.datakey(T, "a")
    assert await hsvc.decrypt(T, "a", wrapped) == plaintext.expose_secret()
    [entry] = await objects(hsvc, "a")
    assert (entry["sensitive"], entry["extractable"], entry["value"]) == (True, False, "refused")


async def test_rotate_makes_a_new_object(hsvc: KeyService) -> None:
    await hsvc.create_key(T, "s", "ecdsa-p256", backend="hsm")
    await hsvc.create_key(T, "a", "aes256-gcm", backend="hsm")
    old_sig, _ = await hsvc.sign(T, "s", b"m")
    old_ct, _ = await hsvc.encrypt(T, "a", b"p")
    before = {e["label"] for e in await objects(hsvc, "s")}
    info = await hsvc.rotate_key(T, "s")
    await hsvc.rotate_key(T, "a")
    assert info.latest_version == 2
    after = {e["label"] for e in await objects(hsvc, "s")}
    assert len(before) == 1 and len(after) == 2 and before < after
    new_label = (after - before).pop()
    assert new_label.startswith(f"skms:{info.id}:v2:")
    new_sig, version = await hsvc.sign(T, "s", b"m")
    assert version == 2 and new_sig.startswith("skms:v2:")
    verify_independently("ecdsa-p256", await public_of(hsvc, "s", 1), b"m", raw(old_sig, 1))
    verify_independently("ecdsa-p256", await public_of(hsvc, "s", 2), b"m", raw(new_sig, 2))
    assert await hsvc.verify(T, "s", b"m", old_sig) and await hsvc.verify(T, "s", b"m", new_sig)
    assert await hsvc.decrypt(T, "a", old_ct) == b"p"
    text, version = await hsvc.encrypt(T, "a", b"q")
    assert version == 2 and await hsvc.decrypt(T, "a", text) == b"q"


async def test_state_changes(hsvc: KeyService) -> None:
    await hsvc.create_key(T, "s", "ed25519", backend="hsm")
    sig, _ = await hsvc.sign(T, "s", b"m")
    await hsvc.set_state(T, "s", "suspended")
    with pytest.raises(InvalidState):
        await hsvc.sign(T, "s", b"m")
    assert await hsvc.verify(T, "s", b"m", sig)
    await hsvc.set_state(T, "s", "active")
    assert (await hsvc.sign(T, "s", b"m"))[0].startswith("skms:v1:")


async def test_destroy_deletes_the_objects(hsvc: KeyService) -> None:
    await hsvc.create_key(T, "s", "ecdsa-p384", backend="hsm")
    await hsvc.rotate_key(T, "s")
    labels = [e["label"] for e in await objects(hsvc, "s")]
    assert len(set(labels)) == 2
    backend = hsvc.hsm_backend
    assert backend is not None
    assert set(labels) <= await backend.labels()
    info = await hsvc.schedule_deletion(T, "s", 0)
    assert info.state == "destroyed"
    assert not set(labels) & await backend.labels()  # both versions' pairs are gone from the token
    with pytest.raises(InvalidState):
        await hsvc.sign(T, "s", b"m")


async def test_trim_deletes_old_objects(hsvc: KeyService) -> None:
    await hsvc.create_key(T, "s", "ecdsa-p256", backend="hsm")
    await hsvc.rotate_key(T, "s")
    first = {e["label"] for e in await objects(hsvc, "s")}
    await hsvc.update_key(T, "s", min_version=2)
    await hsvc.trim_versions(T, "s")
    backend = hsvc.hsm_backend
    assert backend is not None
    left = first & await backend.labels()
    assert len(left) == 1 and ":v2:" in left.pop()


async def test_export_and_backup_refused(hsvc: KeyService) -> None:
    await hsvc.create_key(T, "s", "ecdsa-p256", backend="hsm")
    record = await hsvc.store.get_key(T, "s")
    [version] = await hsvc.store.get_versions(record.id)
    with pytest.raises(UnsupportedOperation, match="never leaves the token"):
        hsvc.version_material(record, version)
    with pytest.raises(UnsupportedOperation, match="never leaves the token"):
        await hsvc.raw_material(T, "s", None)
    with pytest.raises(PolicyViolation, match="not exportable"):
        await hsvc.export_key(T, "s", b"\0" * 32, "rsa-oaep-3072-sha256")
    with pytest.raises(Forbidden, match="HSM"):
        await hsvc.backup(T, ["s"], recipient="nobody")
    with pytest.raises(InvalidState, match="allow_backup cannot be turned on"):
        await hsvc.update_key(T, "s", policy={"allow_backup": True})


async def test_key_in_an_hsm_without_an_hsm_is_503(hsvc: KeyService, store_url: str, keyfile: str) -> None:
    """A node without the HSM configured says so (HsmUnavailable is 503) instead of misreading the row."""
    from keys_support import unsealed
    from skms.errors import HsmUnavailable

    await hsvc.create_key(T, "s", "ecdsa-p256", backend="hsm")
    other = await unsealed(store_url, keyfile)
    try:
        with pytest.raises(HsmUnavailable, match="no HSM configured"):
            await other.sign(T, "s", b"m")
    finally:
        await other.close()


async def test_restore_neither_makes_nor_replaces_hsm_keys(hsvc: KeyService) -> None:
    """A bundle (anyone can make one for their own recipient key) cannot claim a key lives in the HSM,
    nor replace an HSM-resident key (its token objects would stay, named by no row)."""
    import json

    from skms.errors import Conflict
    from skms.keys import backup

    private, public = backup.create_backup_keypair()
    await hsvc.register_backup_recipient(T, "escrow", public)
    await hsvc.create_key(T, "soft", "ecdsa-p256", policy={"allow_backup": True})
    await hsvc.create_key(T, "hard", "ecdsa-p256", backend="hsm")
    result = await hsvc.backup(T, ["soft"], recipient="escrow")
    document = json.loads(backup.open_bundle(result.bundle, private))
    entry = document["keys"][0]

    def bundle(**changes: Any) -> bytes:
        return backup.seal_bundle(json.dumps({**document, "keys": [{**entry, **changes}]}).encode(), public)

    with pytest.raises(InvalidInput, match="bundles hold software keys only"):
        await hsvc.restore(bundle(name="new", meta={"backend": "hsm"}), private)
    tight = {"exportable": False, "allow_backup": False, "deletion_window": 3600}
    with pytest.raises(Conflict, match="lives in the HSM"):
        await hsvc.restore(bundle(name="hard", policy=tight), private, overwrite=True)
    assert (await hsvc.sign(T, "hard", b"m"))[0].startswith("skms:v1:")  # still the token's key


async def test_scheduled_rotation_makes_a_new_object(hsvc: KeyService, clock: Any) -> None:
    await hsvc.create_key(T, "due", "ed25519", backend="hsm", policy={"rotation_period": 3600})
    clock.advance(3601)
    assert (await hsvc.run_due())["rotated"] == 1
    labels = {e["label"] for e in await objects(hsvc, "due")}
    assert len(labels) == 2 and any(":v2:" in label for label in labels)
    text, version = await hsvc.sign(T, "due", b"m")
    assert version == 2 and await hsvc.verify(T, "due", b"m", text)
