"""Property tests of the envelopes and cursors that come back from clients (issue 13, "Also").

* ``skms:v<N>:<base64>`` ciphertext, signature and tag envelopes (:func:`decode_versioned`):
  round-trip, and random or mutated text raises only :class:`InvalidInput`;
* the key list cursor and the audit cursor (opaque base64 from a query string): round-trip,
  and anything else raises only :class:`InvalidInput`, with values a database can hold;
* backup bundles (:func:`backup.open_bundle`) and their payloads: random and mutated bundles, and
  payloads a caller could seal for their own backup key, raise only :class:`IntegrityError`.

Inputs are bounded (hypothesis sizes, explicit extremes) so that no example can hang.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from skms.audit.log import _decode_cursor as decode_audit_cursor
from skms.audit.log import _encode_cursor as encode_audit_cursor
from skms.errors import IntegrityError, InvalidInput, SKMSError
from skms.keys import backup
from skms.keys.model import PREFIX, decode_versioned, encode_versioned
from skms.keys.service import _decode_cursor as decode_key_cursor
from skms.keys.service import _encode_cursor as encode_key_cursor
from skms.storage.base import AuditRow

FAST = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])

#: Text that stresses parsers: NUL, unicode digits (isdigit() but not 0-9), surrogate-free astral
#: characters, whitespace and the envelope's own separators.
NASTY = ["\x00", "²", "١", "𝟙", "٣", "⁹", "\n", " ", ":", "=", "-", "_", "+", "/", "é", "\U0001f600", "\ufeff"]
nasty_text = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(NASTY)), max_size=120)


def _mutate(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        char = draw(st.one_of(st.sampled_from(NASTY), st.characters(codec="utf-8")))
        action = draw(st.sampled_from(("replace", "insert", "delete", "duplicate")))
        if action == "insert":
            text = text[:position] + char + text[position:]
        elif action == "replace":
            text = text[:position] + char + text[position + 1 :]
        elif action == "delete":
            text = text[:position] + text[position + 1 :]
        else:
            text = text[:position] + text[position:] * 2
    return text


# -- skms:v<N>:<base64> -------------------------------------------------------------------------

versions = st.one_of(st.integers(1, 10**9 - 1), st.sampled_from([1, 2, 9, 10, 10**9 - 1]))


@FAST
@given(version=versions, data=st.binary(max_size=600))
def test_versioned_round_trip(version: int, data: bytes) -> None:
    assert decode_versioned(encode_versioned(version, data)) == (version, data)


@st.composite
def envelope_like(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(nasty_text)
    if choice == 1:
        return PREFIX + draw(nasty_text)
    if choice == 2:
        head = draw(st.one_of(st.text(alphabet="0123456789²١𝟙-+ ", max_size=14), st.integers().map(str)))
        return f"{PREFIX}{head}:{draw(nasty_text)}"
    if choice == 3:
        return _mutate(draw, encode_versioned(draw(versions), draw(st.binary(max_size=80))))
    # Not text at all: JSON values a client could send where an envelope belongs.
    return draw(
        st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=20), st.lists(st.text(), max_size=3))
    )


@FAST
@given(text=envelope_like())
@example("skms:v²:AAAA")  # isdigit() but int() refuses it: was a ValueError (a 500 over HTTP)
@example("skms:v١:AAAA")  # Arabic-Indic one: was read as version 1
@example("skms:v𝟙:AAAA")
@example("skms:v0:AAAA")
@example("skms:v1000000000:AAAA")
@example("skms:v" + "9" * 5000 + ":AAAA")
@example("skms:v1:" + "A" * 100_001)
@example("skms:v1:AAAA\n")
@example("skms:v1:AA\x00AA")
def test_versioned_decode_raises_only_invalid_input(text: Any) -> None:
    for what in ("ciphertext", "signature", "tag"):
        try:
            version, data = decode_versioned(text, what)
        except InvalidInput as e:
            assert what in str(e)
            continue
        # Accepted: the version is written in ASCII digits and re-encodes to the same number and bytes.
        head = text[len(PREFIX) :].partition(":")[0]
        assert head.isascii() and head.isdigit() and int(head) == version and 1 <= version < 10**9
        assert decode_versioned(encode_versioned(version, data), what) == (version, data)


# -- the key list cursor ------------------------------------------------------------------------

key_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


@FAST
@given(name=st.one_of(key_names, st.text(max_size=200)))
def test_key_cursor_round_trip(name: str) -> None:
    assert decode_key_cursor(encode_key_cursor(name)) == name


@st.composite
def key_cursor_like(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(nasty_text)
    if choice == 1:
        return "c1." + draw(st.one_of(nasty_text, st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())))
    return _mutate(draw, encode_key_cursor(draw(key_names)))


@FAST
@given(cursor=key_cursor_like())
@example("c1." + "A" * 100_003)
@example("c1.//8")  # base64 of b"\xff\xff": not UTF-8
@example("c1.AA")  # a NUL name: PostgreSQL text refuses it (mapped to a 400 by the problem handler)
def test_key_cursor_decode_raises_only_invalid_input(cursor: str) -> None:
    try:
        name = decode_key_cursor(cursor)
    except InvalidInput as e:
        assert e.field == "cursor"
        return
    assert isinstance(name, str)


# -- the audit cursor ---------------------------------------------------------------------------


def _row(time: float, chain_id: str, seq: int) -> AuditRow:
    fields = dict.fromkeys(AuditRow._fields, None)
    fields.update(chain_id=chain_id, seq=seq, time=time)
    return AuditRow(**fields)


chain_ids = st.from_regex(r"\A[a-z0-9.-]{1,60}-[0-9]{1,7}-[0-9a-f]{8}\Z")


@FAST
@given(
    time=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    chain_id=chain_ids,
    seq=st.integers(0, 2**63 - 1),
)
def test_audit_cursor_round_trip(time: float, chain_id: str, seq: int) -> None:
    assert decode_audit_cursor(encode_audit_cursor(_row(time, chain_id, seq))) == (time, chain_id, seq)


def _b64url_json(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -1, -(2**63), -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)


@st.composite
def audit_cursor_like(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(nasty_text)
    if choice == 1:
        return _b64url_json(draw(st.lists(json_scalars, max_size=4)))
    if choice == 2:
        return _b64url_json([draw(json_scalars), draw(st.one_of(chain_ids, nasty_text)), draw(json_scalars)])
    return _mutate(draw, encode_audit_cursor(_row(1.7e9, draw(chain_ids), draw(st.integers(0, 2**40)))))


@FAST
@given(cursor=audit_cursor_like())
@example(_b64url_json([1.0, "host-1-0011aabb", 2**64 - 1]))  # was an OverflowError inside the SQLite driver
@example(_b64url_json([1.0, "host-1-0011aabb", 2**63]))
@example(_b64url_json([1.0, "host-1-0011aabb", -1]))
@example(_b64url_json([1.0, "a\x00b", 1]))
@example(_b64url_json([1.0, "", 1]))
@example(_b64url_json([1.0, "x" * 10_000, 1]))
@example(base64.urlsafe_b64encode(b'[1e999, "a", 1]').decode())
@example(base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode())
def test_audit_cursor_decode_raises_only_invalid_input(cursor: str) -> None:
    try:
        t, chain_id, seq = decode_audit_cursor(cursor)
    except InvalidInput:
        return
    # What reaches the database fits its columns (REAL/double, TEXT without NUL, INTEGER/bigint).
    assert math.isfinite(t)
    assert 0 <= seq < 2**63
    assert chain_id and "\x00" not in chain_id


# -- backup bundles -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backup_keys() -> tuple[bytes, bytes]:
    private, public = backup.create_backup_keypair()
    return private.expose_secret(), public


@pytest.fixture(scope="module")
def real_bundle(backup_keys: tuple[bytes, bytes]) -> bytes:
    payload = json.dumps({"format": backup.FORMAT_VERSION, "keys": []}).encode()
    return backup.seal_bundle(payload, backup_keys[1])


PROPERTY_FIXTURES = settings(
    max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@PROPERTY_FIXTURES
@given(data=st.data())
def test_mutated_bundles_raise_only_integrity_error(
    backup_keys: tuple[bytes, bytes], real_bundle: bytes, data: st.DataObject
) -> None:
    blob = bytearray(real_bundle)
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(blob))))
    if cut is not None:
        blob = blob[:cut]
    blob += data.draw(st.binary(max_size=8))
    assume(bytes(blob) != real_bundle)  # two flips of one bit cancel out
    with pytest.raises(IntegrityError):
        backup.open_bundle(bytes(blob), backup_keys[0])


@PROPERTY_FIXTURES
@given(
    bundle=st.one_of(
        st.binary(max_size=3000),
        st.binary(min_size=1200, max_size=1300).map(lambda b: backup.MAGIC + b"\x00\x01" + b),
        st.binary(min_size=1200, max_size=1300).map(lambda b: backup.MAGIC + b"\xff\xff" + b),
    )
)
def test_random_bundles_raise_only_integrity_error(backup_keys: tuple[bytes, bytes], bundle: bytes) -> None:
    with pytest.raises(IntegrityError):
        backup.open_bundle(bundle, backup_keys[0])


@PROPERTY_FIXTURES
@given(private=st.one_of(st.binary(max_size=80), st.none(), st.text(max_size=40), st.integers()))
def test_bad_backup_private_keys_raise_only_named_errors(real_bundle: bytes, private: Any) -> None:
    try:
        backup.open_bundle(real_bundle, private)
    except SKMSError:
        return


# The payload is authenticated, but its author may be the caller: anyone with key:Restore can make a
# backup key pair, seal any payload for it and POST /v1/restore with the private key.
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)
ENTRY_FIELDS = [*backup._KEY_FIELDS, "versions"]
VERSION_FIELDS = ["version", "public_key", "material", "created_at", "state", "expires_at"]


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=400))
    if choice == 1:
        return json.dumps(draw(json_values)).encode()
    versions_value = draw(
        st.one_of(
            json_values,
            st.lists(st.fixed_dictionaries({f: json_values for f in VERSION_FIELDS}), max_size=2),
        )
    )
    entry = {f: draw(json_values) for f in ENTRY_FIELDS}
    entry["versions"] = versions_value
    document: dict[str, Any] = {"format": draw(st.sampled_from([1, 1, 2, "1", None])), "keys": [entry]}
    if choice == 3:
        return json.dumps(document).encode()
    return msgspec.json.encode(document)[: draw(st.integers(0, 400))]


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(payload=payloads())
@example(b"[" * 100_000 + b"]" * 100_000)  # nesting past the JSON decoder's recursion limit
@example(b'{"format": 1, "keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
@example(b'{"format": 1, "keys": ["idtenantnametypepurposelabelspolicystatelatest_versionmin_version"]}')
@example(b"\xff\xfe")
def test_bundle_payloads_parse_or_raise_only_integrity_error(backup_keys: tuple[bytes, bytes], payload: bytes) -> None:
    private, public = backup_keys
    opened = backup.open_bundle(backup.seal_bundle(payload, public), private)
    assert opened == payload
    try:
        entries = backup._parse(opened)
    except IntegrityError:
        return
    assert isinstance(entries, list)
