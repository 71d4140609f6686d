"""skms.hsm against a real SoftHSM2 token (issue 14, items 2 and 7).

Every operation runs in the token; results are checked by independent code: signatures verify
with ``cryptography`` (and secp256k1 with ``coincurve``), AES-GCM ciphertexts and AES-KWP
wraps are compared with ``cryptography``'s. Private and secret keys SKMS generates refuse
``C_GetAttributeValue(CKA_VALUE)``. Also: configuration errors, wrong PIN, unknown token, the
CKR_* mapping, 200 concurrent signs with the event loop responsive, a forked child, and
recovery when the token goes away and comes back.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as px

from hsm_support import OWN_TOKENS, PIN, PIN_ENV, SoftHsm
from skms import errors
from skms._native import SecretBytes
from skms.api.problems import problem_of
from skms.api.settings import load_settings
from skms.crypto.random import OsRandom, get_random_source, random_bytes, set_random_source
from skms.hsm import Hsm, HsmConfig, HsmRandom, KeyKind, KeyRef, ecdsa_der
from skms.hsm.ckr import CKR_CLASSES, classify, hsm_error
from skms.hsm.token import RANDOM_MAX, library

pytestmark = pytest.mark.anyio

MESSAGE = b"skms hsm test message"
SIGNING_KINDS = [k for k in KeyKind if k is not KeyKind.AES_256]


def _label(prefix: str) -> tuple[str, bytes]:
    key_id = os.urandom(8)
    return f"{prefix}-{key_id.hex()}", key_id


def _verify_independently(kind: KeyKind, public_der: bytes, signature: bytes, message: bytes) -> None:
    """Raises unless ``signature`` (the token's format) is valid, checked without the token."""
    public = serialization.load_der_public_key(public_der)
    if kind is KeyKind.ECDSA_SECP256K1:
        import coincurve

        assert isinstance(public, ec.EllipticCurvePublicKey)
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        # libsecp256k1 accepts only low-s signatures (BIP 62): SKMS normalises the token's.
        assert coincurve.PublicKey(point).verify(der, message, hasher=lambda m: hashlib.sha256(m).digest())
        public.verify(der, message, ec.ECDSA(hashes.SHA256()))
        return
    if kind in (KeyKind.ECDSA_P256, KeyKind.ECDSA_P384):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        algorithm = hashes.SHA256() if kind is KeyKind.ECDSA_P256 else hashes.SHA384()
        public.verify(der, message, ec.ECDSA(algorithm))
    elif kind is KeyKind.ED25519:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == (3072 if kind is KeyKind.RSA_3072 else 4096)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public.verify(signature, message, pss, hashes.SHA256())


# --- configuration ----------------------------------------------------------------------------


def test_config_is_validated_with_clear_errors(softhsm: SoftHsm, tmp_path: Path) -> None:
    module = softhsm.module
    cases: list[tuple[dict[str, Any], str]] = [
        ({"module": ""}, "hsm_module"),
        ({"module": str(tmp_path / "missing.so")}, "no such file"),
        ({"token_label": None}, "exactly one of hsm_token_label and hsm_token_serial"),
        ({"token_serial": "abc"}, "exactly one of hsm_token_label and hsm_token_serial"),
        ({"token_label": "x" * 33}, "hsm_token_label must be 1 to 32 bytes"),
        ({"pin_env": None}, "exactly one of hsm_pin_env"),
        ({"pin_file": "/x"}, "exactly one of hsm_pin_env"),
        ({"pin_env": "NOT A NAME"}, "hsm_pin_env must be an environment variable's name"),
        ({"sessions": 0}, "hsm_sessions must be 1 to 64"),
        ({"sessions": 65}, "hsm_sessions must be 1 to 64"),
    ]
    for change, expected in cases:
        fields: dict[str, Any] = {"module": module, "token_label": "t", "pin_env": PIN_ENV, **change}
        with pytest.raises(errors.HsmConfigError, match=expected):
            HsmConfig(**fields)


def test_pin_never_in_config_repr_or_errors(softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("Pin-Zq9Xk\n")
    pin_file.chmod(0o600)
    config = softhsm.config(pin_env=None, pin_file=str(pin_file))
    assert config.read_pin() == "Pin-Zq9Xk"  # one trailing newline dropped
    hsm = Hsm(config)
    for shown in (repr(config), str(config), repr(hsm), repr(HsmRandom(hsm))):
        assert "Pin-Zq9Xk" not in shown
    pin_file.chmod(0o644)
    with pytest.raises(errors.HsmConfigError, match="readable by group or others") as info:
        config.read_pin()
    assert "Pin-Zq9Xk" not in str(info.value)
    monkeypatch.delenv(PIN_ENV)
    with pytest.raises(errors.HsmConfigError, match=f"variable {PIN_ENV} is not set"):
        softhsm.config().read_pin()


def test_settings_validate_the_hsm_fields(softhsm: SoftHsm) -> None:
    assert load_settings({}).hsm_config() is None
    with pytest.raises(errors.InvalidInput, match="hsm_token_label: set hsm_module"):
        load_settings({"SKMS_HSM_TOKEN_LABEL": "x"})
    with pytest.raises(errors.InvalidInput, match="exactly one of hsm_pin_env"):
        load_settings({"SKMS_HSM_MODULE": softhsm.module, "SKMS_HSM_TOKEN_LABEL": "x"})
    settings = load_settings(
        {
            "SKMS_HSM_MODULE": softhsm.module,
            "SKMS_HSM_TOKEN_SERIAL": "0123",
            "SKMS_HSM_PIN_FILE": "/run/secrets/hsm-pin",
            "SKMS_HSM_SESSIONS": "8",
            "SKMS_HSM_RANDOM": "true",
        }
    )
    config = settings.hsm_config()
    assert config is not None and config.token_serial == "0123" and config.sessions == 8
    assert settings.hsm_random is True


async def test_wrong_pin_is_named(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    # A token of its own (hsm_support.OWN_TOKENS): failed logins never touch the shared one.
    monkeypatch.setenv(PIN_ENV, "9999")
    hsm = Hsm(softhsm.config("skms-wrongpin"))
    try:
        with pytest.raises(errors.HsmPinIncorrect, match=r"refused the PIN \(CKR_PIN_INCORRECT\)") as info:
            await hsm.generate_random(8)
        assert "9999" not in str(info.value)
        assert problem_of(info.value)["status"] == 503
        monkeypatch.setenv(PIN_ENV, PIN)  # the PIN is read at each login: fixing it is enough
        assert len(await hsm.generate_random(8)) == 8
    finally:
        hsm.close()


async def test_unknown_token_is_named(softhsm: SoftHsm) -> None:
    hsm = Hsm(softhsm.config("no-such-token"))
    with pytest.raises(errors.HsmTokenNotFound, match="no token with label 'no-such-token'") as info:
        await hsm.generate_random(8)
    assert repr(softhsm.label) in str(info.value)  # it lists the tokens that are there
    by_serial = Hsm(softhsm.config(token_label=None, token_serial="00000000deadbeef"))
    with pytest.raises(errors.HsmTokenNotFound, match="serial '00000000deadbeef'"):
        by_serial.check()
    # By serial, the right token opens.
    good = Hsm(softhsm.config(token_label=None, token_serial=softhsm.serial(softhsm.label)))
    try:
        good.check()
    finally:
        good.close()


def test_a_module_that_is_not_pkcs11_is_a_config_error(softhsm: SoftHsm, tmp_path: Path) -> None:
    fake = tmp_path / "not-a-module.so"
    fake.write_bytes(b"\x7fELF not really")
    with pytest.raises(errors.HsmConfigError, match="cannot load the PKCS#11 library"):
        Hsm(softhsm.config(module=str(fake))).check()


# --- keys and operations --------------------------------------------------------------------


@pytest.mark.parametrize("kind", SIGNING_KINDS, ids=str)
async def test_sign_in_the_token_verifies_independently(hsm: Hsm, kind: KeyKind) -> None:
    label, key_id = _label(str(kind))
    pair = await hsm.generate_keypair(kind, label, key_id)
    assert pair.ref == KeyRef(kind, label, key_id)
    assert await hsm.public_key(pair.ref) == pair.public_key_der
    for message in (MESSAGE, b"", os.urandom(1000)):
        signature = await hsm.sign(pair.ref, message)
        _verify_independently(kind, pair.public_key_der, signature, message)
        assert await hsm.verify(pair.ref, message, signature)
        assert not await hsm.verify(pair.ref, message + b"!", signature)
    # A tampered signature fails the independent check too.
    signature = bytearray(await hsm.sign(pair.ref, MESSAGE))
    signature[-1] ^= 1
    with pytest.raises((InvalidSignature, AssertionError)):
        _verify_independently(kind, pair.public_key_der, bytes(signature), MESSAGE)
    assert await hsm.find_key(label=label) == pair.ref
    assert await hsm.find_key(key_id=key_id) == pair.ref


async def test_ecdsa_der_helper_matches_cryptography(hsm: Hsm) -> None:
    pair = await hsm.generate_keypair(KeyKind.ECDSA_P256, *_label("p256-der"))
    raw = await hsm.sign(pair.ref, MESSAGE)
    public = serialization.load_der_public_key(pair.public_key_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(ecdsa_der(raw), MESSAGE, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("kind", list(KeyKind), ids=str)
async def test_generated_private_and_secret_keys_refuse_their_value(hsm: Hsm, kind: KeyKind) -> None:
    label, key_id = _label(f"value-{kind}")
    if kind is KeyKind.AES_256:
        ref = await hsm.generate_aes_key(label, key_id)
        cls = ObjectClass.SECRET_KEY
    else:
        ref = (await hsm.generate_keypair(kind, label, key_id)).ref
        cls = ObjectClass.PRIVATE_KEY
    secret_attribute = Attribute.PRIVATE_EXPONENT if kind in (KeyKind.RSA_3072, KeyKind.RSA_4096) else Attribute.VALUE

    def read(session: Any) -> Any:
        key = session.get_key(object_class=cls, label=ref.label, id=ref.id)
        flags = {a: key[a] for a in (Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.ALWAYS_SENSITIVE)}
        flags[Attribute.NEVER_EXTRACTABLE] = key[Attribute.NEVER_EXTRACTABLE]
        try:
            key[secret_attribute]  # C_GetAttributeValue(CKA_VALUE): the token must refuse
        except px.AttributeSensitive as e:
            return flags, e
        return flags, None

    flags, refusal = await hsm.run(read)
    assert isinstance(refusal, px.AttributeSensitive), f"the token revealed {secret_attribute.name} of a {kind} key"
    assert flags == {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.ALWAYS_SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
    }
    # Through the pool, the refusal is a named SKMS error.
    with pytest.raises(errors.HsmOperationRefused, match="CKR_ATTRIBUTE_SENSITIVE"):
        await hsm.run(lambda s: s.get_key(object_class=cls, label=ref.label)[secret_attribute], doing="reading")


async def _import_aes(hsm: Hsm, value: bytes, label: str, key_id: bytes) -> KeyRef:
    """A known AES key put into the token (test only: SKMS itself never imports key values)."""

    def create(session: Any) -> None:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.LABEL: label,
                Attribute.ID: key_id,
                Attribute.VALUE: value,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
            }
        )

    await hsm.run(create)
    return KeyRef(KeyKind.AES_256, label, key_id)


async def test_aes_gcm_matches_cryptography_both_ways(hsm: Hsm) -> None:
    value = os.urandom(32)
    ref = await _import_aes(hsm, value, *_label("aes-known"))
    aes = AESGCM(value)
    for plaintext, aad in ((b"hello hsm", b""), (os.urandom(5000), b"context"), (b"", b"only aad")):
        iv, ciphertext = await hsm.encrypt(ref, plaintext, aad=aad)
        assert len(iv) == 12 and len(ciphertext) == len(plaintext) + 16
        assert aes.decrypt(iv, ciphertext, aad or None) == plaintext  # token -> cryptography
        iv2 = os.urandom(12)
        assert await hsm.decrypt(ref, iv2, aes.encrypt(iv2, plaintext, aad or None), aad=aad) == plaintext
    # Known answer with a fixed IV, and a SecretBytes plaintext.
    iv, ciphertext = await hsm.encrypt(ref, SecretBytes(b"s" * 32), aad=b"a", iv=b"\x01" * 12)
    assert ciphertext == aes.encrypt(b"\x01" * 12, b"s" * 32, b"a")
    assert await hsm.decrypt_secret(ref, iv, ciphertext, aad=b"a") == SecretBytes(b"s" * 32)


async def test_aes_gcm_with_a_generated_extractable_test_key(hsm: Hsm) -> None:
    # Test only: a non-sensitive, extractable key whose value cryptography can use.
    ref = await hsm.generate_aes_key(*_label("aes-extractable"), extractable=True, sensitive=False)
    value = await hsm.run(
        lambda s: bytes(s.get_key(object_class=ObjectClass.SECRET_KEY, label=ref.label)[Attribute.VALUE])
    )
    assert len(value) == 32
    iv, ciphertext = await hsm.encrypt(ref, MESSAGE, aad=b"x")
    assert AESGCM(value).decrypt(iv, ciphertext, b"x") == MESSAGE


async def test_a_bad_tag_is_an_integrity_error_and_does_not_reset_the_pool(hsm: Hsm) -> None:
    ref = await hsm.generate_aes_key(*_label("aes-tag"))
    iv, ciphertext = await hsm.encrypt(ref, MESSAGE, aad=b"right")
    opened_before = hsm.pool_size()
    for bad in (
        lambda: hsm.decrypt(ref, iv, ciphertext, aad=b"wrong"),
        lambda: hsm.decrypt(ref, iv, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]), aad=b"right"),
        lambda: hsm.decrypt(ref, os.urandom(12), ciphertext, aad=b"right"),
    ):
        with pytest.raises(errors.HsmIntegrityError) as info:
            await bad()
        assert problem_of(info.value)["status"] == 400
    # SoftHSM2 answers a bad tag with CKR_GENERAL_ERROR: read as "unavailable" it would drop the sessions.
    assert hsm.pool_size() == opened_before
    with pytest.raises(errors.InvalidInput, match="12 bytes"):
        await hsm.decrypt(ref, b"short", ciphertext)
    with pytest.raises(errors.InvalidInput, match="16-byte tag"):
        await hsm.decrypt(ref, iv, b"x")


OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _token_does_oaep_sha256(hsm: Hsm, ref: KeyRef, ciphertext: bytes) -> bool:
    """Asks the token directly (python-pkcs11): does it take CKM_RSA_PKCS_OAEP with SHA-256?"""
    from pkcs11 import MGF

    def ask(session: Any) -> bool:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=ref.label, id=ref.id)
        try:
            key.decrypt(
                ciphertext, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(Mechanism.SHA256, MGF.SHA256, None)
            )
        except (px.ArgumentsBad, px.MechanismInvalid, px.MechanismParamInvalid, px.GeneralError):
            return False
        return True

    return hsm.call(ask)


async def test_rsa_oaep_sha256_decrypts_in_the_token(softhsm: SoftHsm) -> None:
    """RSA-OAEP SHA-256 with the private operation in the token: CKM_RSA_PKCS_OAEP where the token
    takes SHA-256, else (SoftHSM2 2.6) raw RSA (CKM_RSA_X_509) and the native constant-time decoding.
    The first call finds out which, once; concurrent first calls all succeed."""
    hsm = Hsm(softhsm.config())
    try:
        pair = await hsm.generate_keypair(KeyKind.RSA_3072, *_label("rsa-oaep"))
        public = serialization.load_der_public_key(pair.public_key_der)
        assert isinstance(public, rsa.RSAPublicKey)
        expected = (
            "CKM_RSA_PKCS_OAEP"
            if _token_does_oaep_sha256(hsm, pair.ref, public.encrypt(b"x", OAEP_SHA256))
            else "CKM_RSA_X_509"
        )
        assert hsm.oaep_mechanism is None
        messages = [os.urandom(n) for n in (0, 1, 32, 190, 384 - 66)] * 4
        plains = await asyncio.gather(*(hsm.decrypt_oaep(pair.ref, public.encrypt(m, OAEP_SHA256)) for m in messages))
        assert all(isinstance(p, SecretBytes) for p in plains)
        assert [p.expose_secret() for p in plains] == messages
        assert hsm.oaep_mechanism == expected

        # Altered ciphertexts: IntegrityError, one message, and the pool is not reset.
        ciphertext = public.encrypt(MESSAGE, OAEP_SHA256)
        opened = hsm.pool_size()
        answers = set()
        for i in (1, 100, 383):
            bad = bytearray(ciphertext)
            bad[i] ^= 0x10
            with pytest.raises(errors.IntegrityError) as info:
                await hsm.decrypt_oaep(pair.ref, bytes(bad))
            answers.add((type(info.value), str(info.value)))
        assert len(answers) == 1, answers
        assert hsm.pool_size() == opened
        assert hsm.oaep_mechanism == expected

        # Raw-RSA input is checked before the token sees it: k bytes, 0 < c < n.
        n = public.public_numbers().n
        for bad_input, problem in (
            (ciphertext[:-1], "is 384 bytes, got 383"),
            (ciphertext + b"\0", "is 384 bytes, got 385"),
            (bytes(384), "between 0 and the key's modulus"),
            (n.to_bytes(384, "big"), "between 0 and the key's modulus"),
            (b"\xff" * 384, "between 0 and the key's modulus"),
        ):
            with pytest.raises(errors.InvalidInput, match=problem):
                await hsm.decrypt_oaep(pair.ref, bad_input)
        assert (await hsm.decrypt_oaep(pair.ref, ciphertext)).expose_secret() == MESSAGE

        # Only RSA keys of the token; and the key must permit decryption (CKA_DECRYPT).
        ec_pair = await hsm.generate_keypair(KeyKind.ECDSA_P256, *_label("ec-oaep"))
        with pytest.raises(errors.InvalidInput, match="RSA key"):
            await hsm.decrypt_oaep(ec_pair.ref, ciphertext)
        label, key_id = _label("rsa-sign-only")
        hsm.call(
            lambda s: s.generate_keypair(
                KeyType.RSA,
                3072,
                id=key_id,
                label=label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY | MechanismFlag.ENCRYPT,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
        )
        sign_only = KeyRef(KeyKind.RSA_3072, label, key_id)
        sign_only_public = serialization.load_der_public_key(await hsm.public_key(sign_only))
        assert isinstance(sign_only_public, rsa.RSAPublicKey)
        with pytest.raises(errors.HsmOperationRefused, match="CKA_DECRYPT is false") as refused:
            await hsm.decrypt_oaep(sign_only, sign_only_public.encrypt(MESSAGE, OAEP_SHA256))
        assert refused.value.ckr == "CKR_KEY_FUNCTION_NOT_PERMITTED"
        await hsm.destroy(label=label)
    finally:
        hsm.close()


async def test_wrap_and_unwrap_a_root_key(hsm: Hsm) -> None:
    kek = os.urandom(32)
    ref = await _import_aes(hsm, kek, *_label("kek-known"))
    root = SecretBytes.random(32)
    wrapped = await hsm.wrap_secret(ref, root)
    # RFC 5649 is deterministic: cryptography computes the same blob from the same key.
    assert wrapped == aes_key_wrap_with_padding(kek, root.expose_secret())
    assert await hsm.unwrap_secret(ref, wrapped) == root
    for tampered in (wrapped[:-1] + bytes([wrapped[-1] ^ 1]), bytes(len(wrapped))):
        with pytest.raises(errors.HsmIntegrityError):
            await hsm.unwrap_secret(ref, tampered)
    with pytest.raises(errors.InvalidInput, match="SecretBytes"):
        await hsm.wrap_secret(ref, root.expose_secret())  # type: ignore[arg-type]
    # With a generated (non-extractable) wrapping key, and no temporary object left behind.
    generated = await hsm.generate_aes_key(*_label("kek"))
    assert await hsm.unwrap_secret(generated, await hsm.wrap_secret(generated, root)) == root
    count = await hsm.run(lambda s: len(list(s.get_objects({Attribute.TOKEN: False}))))
    assert count == 0


async def test_key_function_not_permitted_and_mechanism_refusals(hsm: Hsm) -> None:
    encrypt_only = await hsm.generate_aes_key(
        *_label("aes-encrypt-only"), capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
    )
    with pytest.raises(errors.HsmOperationRefused, match=r"does not permit this use \(CKA_WRAP is false\)") as info:
        await hsm.wrap_secret(encrypt_only, SecretBytes.random(32))
    assert problem_of(info.value)["status"] == 422
    assert info.value.ckr == "CKR_KEY_FUNCTION_NOT_PERMITTED"
    pair = await hsm.generate_keypair(KeyKind.ECDSA_P256, *_label("p256-mech"))
    opened = hsm.pool_size()
    # SoftHSM2 says CKR_GENERAL_ERROR here: the token still answers, so it is a refusal, not an outage.
    with pytest.raises(errors.HsmOperationRefused, match="cannot do this with this key and mechanism"):
        await hsm.sign(pair.ref, MESSAGE, mechanism=Mechanism.SHA256_RSA_PKCS)
    assert hsm.pool_size() == opened  # no reset
    with pytest.raises(errors.InvalidInput, match="unknown HSM key kind"):
        await hsm.generate_keypair("dsa-1024", *_label("dsa"))


async def test_find_duplicate_and_destroy(hsm: Hsm, softhsm: SoftHsm) -> None:
    label, key_id = _label("lifecycle")
    pair = await hsm.generate_keypair(KeyKind.ED25519, label, key_id)
    with pytest.raises(errors.HsmKeyExists, match="already on the token") as info:
        await hsm.generate_keypair(KeyKind.ED25519, label, os.urandom(8))
    assert problem_of(info.value)["status"] == 409
    with pytest.raises(errors.HsmKeyExists):
        await hsm.generate_aes_key("another-label", key_id)
    # Another pool (as another worker would) caches the handle, then the key is destroyed here.
    other = Hsm(softhsm.config())
    try:
        assert await other.verify(pair.ref, MESSAGE, await other.sign(pair.ref, MESSAGE))
        assert await hsm.destroy(label=label) == 2  # private and public halves
        with pytest.raises(errors.HsmKeyNotFound, match="no private key with label") as info:
            await other.sign(pair.ref, MESSAGE)  # stale handle: looked up again, then not found
        assert problem_of(info.value)["status"] == 404
        # A new key under the same label is found by the pool that cached the old one.
        again = await hsm.generate_keypair(KeyKind.ED25519, label, key_id)
        _verify_independently(KeyKind.ED25519, again.public_key_der, await other.sign(again.ref, MESSAGE), MESSAGE)
    finally:
        other.close()
    with pytest.raises(errors.HsmKeyNotFound):
        await hsm.find_key(label="never-made")
    with pytest.raises(errors.HsmKeyNotFound):
        await hsm.destroy(label="never-made")


async def test_keys_skms_does_not_make_are_named_as_such(hsm: Hsm) -> None:
    label, key_id = _label("aes-128")
    await hsm.run(lambda s: s.generate_key(KeyType.AES, 128, label=label, id=key_id, store=True))
    with pytest.raises(errors.HsmOperationRefused, match=r"type or size SKMS does not make \(AES\)"):
        await hsm.find_key(label=label)
    assert (await hsm.find_key(key_id=(await hsm.generate_aes_key(*_label("aes-256"))).id)).kind is KeyKind.AES_256


async def test_pool_errors_reach_the_awaiting_task_and_cancellation_is_harmless(hsm: Hsm) -> None:
    def fails(session: Any) -> None:
        raise ValueError("not a PKCS#11 error")

    with pytest.raises(ValueError, match="not a PKCS#11 error"):
        await hsm.run(fails)
    pair = await hsm.generate_keypair(KeyKind.ED25519, *_label("cancel"))
    tasks = [asyncio.create_task(hsm.sign(pair.ref, MESSAGE)) for _ in range(50)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results[::2])
    assert all(isinstance(r, bytes) and len(r) == 64 for r in results[1::2])
    assert await hsm.verify(pair.ref, MESSAGE, await hsm.sign(pair.ref, MESSAGE))
    opened, idle = hsm.pool_size()
    assert opened == idle  # every session came back
    # The blocking form, for start-up and the CLI.
    assert hsm.call(lambda s: len(s.generate_random(64)), idempotent=True) == 8


async def test_random_from_the_token(hsm: Hsm) -> None:
    draws = [await hsm.generate_random(32) for _ in range(8)]
    assert all(len(d) == 32 for d in draws) and len(set(draws)) == 8
    assert len(await hsm.generate_random(RANDOM_MAX)) == RANDOM_MAX
    for bad in (0, -1, RANDOM_MAX + 1, True):
        with pytest.raises(errors.InvalidInput):
            await hsm.generate_random(bad)
    # The key service's random source: off by default, the token's when set.
    assert isinstance(get_random_source(), OsRandom)
    set_random_source(HsmRandom(hsm))
    try:
        assert len(random_bytes(48)) == 48
    finally:
        set_random_source(OsRandom())


# --- the CKR_* mapping ------------------------------------------------------------------------


def test_every_pkcs11_exception_maps_to_a_named_error() -> None:
    classes = [
        v
        for v in vars(px).values()
        if isinstance(v, type) and issubclass(v, px.PKCS11Error) and v is not px.PKCS11Error
    ]
    assert len(classes) > 60
    unmapped = [c.__name__ for c in classes if c not in CKR_CLASSES]
    assert not unmapped, f"python-pkcs11 exceptions without an SKMS error: {unmapped}"
    for cls in classes:
        error = hsm_error(cls(), "doing it")
        ckr, _, _ = classify(cls())
        assert isinstance(error, errors.HsmError)
        assert str(error).startswith("HSM: doing it: ")
        if ckr != "-":
            assert error.ckr == ckr and ckr in str(error)
        # Only a misuse of a session by SKMS stays a bare HsmError (500).
        if type(error) is errors.HsmError:
            assert cls in (px.OperationActive, px.OperationNotInitialized), cls


@pytest.mark.parametrize(
    ("exc", "cls", "status"),
    [
        (px.DeviceRemoved(), errors.HsmUnavailable, 503),
        (px.TokenNotPresent(), errors.HsmUnavailable, 503),
        (px.SessionHandleInvalid(), errors.HsmUnavailable, 503),
        (px.UserNotLoggedIn(), errors.HsmUnavailable, 503),
        (px.NoSuchToken(), errors.HsmTokenNotFound, 503),
        (px.PinIncorrect(), errors.HsmPinIncorrect, 503),
        (px.PinLocked(), errors.HsmPinLocked, 503),
        (px.NoSuchKey("No key matching {label: 'secret-name'}"), errors.HsmKeyNotFound, 404),
        (px.ObjectHandleInvalid(), errors.HsmKeyNotFound, 404),
        (px.MultipleObjectsReturned(), errors.HsmKeyExists, 409),
        (px.MechanismInvalid(), errors.HsmOperationRefused, 422),
        (px.AttributeSensitive(), errors.HsmOperationRefused, 422),
        (px.KeyUnextractable(), errors.HsmOperationRefused, 422),
        (px.DataLenRange(), errors.HsmInvalidInput, 400),
        (px.EncryptedDataInvalid(), errors.HsmIntegrityError, 400),
        (px.WrappedKeyInvalid(), errors.HsmIntegrityError, 400),
        (px.OperationActive(), errors.HsmError, 500),
        (px.PKCS11Error("Unmapped error code 0x68"), errors.HsmOperationRefused, 422),
        (px.PKCS11Error("Initialisation error (not initialized). Should never see this."), errors.HsmUnavailable, 503),
        (px.PKCS11Error("Unmapped error code 0x80000001"), errors.HsmError, 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_error_mapping_table(exc: px.PKCS11Error, cls: type[errors.HsmError], status: int) -> None:
    error = hsm_error(exc, "testing")
    assert type(error) is cls
    assert problem_of(error)["status"] == status
    assert "secret-name" not in str(error)  # python-pkcs11's own text (a search template) is not repeated
    if "0x68" in str(exc):
        assert error.ckr == "CKR_KEY_FUNCTION_NOT_PERMITTED"
    if "0x80000001" in str(exc):
        assert "0x80000001" in str(error)


def test_config_errors_answer_503() -> None:
    assert problem_of(errors.HsmConfigError("x"))["status"] == 503


# --- the pool ---------------------------------------------------------------------------------


async def test_200_concurrent_signs_keep_the_event_loop_responsive(softhsm: SoftHsm) -> None:
    hsm = Hsm(softhsm.config(sessions=4))
    try:
        pairs = [await hsm.generate_keypair(k, *_label(f"conc-{k}")) for k in (KeyKind.ECDSA_P256, KeyKind.ED25519)]
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        messages = [b"message %d" % i for i in range(200)]
        signatures = await asyncio.gather(*(hsm.sign(pairs[i % 2].ref, m) for i, m in enumerate(messages)))
        done.set()
        await tick
        for i, (message, signature) in enumerate(zip(messages, signatures, strict=True)):
            pair = pairs[i % 2]
            _verify_independently(pair.ref.kind, pair.public_key_der, signature, message)
        opened, idle = hsm.pool_size()
        assert opened <= 4 and idle == opened  # bounded, and every session came back
        # The loop kept running while the token worked: many ticks, none stuck behind a sign.
        assert len(gaps) >= 5
        assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.3f}s"
    finally:
        hsm.close()


async def test_a_forked_child_gets_its_own_library_and_sessions(hsm: Hsm) -> None:
    pair = await hsm.generate_keypair(KeyKind.ED25519, *_label("fork"))
    await hsm.sign(pair.ref, MESSAGE)  # the parent has sessions, threads and a login
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: uses the very same Hsm object
        status = 1
        try:
            signature = asyncio.run(hsm.sign(pair.ref, MESSAGE))
            ed25519.Ed25519PublicKey.from_public_bytes(
                serialization.load_der_public_key(pair.public_key_der).public_bytes(  # type: ignore[union-attr]
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                )
            ).verify(signature, MESSAGE)
            assert len(hsm.random_bytes(16)) == 16
            status = 0
        except BaseException as e:  # report, never return into pytest in the child
            os.write(write, repr(e).encode()[:500])
        finally:
            os._exit(status)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    report = os.read(read, 1000).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0, report
    assert await hsm.verify(pair.ref, MESSAGE, await hsm.sign(pair.ref, MESSAGE))  # the parent is unaffected


# --- recovery ---------------------------------------------------------------------------------


@pytest.fixture
def own_token(softhsm: SoftHsm) -> Iterator[Callable[[str], Hsm]]:
    """A token of the test's own and an Hsm on it, so pulling it away disturbs no other test."""
    made: list[Hsm] = []

    def make(label: str) -> Hsm:
        assert label in OWN_TOKENS
        pool = Hsm(softhsm.config(label))
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()


async def test_a_token_that_goes_away_is_unavailable_and_recovers(softhsm: SoftHsm, own_token: Any) -> None:
    label = "skms-unplug"
    hsm: Hsm = own_token(label)
    pair = await hsm.generate_keypair(KeyKind.ECDSA_P256, *_label("survivor"))
    aes = await hsm.generate_aes_key(*_label("survivor-aes"))
    assert await hsm.verify(pair.ref, MESSAGE, await hsm.sign(pair.ref, MESSAGE))
    directory = softhsm.token_dir(label)
    away = softhsm.tokendir.parent / "unplugged"  # outside the token directory: SoftHSM2 scans all of it
    shutil.move(directory, away)  # "unplugged": the token's storage is gone
    try:
        with pytest.raises(errors.HsmUnavailable) as info:
            await hsm.sign(pair.ref, MESSAGE)
        assert problem_of(info.value)["status"] == 503
        with pytest.raises(errors.HsmUnavailable):
            await hsm.generate_aes_key(*_label("while-away"))
        with pytest.raises(errors.HsmUnavailable):
            await hsm.encrypt(aes, MESSAGE)
    finally:
        shutil.move(away, directory)  # plugged back in
    # The pool logs in again on the next call; the keys made before are there and work.
    signature = await hsm.sign(pair.ref, MESSAGE)
    _verify_independently(KeyKind.ECDSA_P256, pair.public_key_der, signature, MESSAGE)
    iv, ciphertext = await hsm.encrypt(aes, MESSAGE)
    assert await hsm.decrypt(aes, iv, ciphertext) == MESSAGE
    assert await hsm.generate_aes_key(*_label("after-return"))


async def test_a_deleted_and_recreated_token_is_used_again(softhsm: SoftHsm, own_token: Any) -> None:
    label = "skms-recreate"
    hsm: Hsm = own_token(label)
    old = await hsm.generate_aes_key(*_label("old"))
    softhsm.delete_token(label)
    with pytest.raises((errors.HsmUnavailable, errors.HsmKeyNotFound)):
        await hsm.encrypt(old, MESSAGE)
    with pytest.raises(errors.HsmUnavailable):
        await hsm.generate_aes_key(*_label("while-deleted"))
    softhsm.init_token(label)  # a new token under the same label: the pool finds it by label
    assert len(await hsm.generate_random(16)) == 16
    with pytest.raises(errors.HsmKeyNotFound):
        await hsm.encrypt(old, MESSAGE)  # the old token's keys went with it
    new = await hsm.generate_aes_key(*_label("new"))
    iv, ciphertext = await hsm.encrypt(new, MESSAGE)
    assert await hsm.decrypt(new, iv, ciphertext) == MESSAGE


# python-pkcs11 finishes an interrupted search in __del__, which fails once the library is finalised.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_sessions_or_library_lost_under_the_pool_recover(hsm: Hsm) -> None:
    pair = await hsm.generate_keypair(KeyKind.ED25519, *_label("lost"))
    assert await hsm.verify(pair.ref, MESSAGE, await hsm.sign(pair.ref, MESSAGE))
    # 1. A session closed behind the pool's back (here by the call itself): the next call on it
    # fails with CKR_SESSION_HANDLE_INVALID, the pool starts over, and the sign is retried.
    await hsm.run(lambda session: session.close())
    for _ in range(hsm.config.sessions + 1):
        assert await hsm.verify(pair.ref, MESSAGE, await hsm.sign(pair.ref, MESSAGE))
    # 2. The library finalised under the pool (C_Finalize): every handle is invalid.
    lib = library(hsm.config.module)
    lib.lib.finalize()
    assert await hsm.verify(pair.ref, MESSAGE, await hsm.sign(pair.ref, MESSAGE))
    # A call that changes the token is not retried: after a loss it reports it once...
    lib.lib.finalize()
    with pytest.raises(errors.HsmUnavailable, match="CKR_CRYPTOKI_NOT_INITIALIZED"):
        await hsm.generate_aes_key(*_label("not-retried"))
    # ... and the next one works.
    assert await hsm.generate_aes_key(*_label("then-fine"))
