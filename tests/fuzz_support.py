"""Hypothesis strategies for request bodies, shaped by each msgspec struct's own type information.

Shared by ``test_fuzz_schemas.py`` (decoding and conversion at the schema level) and
``test_fuzz_api.py`` (the same bodies against a real server). ``bodies(struct)`` gives anything
from well-formed to junk; ``decodable_bodies(struct)`` mostly bodies that decode, so that the code
behind the decoder is reached.
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from server_process import app_routes

T = TypeVar("T")

#: Every struct a route decodes its body as.
BODY_STRUCTS: list[type[msgspec.Struct]] = sorted(
    {r.body for r in app_routes() if isinstance(r.body, type) and issubclass(r.body, msgspec.Struct)},
    key=lambda t: t.__name__,
)

# -- JSON shaped by a struct's type information ----------------------------------------------------

NASTY = ["", "\x00", "\n", " ", "²", "١", "é", "\U0001f600", "\ufeff", "\\", '"', "%00", "../..", "*"]
nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(NASTY),
    st.lists(st.sampled_from([*NASTY, "a", "0", ":", "/", "'"]), max_size=8).map("".join),
)
EXTREME_INTS = [0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), 10**40]
ints = st.one_of(st.integers(-3, 40), st.sampled_from(EXTREME_INTS), st.integers(-(2**70), 2**70))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -0.0, 5e-324]),
    nasty_text,
)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


b64 = st.binary(max_size=80).map(_b64)
envelopes = st.one_of(
    st.tuples(st.integers(1, 5), st.binary(max_size=120)).map(
        lambda t: f"skms:v{t[0]}:{base64.b64encode(t[1]).decode()}"
    ),
    st.sampled_from(["skms:v²:AAAA", "skms:v1:", "skms:v0:AAAA", "skms:v1:A===", "skms:v9999999999:AA"]),
    nasty_text,
)

#: Values that reach past the first check, by field name (the rest are generated from the type).
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "ciphertext": envelopes,
    "signature": envelopes,
    "hmac": envelopes,
    "type": st.sampled_from(
        [
            "aes256-gcm",
            "ed25519",
            "hmac-sha256",
            "ml-kem-768",
            "x25519",
            "hd-wallet",
            "rsa-2048",
            "AES256-GCM",
            "ecdsa-p256",
            "none",
        ]
    ),
    "purpose": st.sampled_from(["encrypt", "sign", "mac", "kem", "agree", "derive", "Encrypt", ""]),
    "algorithm": st.sampled_from(["sha256", "sha3-512", "blake3", "keccak256", "md5", "SHA256", "sha-256", ""]),
    "path": st.sampled_from(["m/44'/60'/0'/0/0", "m/0", "m/2147483648", "m/0'/" * 300 + "0", "m", "0/1", "m/-1"]),
    "phrase": st.sampled_from(["abandon " * 11 + "about", "abandon " * 12, "zoo " * 24, "", "\x00"]),
    "language": st.sampled_from(["english", "japanese", "klingon", "", "ENGLISH"]),
    "roles": st.lists(st.sampled_from(["admin", "key-admin", "crypto-user", "auditor", "nope", ""]), max_size=3),
    "action": st.sampled_from(["key:Sign", "key:*", "*", "wallet:Sign", "", "nope"]),
    "resource": st.sampled_from(["key:a", "key:*", "*", "", "wallet:w"]),
    "source": st.sampled_from(["127.0.0.1", "::1", "fe80::1%eth0", "not-an-ip", "1.2.3.4/8", ""]),
    "name": st.one_of(st.from_regex(r"\Afz-[a-z0-9]{1,12}\Z"), nasty_text),
    "size": st.one_of(st.sampled_from([16, 24, 32, 64]), ints),
    "words": st.one_of(st.sampled_from([12, 15, 18, 21, 24]), ints),
    # Addresses to derive: small or out of range (a valid count of 100 000 costs seconds per example).
    "count": st.one_of(st.integers(-3, 50), st.sampled_from([0, 100_001, 2**31, 2**32, 2**64 - 1, -(2**63)])),
    # Byte fields with the lengths their parsers expect, as well as any other.
    "public_key": st.one_of(st.binary(min_size=1216, max_size=1216), st.binary(max_size=40)).map(_b64),
    "backup_private_key": st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)).map(_b64),
    "bundle": st.one_of(
        st.binary(min_size=1200, max_size=1300).map(lambda b: b"SKMS-BACKUP\x00\x00\x01" + b), st.binary(max_size=40)
    ).map(_b64),
    "digest": st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)).map(_b64),
}


def _right(t: mi.Type, name: str | None, depth: int, strict: bool) -> st.SearchStrategy[Any]:
    """JSON of type ``t`` (``strict``: only values msgspec accepts, so that conversions are reached)."""
    if isinstance(t, mi.StructType):
        if depth > 4:
            return st.just({})
        fields = {f.encode_name: _value(f.type, f.encode_name, depth + 1, strict) for f in t.fields}
        required = {f.encode_name: fields[f.encode_name] for f in t.fields if f.required}
        optional = {k: v for k, v in fields.items() if k not in required}
        shaped = st.fixed_dictionaries(required, optional=optional)
        if strict:
            return shaped
        unknown = st.fixed_dictionaries(required, optional={**optional, "zz_unknown": any_json})
        return st.one_of(shaped, shaped, shaped, unknown)
    if isinstance(t, mi.UnionType):
        types = [u for u in t.types if not (strict and isinstance(u, mi.NoneType))] or list(t.types)
        return st.one_of([_right(u, name, depth, strict) for u in types])
    if name in FIELD_VALUES and not isinstance(t, mi.NoneType):
        return FIELD_VALUES[name]
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return (
            st.one_of(st.integers(-3, 40), st.integers(-(2**63), 2**64 - 1), st.sampled_from(EXTREME_INTS[:-1]))
            if strict
            else ints
        )
    if isinstance(t, mi.FloatType):
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), ints)
    if isinstance(t, mi.StrType):
        return nasty_text
    if isinstance(t, mi.BytesType):
        return b64 if strict else st.one_of(b64, b64, nasty_text)
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values)) if strict else st.one_of(st.sampled_from(list(t.values)), json_scalars)
    if isinstance(t, mi.ListType | mi.VarTupleType):
        return st.lists(_value(t.item_type, name, depth + 1, strict), max_size=4)
    if isinstance(t, mi.TupleType):
        return st.tuples(*(_value(i, None, depth + 1, strict) for i in t.item_types)).map(list)
    if isinstance(t, mi.DictType):
        return st.dictionaries(
            st.one_of(st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,8}\Z"), nasty_text),
            _value(t.value_type, None, depth + 1, strict),
            max_size=4,
        )
    return any_json


def _value(t: mi.Type, name: str | None, depth: int, strict: bool) -> st.SearchStrategy[Any]:
    right = _right(t, name, depth, strict)
    return right if strict else st.one_of(right, right, right, any_json)


def _deep(field: str, depth: int, kind: str) -> bytes:
    """``{field: [[[…0…]]]}`` nested ``depth`` levels, as bytes (an encoder would recurse)."""
    opening, closing = (b"[", b"]") if kind == "list" else (b'{"a":', b"}")
    return b'{"' + field.encode() + b'":' + opening * depth + b"0" + closing * depth + b"}"


def _bodies(struct: type[msgspec.Struct]) -> st.SearchStrategy[bytes]:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    shaped = _right(info, None, 0, False).map(msgspec.json.encode)
    nested = st.builds(
        _deep,
        st.sampled_from([f.encode_name for f in info.fields] or ["zz"]),
        st.sampled_from([1_000, 10_000, 100_000]),
        st.sampled_from(["list", "dict"]),
    )
    raw = st.one_of(
        st.binary(max_size=100),
        st.sampled_from([b"", b"null", b"[]", b"{}", b'{"a":', b"{} {}", b'{"a": NaN}', b"\xff\xfe", b"1e999"]),
        st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]),
    )
    mutated = st.tuples(shaped, st.integers(0, 200), st.binary(min_size=1, max_size=3)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    )
    return st.one_of(shaped, shaped, shaped, nested, raw, mutated)


_BODIES: dict[type[msgspec.Struct], st.SearchStrategy[bytes]] = {t: _bodies(t) for t in BODY_STRUCTS}
_DECODABLE: dict[type[msgspec.Struct], st.SearchStrategy[bytes]] = {
    t: _right(mi.type_info(t), None, 0, True).map(msgspec.json.encode) for t in BODY_STRUCTS
}


@st.composite
def bodies(draw: st.DrawFn, struct: type[msgspec.Struct]) -> bytes:
    """Bodies for ``struct`` (a composite, so that hypothesis reports show its name, not the whole strategy)."""
    return draw(_BODIES[struct])


@st.composite
def decodable_bodies(draw: st.DrawFn, struct: type[msgspec.Struct]) -> bytes:
    """Bodies that mostly decode (right types, extreme values): they reach the conversions."""
    # Not st.one_of(a, a, a, b): it flattens and deduplicates branches, so the weights would not hold.
    return draw(_DECODABLE[struct] if draw(st.integers(0, 3)) else _BODIES[struct])


def decode(raw: bytes, struct: type[T]) -> T | None:
    """The server's decoding: a struct, or None for a DecodeError (ValidationError is one)."""
    try:
        return msgspec.json.decode(raw, type=struct)
    except msgspec.DecodeError as e:
        assert str(e)
        return None
