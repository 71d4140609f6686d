"""CryptoPolicy: what a deployment's configuration allows, and the named refusal (issue 4)."""

from __future__ import annotations

import pytest

from skms import errors
from skms.crypto import ALGORITHMS, CryptoPolicy, generate_key, load_private_key, load_public_key
from skms.crypto.registry import DEFAULT_POLICY, Status, get

FALCON = ["falcon-512", "falcon-1024"]
HYBRIDS = ["ed25519+ml-dsa-65", "x25519+ml-kem-768"]
ML = ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-kem-768", "ml-kem-1024"]
CLASSICAL_ASYMMETRIC = [
    "ed25519", "ecdsa-secp256k1", "schnorr-secp256k1", "ecdsa-p256", "ecdsa-p384",
    "rsa-2048", "rsa-3072", "rsa-4096", "x25519",
]  # fmt: skip


def test_default_policy_refuses_rsa_2048_and_says_why() -> None:
    assert get("rsa-2048").status is Status.DEPRECATED
    for call in (
        lambda: generate_key("rsa-2048"),
        lambda: load_private_key("rsa-2048", b"not even looked at", "pkcs8-der"),
        lambda: load_public_key("rsa-2048", b"not even looked at"),
        lambda: DEFAULT_POLICY.check("rsa-2048"),
    ):
        with pytest.raises(errors.AlgorithmNotAllowed) as excinfo:
            call()
        message = str(excinfo.value)
        assert "rsa-2048" in message and "deprecated" in message and "800-131A" in message
    assert not isinstance(errors.AlgorithmNotAllowed("x"), errors.InvalidInput), "a refusal, not bad input"


def test_default_policy_allows_everything_else() -> None:
    allowed = [a for a in ALGORITHMS if DEFAULT_POLICY.allows(a)]
    assert allowed == [a for a in ALGORITHMS if a != "rsa-2048"]
    assert CryptoPolicy(allow_deprecated=True).allows("rsa-2048")


def test_fips_only() -> None:
    policy = CryptoPolicy(fips_only=True)
    refused = ["chacha20-poly1305", "xchacha20-poly1305", "ecdsa-secp256k1", "schnorr-secp256k1", "x25519",
               "blake3-keyed", *FALCON, *HYBRIDS]  # fmt: skip
    for algorithm in refused:
        with pytest.raises(errors.AlgorithmNotAllowed, match="not FIPS-approved"):
            policy.check(algorithm)
        with pytest.raises(errors.AlgorithmNotAllowed):
            generate_key(algorithm, policy=policy)
    allowed = ["aes256-gcm", "hmac-sha256", "hmac-sha512", "ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072",
               "rsa-4096", *ML]  # fmt: skip
    assert all(policy.allows(a) for a in allowed)
    assert sorted(refused + allowed + ["rsa-2048"]) == sorted(ALGORITHMS)
    assert generate_key("ml-dsa-65", policy=policy).algorithm == "ml-dsa-65"
    assert generate_key("ecdsa-p256", policy=policy).algorithm == "ecdsa-p256"


def test_quantum_safe_only() -> None:
    policy = CryptoPolicy(quantum_safe_only=True)
    for algorithm in CLASSICAL_ASYMMETRIC:
        if algorithm == "rsa-2048":
            continue  # refused first as deprecated
        with pytest.raises(errors.AlgorithmNotAllowed, match="not quantum-safe"):
            policy.check(algorithm)
    allowed = [*ML, *FALCON, *HYBRIDS, "aes256-gcm", "chacha20-poly1305", "xchacha20-poly1305", "hmac-sha256",
               "hmac-sha512", "blake3-keyed"]  # fmt: skip
    assert all(policy.allows(a) for a in allowed)
    assert sorted(allowed + CLASSICAL_ASYMMETRIC) == sorted(ALGORITHMS)


def test_fips_and_quantum_safe_together() -> None:
    policy = CryptoPolicy(fips_only=True, quantum_safe_only=True)
    assert [a for a in ALGORITHMS if policy.allows(a)] == ["aes256-gcm", "hmac-sha256", "hmac-sha512", *ML]


def test_allowed_and_denied_lists() -> None:
    only = CryptoPolicy(allowed=frozenset({"aes256-gcm", "ed25519"}))
    assert [a for a in ALGORITHMS if only.allows(a)] == ["aes256-gcm", "ed25519"]
    with pytest.raises(errors.AlgorithmNotAllowed, match="allowed list"):
        only.check("x25519")
    denied = CryptoPolicy(denied=frozenset({"ed25519"}))
    with pytest.raises(errors.AlgorithmNotAllowed, match="denied"):
        denied.check("ed25519")
    assert denied.allows("ecdsa-p256")
    # Denied wins over allowed; the deprecated rule still applies to allowed ids.
    both = CryptoPolicy(allowed=frozenset({"ed25519", "rsa-2048"}), denied=frozenset({"ed25519"}))
    assert not both.allows("ed25519") and not both.allows("rsa-2048")
    with pytest.raises(errors.UnknownAlgorithm):
        denied.check("ed448")
    with pytest.raises(errors.UnknownAlgorithm):
        denied.allows("ed448")


def test_allow_legacy_false() -> None:
    policy = CryptoPolicy(allow_legacy=False)
    legacy = [a for a in ALGORITHMS if get(a).status is Status.LEGACY]
    assert all(not policy.allows(a) for a in legacy)
    assert policy.allows("aes256-gcm")


def test_from_mapping() -> None:
    policy = CryptoPolicy.from_mapping(
        {"fips_only": "true", "quantum_safe_only": "0", "denied": "ml-dsa-44, ml-kem-768", "allow_deprecated": 1}
    )
    assert policy == CryptoPolicy(fips_only=True, allow_deprecated=True, denied=frozenset({"ml-dsa-44", "ml-kem-768"}))
    assert CryptoPolicy.from_mapping({}) == CryptoPolicy()
    listed = CryptoPolicy.from_mapping({"allowed": ["ed25519", " x25519 "], "allow_legacy": "no"})
    assert listed.allowed == frozenset({"ed25519", "x25519"}) and listed.allow_legacy is False
    # An empty allowed list means no allow-list at all.
    assert CryptoPolicy.from_mapping({"allowed": ""}).allowed is None
    for truthy in ("1", "true", "TRUE", "yes", "on", " On ", True, 1):
        assert CryptoPolicy.from_mapping({"fips_only": truthy}).fips_only is True
    for falsy in ("0", "false", "no", "off", "", False, 0):
        assert CryptoPolicy.from_mapping({"fips_only": falsy}).fips_only is False


def test_from_mapping_rejects_unknown_settings_and_ids() -> None:
    with pytest.raises(errors.InvalidInput, match="fips"):
        CryptoPolicy.from_mapping({"fips": "1"})
    with pytest.raises(errors.InvalidInput, match="quantum_only"):
        CryptoPolicy.from_mapping({"fips_only": "1", "quantum_only": "1"})
    with pytest.raises(errors.UnknownAlgorithm, match="aes128-gcm"):
        CryptoPolicy.from_mapping({"allowed": "aes256-gcm,aes128-gcm"})
    with pytest.raises(errors.UnknownAlgorithm, match="des"):
        CryptoPolicy.from_mapping({"denied": ["des"]})


@pytest.mark.parametrize("text", ["ture", "flase", "maybe", "fips"])
def test_from_mapping_rejects_unparseable_booleans(text: str) -> None:
    with pytest.raises(errors.InvalidInput):
        CryptoPolicy.from_mapping({"fips_only": text})


def test_from_env() -> None:
    environ = {
        "SKMS_CRYPTO_FIPS_ONLY": "1",
        "SKMS_CRYPTO_DENIED": "ecdsa-p384",
        "SKMS_CRYPTO_ALLOW_DEPRECATED": "false",
        "PATH": "/usr/bin",
        "SKMS_OTHER": "ignored: not a crypto setting",
    }
    policy = CryptoPolicy.from_env(environ)
    assert policy == CryptoPolicy(fips_only=True, denied=frozenset({"ecdsa-p384"}))
    assert CryptoPolicy.from_env({}) == CryptoPolicy()
    with pytest.raises(errors.InvalidInput, match="fips"):
        CryptoPolicy.from_env({"SKMS_CRYPTO_FIPS": "1"})
    with pytest.raises(errors.UnknownAlgorithm):
        CryptoPolicy.from_env({"SKMS_CRYPTO_ALLOWED": "ed25519,ed448"})


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKMS_CRYPTO_QUANTUM_SAFE_ONLY", "yes")
    assert CryptoPolicy.from_env().quantum_safe_only is True


def test_policy_applies_to_every_factory() -> None:
    policy = CryptoPolicy(denied=frozenset({"ed25519"}))
    key = generate_key("ed25519")
    raw, public = key.export("raw"), key.public_key().export("raw")  # type: ignore[attr-defined]
    with pytest.raises(errors.AlgorithmNotAllowed):
        generate_key("ed25519", policy=policy)
    with pytest.raises(errors.AlgorithmNotAllowed):
        load_private_key("ed25519", raw, policy=policy)
    with pytest.raises(errors.AlgorithmNotAllowed):
        load_public_key("ed25519", public, policy=policy)
