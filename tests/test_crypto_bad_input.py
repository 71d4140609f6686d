"""Bad input for every ``skms.crypto`` entry point: a named ``skms.errors``
exception, never a crash (issue 4).

Wrong types, wrong lengths, unknown formats and algorithm ids, garbage and
mismatched PKCS#8 / SPKI / JWK, and Hypothesis properties: random input to
every loader and every decrypt / verify / decapsulate raises only SKMSError
subclasses (or returns False).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skms import errors
from skms.crypto import ALGORITHMS, CryptoPolicy, generate_key, load_private_key, load_public_key
from skms.crypto.keys import (
    FORMATS,
    AeadKey,
    AgreementPrivateKey,
    DecryptingKey,
    KemPrivateKey,
    Key,
    MacKey,
    SigningKey,
)
from skms.crypto.keywrap import unwrap_key, wrap_key
from skms.crypto.registry import get

ALLOW_ALL = CryptoPolicy(allow_deprecated=True)
ALL = list(ALGORITHMS)
DEFAULT = [a for a in ALL if a != "rsa-2048"]
NOT_BYTES: list[Any] = [None, 1, 1.5, "text", [b"x"], {"k": b"x"}]
BYTE_FORMATS = ["raw", "pkcs8-der", "pkcs8-pem", "spki-der", "spki-pem"]
LAZY_PUBLIC = {"falcon-512", "falcon-1024"}

_KEYS: dict[str, Key] = {}


def key_for(algorithm: str) -> Key:
    if algorithm not in _KEYS:
        _KEYS[algorithm] = generate_key(algorithm, policy=ALLOW_ALL)
    return _KEYS[algorithm]


def _public_exports(algorithm: str) -> dict[str, Any]:
    key = key_for(algorithm)
    if not get(algorithm).asymmetric:
        return {}
    out = {}
    for fmt in FORMATS:
        with contextlib.suppress(errors.InvalidFormat):
            out[fmt] = key.public_key().export(fmt)  # type: ignore[attr-defined]
    return out


def _private_exports(algorithm: str) -> dict[str, Any]:
    out = {}
    for fmt in FORMATS:
        with contextlib.suppress(errors.InvalidFormat):
            out[fmt] = key_for(algorithm).export(fmt)  # type: ignore[attr-defined]
    return out


def named_or_ok(call: Callable[[], Any]) -> Any:
    """Runs ``call``; any exception must be an SKMSError. Returns the result or the error."""
    try:
        return call()
    except errors.SKMSError as e:
        return e


# --- Loaders --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALL)
def test_loaders_reject_garbage(algorithm: str) -> None:
    """Values no format accepts, in every format (and the default): a named error."""
    garbage: list[Any] = [*NOT_BYTES, b"", b"\x00" * 7, b"\x30\x03\x02\x01\x00", b"-----BEGIN\n"]
    garbage += [{}, {"kty": "oct"}, {"kty": "EC", "crv": "P-256"}, {"kty": "OKP", "x": 5, "d": None}]
    for fmt in [*FORMATS, None]:
        for value in garbage:
            with pytest.raises(errors.SKMSError):
                load_private_key(algorithm, value, fmt, policy=ALLOW_ALL)
            if algorithm in LAZY_PUBLIC and fmt in ("raw", None) and isinstance(value, bytes):
                continue
            with pytest.raises(errors.SKMSError):
                load_public_key(algorithm, value, fmt, policy=ALLOW_ALL)


@pytest.mark.parametrize("fmt", ["bogus", "der", "pem", "pkcs8", "spki", "JWK", "RAW", "pkcs1-der", "openssh"])
def test_unknown_format_is_invalid_format(fmt: str) -> None:
    for algorithm in DEFAULT:
        stored = key_for(algorithm).export(get(algorithm).storage_format)  # type: ignore[attr-defined]
        with pytest.raises(errors.InvalidFormat):
            load_private_key(algorithm, stored, fmt)
        if get(algorithm).asymmetric:
            with pytest.raises(errors.InvalidFormat):
                load_public_key(algorithm, b"\x00" * 32, fmt)
            with pytest.raises(errors.InvalidFormat):
                key_for(algorithm).public_key().export(fmt)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["ed448", "aes128-gcm", "AES256-GCM", "rsa", "", "ed25519 ", "ed25519\x00"])
def test_unknown_algorithm_id(name: str) -> None:
    for call in (
        lambda: generate_key(name),
        lambda: load_private_key(name, b"\x00" * 32),
        lambda: load_public_key(name, b"\x00" * 32),
        lambda: get(name),
    ):
        with pytest.raises(errors.UnknownAlgorithm):
            call()


@pytest.mark.parametrize("name", [None, 7, ("ed25519",), ["ed25519"], b"ed25519"])
def test_algorithm_id_of_the_wrong_type(name: Any) -> None:
    with pytest.raises(errors.SKMSError):
        generate_key(name)


# Raw private key sizes, and raw public key sizes (None: no raw form).
RAW_SIZES: dict[str, tuple[int, int | None]] = {
    "aes256-gcm": (32, None), "chacha20-poly1305": (32, None), "xchacha20-poly1305": (32, None),
    "blake3-keyed": (32, None), "ed25519": (32, 32), "ecdsa-secp256k1": (32, 33), "schnorr-secp256k1": (32, 32),
    "ecdsa-p256": (32, 65), "ecdsa-p384": (48, 97), "x25519": (32, 32), "ml-dsa-44": (32, 1312),
    "ml-dsa-65": (32, 1952), "ml-dsa-87": (32, 2592), "ml-kem-768": (64, 1184), "ml-kem-1024": (64, 1568),
    "ed25519+ml-dsa-65": (64, 1984), "x25519+ml-kem-768": (32, 1216),
}  # fmt: skip


@pytest.mark.parametrize("algorithm", sorted(RAW_SIZES))
def test_wrong_raw_lengths(algorithm: str) -> None:
    private_size, public_size = RAW_SIZES[algorithm]
    assert len(key_for(algorithm).export("raw")) == private_size  # type: ignore[attr-defined]
    for size in {0, 1, private_size - 1, private_size + 1, 2 * private_size}:
        with pytest.raises(errors.InvalidKey):
            load_private_key(algorithm, b"\x01" * size)
    if public_size is None:
        return
    assert len(key_for(algorithm).public_key().export("raw")) == public_size  # type: ignore[attr-defined]
    for size in {0, 1, public_size - 1, public_size + 1}:
        with pytest.raises(errors.InvalidKey):
            load_public_key(algorithm, b"\x02" * size)


def test_hmac_key_lengths() -> None:
    for algorithm in ("hmac-sha256", "hmac-sha512"):
        for size in (16, 32, 64, 1024):
            load_private_key(algorithm, b"k" * size)
        for size in (0, 15, 1025):
            with pytest.raises(errors.InvalidKey):
                load_private_key(algorithm, b"k" * size)


@pytest.mark.parametrize(("algorithm", "order"), [
    ("ecdsa-secp256k1", 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141),
    ("schnorr-secp256k1", 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141),
    ("ecdsa-p256", 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
])  # fmt: skip
def test_out_of_range_scalars(algorithm: str, order: int) -> None:
    for scalar in (0, order, order + 1, 2**256 - 1):
        with pytest.raises(errors.InvalidKey):
            load_private_key(algorithm, scalar.to_bytes(32, "big"))


@pytest.mark.parametrize(("algorithm", "curve"), [
    ("ecdsa-secp256k1", ec.SECP256K1()), ("ecdsa-p256", ec.SECP256R1()), ("ecdsa-p384", ec.SECP384R1()),
])  # fmt: skip
def test_points_not_on_the_curve(algorithm: str, curve: ec.EllipticCurve) -> None:
    raw = key_for(algorithm).public_key().export("raw")  # type: ignore[attr-defined]
    assert isinstance(raw, bytes)
    point = ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
    full = point.public_bytes(ser.Encoding.X962, ser.PublicFormat.UncompressedPoint)
    size = (len(full) - 1) // 2
    for bad in (
        full[:-1] + bytes([full[-1] ^ 1]),  # y no longer matches x
        b"\x05" + full[1:],  # unknown prefix
        b"\x04" + bytes(len(full) - 1),  # (0, 0)
        b"\x02" + b"\xff" * size,  # x >= p
    ):
        with pytest.raises(errors.InvalidKey):
            load_public_key(algorithm, bad)


# --- Mismatched and malformed PKCS#8 / SPKI --------------------------------------------------------

SAME_KEY_TYPE = {frozenset({"ecdsa-secp256k1", "schnorr-secp256k1"})}


def _pkcs_capable() -> list[str]:
    return [a for a in DEFAULT if "pkcs8-der" in _private_exports(a)]


@pytest.mark.parametrize("source", _pkcs_capable())
def test_pkcs8_and_spki_of_another_type(source: str) -> None:
    """A PKCS#8 or SPKI of one key type, loaded as any other: InvalidKey (or InvalidFormat
    where the target has no such form). RSA as Ed25519, RSA-3072 as RSA-4096,
    P-384 as P-256, ML-DSA-44 as ML-DSA-65, and so on."""
    private, public = _private_exports(source), _public_exports(source)
    checked = 0
    for target in ALL:
        if target == source or frozenset({source, target}) in SAME_KEY_TYPE:
            continue
        # OpenSSL re-checks an RSA key on every load: PEM once per family is enough there.
        pem = not source.startswith("rsa-") or target.startswith(("rsa-", "ed25519"))
        for fmt in ("pkcs8-der", "pkcs8-pem") if pem else ("pkcs8-der",):
            with pytest.raises((errors.InvalidKey, errors.InvalidFormat)):
                load_private_key(target, private[fmt], fmt, policy=ALLOW_ALL)
        if get(target).asymmetric:
            for fmt in ("spki-der", "spki-pem"):
                with pytest.raises((errors.InvalidKey, errors.InvalidFormat)):
                    load_public_key(target, public[fmt], fmt, policy=ALLOW_ALL)
        checked += 1
    assert checked == len(ALL) - 1 - (source in {"ecdsa-secp256k1", "schnorr-secp256k1"})


def test_rsa_pkcs8_as_ed25519_names_the_type() -> None:
    data = key_for("rsa-3072").export("pkcs8-der")  # type: ignore[attr-defined]
    with pytest.raises(errors.InvalidKey, match="RSA"):
        load_private_key("ed25519", data, "pkcs8-der")
    with pytest.raises(errors.InvalidKey, match="4096"):
        load_private_key("rsa-4096", data)
    p384 = key_for("ecdsa-p384").export("pkcs8-der")  # type: ignore[attr-defined]
    with pytest.raises(errors.InvalidKey, match="secp384r1"):
        load_private_key("ecdsa-p256", p384, "pkcs8-der")


def test_pkcs8_forms_that_are_not_accepted() -> None:
    der = key_for("ed25519").export("pkcs8-der")  # type: ignore[attr-defined]
    pem = key_for("ed25519").export("pkcs8-pem")  # type: ignore[attr-defined]
    assert isinstance(der, bytes) and isinstance(pem, bytes)
    rejected: list[tuple[Any, str]] = [
        (pem, "pkcs8-der"), (der, "pkcs8-pem"), (der + b"\x00", "pkcs8-der"), (pem.decode(), "pkcs8-pem"),
        (pem.replace(b"PRIVATE KEY", b"PUBLIC KEY"), "pkcs8-pem"),
    ]  # fmt: skip
    rejected += [(der[:size], "pkcs8-der") for size in range(len(der))]
    # A password-protected PKCS#8 is refused too: SKMS imports unencrypted material only.
    theirs = ser.load_der_private_key(der, None)
    encrypted = theirs.private_bytes(
        ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.BestAvailableEncryption(b"a password")
    )
    rejected.append((encrypted, "pkcs8-der"))
    # A traditional (not PKCS#8) EC private key.
    sec1 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption()
    )
    for data, fmt in rejected:
        with pytest.raises((errors.InvalidKey, errors.InvalidFormat)):
            load_private_key("ed25519", data, fmt)
    # OpenSSL's PEM reader takes SEC1 as well; what matters is that it never crashes.
    assert isinstance(named_or_ok(lambda: load_private_key("ecdsa-p256", sec1, "pkcs8-pem")), (Key, errors.SKMSError))
    assert len(rejected) == len(der) + 6


def test_rsa_with_a_small_modulus() -> None:
    small = rsa.generate_private_key(65537, 1024)
    der = small.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    for algorithm in ("rsa-2048", "rsa-3072", "rsa-4096"):
        with pytest.raises(errors.InvalidKey):
            load_private_key(algorithm, der, policy=ALLOW_ALL)


# --- Malformed JWK -------------------------------------------------------------------------------

JWK_ALGORITHMS = [a for a in DEFAULT if "jwk" in _private_exports(a)]
MUTATIONS: list[tuple[str, Callable[[str], Any]]] = [
    ("not a string", lambda v: 12345),
    ("null", lambda v: None),
    ("empty", lambda v: ""),
    ("too short", lambda v: v[: max(0, len(v) // 2)]),
    ("too long", lambda v: v + "AAAAAAAA"),
    ("all ones", lambda v: "_" * len(v)),
]


def _jwk_cases(algorithm: str) -> list[tuple[str, dict[str, Any], Callable[..., Any]]]:
    cases: list[tuple[str, dict[str, Any], Callable[..., Any]]] = [
        ("private", _private_exports(algorithm)["jwk"], load_private_key)
    ]
    if "jwk" in _public_exports(algorithm):
        cases.append(("public", _public_exports(algorithm)["jwk"], load_public_key))
    return cases


def _required(jwk: dict[str, Any], member: str, private: bool) -> bool:
    """RFC 7517/7518/8037 members a loader cannot do without. A private EC, OKP or AKP
    key needs only its private value; "alg" is optional for symmetric keys."""
    if jwk["kty"] == "oct":
        return member != "alg"
    return not (private and member in ("x", "y", "pub"))


@pytest.mark.parametrize(
    "algorithm",
    [a for a in JWK_ALGORITHMS],
)
def test_malformed_jwk_members(algorithm: str) -> None:
    """Each member of a valid JWK missing, of the wrong type, or of the wrong size: a named error."""
    checked = 0
    for which, jwk, loader in _jwk_cases(algorithm):
        for member in jwk:
            missing = {k: v for k, v in jwk.items() if k != member}
            if _required(jwk, member, which == "private"):
                with pytest.raises(errors.SKMSError):
                    loader(algorithm, missing, "jwk")
            for _, mutate in MUTATIONS:
                altered = copy.deepcopy(jwk)
                altered[member] = mutate(jwk[member])
                result = named_or_ok(lambda altered=altered, loader=loader: loader(algorithm, altered, "jwk"))  # type: ignore[misc]
                assert isinstance(result, (errors.SKMSError, Key))
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("algorithm", JWK_ALGORITHMS)
def test_jwk_of_another_key_type(algorithm: str) -> None:
    for other in JWK_ALGORITHMS:
        if other == algorithm or frozenset({algorithm, other}) in SAME_KEY_TYPE:
            continue
        jwk = _private_exports(other)["jwk"]
        same_kty = jwk.get("kty") == _private_exports(algorithm)["jwk"].get("kty")
        result = named_or_ok(lambda jwk=jwk: load_private_key(algorithm, jwk, "jwk"))  # type: ignore[misc]
        # Symmetric JWKs of the same size are interchangeable ("alg" is optional in RFC 7517).
        assert isinstance(result, errors.SKMSError) or (same_kty and jwk["kty"] == "oct")


@pytest.mark.parametrize("value", [[], "{}", b"{}", None, 3, ({"kty": "oct"},)])
def test_jwk_that_is_not_an_object(value: Any) -> None:
    for algorithm in JWK_ALGORITHMS:
        with pytest.raises(errors.InvalidFormat):
            load_private_key(algorithm, value, "jwk")


# --- Lazily checked public keys ----------------------------------------------------------------


def test_ed25519_off_curve_public_key_is_refused_at_import() -> None:
    off_curve = (2).to_bytes(32, "little")  # y = 2: (y^2 - 1) / (d y^2 + 1) is not a square mod p
    with pytest.raises(errors.InvalidKey):
        load_public_key("ed25519", off_curve)


@pytest.mark.parametrize("algorithm", ["falcon-512", "falcon-1024"])
def test_falcon_garbage_public_key_is_refused_at_import(algorithm: str) -> None:
    with pytest.raises(errors.InvalidKey):
        load_public_key(algorithm, b"")


def test_lazily_checked_keys_fail_named_when_used() -> None:
    """Until they are checked at import, such keys at least fail with InvalidKey when used."""
    with pytest.raises(errors.InvalidKey):
        load_public_key("ed25519", (2).to_bytes(32, "little")).verify(b"m", bytes(64))  # type: ignore[attr-defined]
    for algorithm, size in (("falcon-512", 666), ("falcon-1024", 1280)):
        with pytest.raises(errors.InvalidKey):
            load_public_key(algorithm, b"").verify(b"m", bytes(size))  # type: ignore[attr-defined]


# --- Operations with wrong argument types ----------------------------------------------------------


def _operations(algorithm: str) -> dict[str, Callable[[Any], Any]]:
    """Each entry point of the key, with one argument replaced by the bad value."""
    key = key_for(algorithm)
    ops: dict[str, Callable[[Any], Any]] = {"export(format)": lambda v: key.export(v)}  # type: ignore[attr-defined]
    if isinstance(key, AeadKey):
        ciphertext = key.encrypt(b"m", b"ad")
        ops |= {
            "encrypt(plaintext)": lambda v: key.encrypt(v),
            "encrypt(associated_data)": lambda v: key.encrypt(b"m", v),
            "decrypt(ciphertext)": lambda v: key.decrypt(v),
            "decrypt(associated_data)": lambda v: key.decrypt(ciphertext, v),
        }
    if isinstance(key, MacKey):
        tag = key.mac(b"m")
        ops |= {
            "mac(data)": key.mac,
            "verify(data)": lambda v: key.verify(v, tag),
            "verify(tag)": lambda v: key.verify(b"m", v),
        }
    if isinstance(key, SigningKey):
        public, signature = key.public_key(), key.sign(b"m")
        ops |= {
            "sign(message)": key.sign,
            "verify(message)": lambda v: public.verify(v, signature),
            "verify(signature)": lambda v: public.verify(b"m", v),
        }
    if isinstance(key, DecryptingKey):
        ops |= {"decrypt(ciphertext)": key.decrypt, "encrypt(plaintext)": key.public_key().encrypt}
    if isinstance(key, KemPrivateKey):
        ops["decapsulate(ciphertext)"] = key.decapsulate
    if isinstance(key, AgreementPrivateKey):
        ops["exchange(peer)"] = key.exchange
    if get(algorithm).asymmetric:
        ops["public export(format)"] = lambda v: key.public_key().export(v)  # type: ignore[attr-defined]
    return ops


def _operation_params() -> list[Any]:
    params = []
    for algorithm in DEFAULT:
        for name in _operations(algorithm):
            params.append(pytest.param(algorithm, name, id=f"{algorithm}-{name}"))
    return params


@pytest.mark.parametrize(("algorithm", "operation"), _operation_params())
def test_wrong_argument_types(algorithm: str, operation: str) -> None:
    call = _operations(algorithm)[operation]
    # None stands for "no associated data", as in cryptography's AEAD API.
    values = [v for v in NOT_BYTES if not (v is None and "associated_data" in operation)]
    for value in values:
        with pytest.raises(errors.SKMSError):
            call(value)


def test_key_wrap_bad_input() -> None:
    kek = bytes(32)
    for bad_kek in (b"", bytes(15), bytes(33), bytes(64)):
        with pytest.raises(errors.InvalidInput):
            wrap_key(bad_kek, bytes(16))
        with pytest.raises(errors.InvalidInput):
            unwrap_key(bad_kek, bytes(24))
    for bad_key in (b"", bytes(8), bytes(17), bytes(15)):
        with pytest.raises(errors.InvalidInput):
            wrap_key(kek, bad_key)
    with pytest.raises(errors.InvalidInput):
        wrap_key(kek, b"", padding=True)
    for wrapped in (b"", bytes(8), bytes(16), bytes(23), bytes(25), bytes(32)):
        with pytest.raises(errors.IntegrityError):
            unwrap_key(kek, wrapped)
        with pytest.raises(errors.IntegrityError):
            unwrap_key(kek, wrapped, padding=True)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: wrap_key("k" * 32, bytes(16)), id="str-kek"),
        pytest.param(lambda: wrap_key(bytes(32), None), id="none-key"),
        pytest.param(lambda: unwrap_key(bytes(32), None), id="none-wrapped"),
        pytest.param(lambda: unwrap_key(None, bytes(24)), id="none-kek"),
    ],
)
def test_key_wrap_wrong_types(call: Callable[[], Any]) -> None:
    with pytest.raises(errors.SKMSError):
        call()


# --- Hypothesis: random input never escapes as anything but an SKMSError --------------------------

PROPERTY = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("algorithm", ALL)
@PROPERTY
@given(data=st.binary(max_size=2600), fmt=st.sampled_from([*BYTE_FORMATS, "jwk", None]))
def test_property_random_bytes_into_loaders(algorithm: str, data: bytes, fmt: str | None) -> None:
    named_or_ok(lambda: load_private_key(algorithm, data, fmt, policy=ALLOW_ALL))
    named_or_ok(lambda: load_public_key(algorithm, data, fmt, policy=ALLOW_ALL))


@pytest.mark.parametrize("algorithm", ALL)
@PROPERTY
@given(data=st.data())
def test_property_pem_and_der_shaped_garbage(algorithm: str, data: st.DataObject) -> None:
    """Inputs that look like keys: a real export of any algorithm with bytes flipped or cut."""
    source = data.draw(st.sampled_from(_pkcs_capable()))
    fmt = data.draw(st.sampled_from(["pkcs8-der", "pkcs8-pem"]))
    blob = bytearray(_private_exports(source)[fmt])
    for _ in range(data.draw(st.integers(0, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    blob = blob[: data.draw(st.integers(0, len(blob)))]
    named_or_ok(lambda: load_private_key(algorithm, bytes(blob), fmt, policy=ALLOW_ALL))


_JWK_MEMBERS = ["kty", "crv", "x", "y", "d", "k", "n", "e", "p", "q", "dp", "dq", "qi", "alg", "pub", "priv"]
_JWK_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.sampled_from(
        ["oct", "OKP", "EC", "RSA", "AKP", "Ed25519", "X25519", "P-256", "P-384", "secp256k1", "ML-DSA-65"]
    ),
    st.binary(max_size=64).map(lambda b: __import__("base64").urlsafe_b64encode(b).rstrip(b"=").decode()),
)


@pytest.mark.parametrize(
    "algorithm",
    [a for a in JWK_ALGORITHMS],
)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(jwk=st.dictionaries(st.sampled_from(_JWK_MEMBERS), _JWK_VALUES, max_size=8))
def test_property_random_jwk(algorithm: str, jwk: dict[str, Any]) -> None:
    # Half the time, start from the right kty/crv so the member checks are reached.
    template = {k: v for k, v in _private_exports(algorithm)["jwk"].items() if k in ("kty", "crv", "alg")}
    for candidate in (jwk, {**template, **{k: v for k, v in jwk.items() if k not in template}}):
        named_or_ok(lambda candidate=candidate: load_private_key(algorithm, candidate, "jwk"))  # type: ignore[misc]
        if get(algorithm).asymmetric:
            named_or_ok(lambda candidate=candidate: load_public_key(algorithm, candidate, "jwk"))  # type: ignore[misc]


def _use(key: Key, data: bytes, extra: bytes) -> None:
    """Every operation that takes untrusted input, fed random bytes."""
    if isinstance(key, AeadKey):
        with pytest.raises(errors.IntegrityError):
            key.decrypt(data, extra)
    if isinstance(key, MacKey):
        assert key.verify(data, extra) is False or key.mac(data) == extra
    if isinstance(key, SigningKey):
        result = named_or_ok(lambda: key.public_key().verify(extra, data))
        assert result is False or isinstance(result, errors.InvalidSignature)
    if isinstance(key, DecryptingKey):
        with pytest.raises((errors.IntegrityError, errors.InvalidInput)):
            key.decrypt(data)
    if isinstance(key, KemPrivateKey):
        result = named_or_ok(lambda: key.decapsulate(data))
        assert isinstance(result, errors.IntegrityError) or len(result) == 32
    if isinstance(key, AgreementPrivateKey):
        named_or_ok(lambda: key.exchange(data))


@pytest.mark.parametrize("algorithm", DEFAULT)
@PROPERTY
@given(data=st.binary(max_size=4000), extra=st.binary(max_size=64))
def test_property_random_bytes_into_operations(algorithm: str, data: bytes, extra: bytes) -> None:
    _use(key_for(algorithm), data, extra)


_SIZES: dict[str, int] = {}


def _natural_size(algorithm: str) -> int:
    """The size of a real ciphertext, signature or tag of the key (the largest, for DER)."""
    if algorithm not in _SIZES:
        key = key_for(algorithm)
        if isinstance(key, AeadKey):
            size = len(key.encrypt(b"12345"))
        elif isinstance(key, SigningKey):
            size = max(len(key.sign(b"m")) for _ in range(8))
        elif isinstance(key, DecryptingKey):
            size = len(key.public_key().encrypt(b"m"))
        elif isinstance(key, KemPrivateKey):
            size = len(key.public_key().encapsulate()[1])
        elif isinstance(key, MacKey):
            size = len(key.mac(b"m"))
        else:
            size = 32
        _SIZES[algorithm] = size
    return _SIZES[algorithm]


@pytest.mark.parametrize("algorithm", DEFAULT)
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data())
def test_property_right_size_random_input(algorithm: str, data: st.DataObject) -> None:
    """Random bytes of exactly the size a real ciphertext or signature has."""
    size = _natural_size(algorithm)
    _use(key_for(algorithm), data.draw(st.binary(min_size=size, max_size=size)), b"m")


@PROPERTY
@given(kek=st.sampled_from([bytes(16), bytes(24), bytes(32)]), wrapped=st.binary(max_size=80), padding=st.booleans())
def test_property_random_bytes_into_unwrap(kek: bytes, wrapped: bytes, padding: bool) -> None:
    with pytest.raises(errors.IntegrityError):
        unwrap_key(kek, wrapped, padding=padding)
