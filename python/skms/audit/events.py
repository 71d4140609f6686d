"""The audit event, its canonical encoding, and the reports of :mod:`skms.audit`."""

import time

import msgspec

from skms.errors import InvalidInput

RESULTS = ("allowed", "denied")


class AuditEvent(msgspec.Struct, kw_only=True):
    """What happened: one request that reached a key, a wallet, a principal or a policy.

    ``result`` is ``"allowed"``, ``"denied"`` or ``"error:<ErrorClass>"``. ``input_hashes``
    are keyed hashes of the request's inputs (:meth:`skms.audit.AuditLog.input_hash`), never
    the inputs: no field may hold plaintext, key material or tokens.
    """

    time: float = msgspec.field(default_factory=time.time)
    request_id: str = ""
    principal: str
    tenant: str
    action: str
    resource: str
    key_version: int | None = None
    result: str
    source: str = ""
    input_hashes: list[str] = []


_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(AuditEvent)


def canonical(event: AuditEvent) -> bytes:
    """The canonical encoding of an event: JSON, keys sorted, no spaces, UTF-8."""
    return _encoder.encode(event)


def decode(data: str | bytes) -> AuditEvent:
    """An event from its canonical encoding; :class:`msgspec.DecodeError` if it is not one."""
    return _decoder.decode(data)


def is_result(value: str) -> bool:
    """``allowed``, ``denied`` or ``error:<ErrorClass>``."""
    return value in RESULTS or value.startswith("error:")


def check(event: AuditEvent) -> None:
    """Raises :class:`InvalidInput` unless the event's indexed fields have the right types and values."""
    e = event
    if not (
        type(e.principal) is str
        and type(e.tenant) is str
        and type(e.action) is str
        and type(e.resource) is str
        and type(e.result) is str
        and type(e.request_id) is str
        and type(e.source) is str
    ):
        raise InvalidInput("audit event fields principal, tenant, action, resource, result, request_id, source are str")
    if not is_result(e.result):
        raise InvalidInput(f"audit result must be allowed, denied or error:<ErrorClass>, not {e.result!r}")
    if type(e.time) is not float and (type(e.time) is not int):
        raise InvalidInput("audit event time must be a float (seconds since the epoch)")


class AuditRecord(msgspec.Struct, kw_only=True):
    """A stored event with its place in its chain (``hash`` is hex)."""

    chain_id: str
    seq: int
    hash: str
    event: AuditEvent


class Problem(msgspec.Struct, kw_only=True):
    """The first bad record of a chain: where, what kind of damage, in words.

    Kinds: ``deleted`` (a seq is missing), ``inserted`` (an unexpected seq), ``hash``
    (changed, moved or inserted record: the public hash chain breaks), ``mac`` (the keyed
    chain breaks: forged with recomputed hashes), ``field`` (an indexed column disagrees
    with the event), ``malformed`` (the event is not a canonical event), ``checkpoint``
    (a checkpoint's signature is bad or it disagrees with the record it signs) and
    ``truncated`` (records a signed checkpoint covers are gone).
    """

    chain_id: str
    seq: int
    kind: str
    detail: str


class ChainReport(msgspec.Struct, kw_only=True):
    chain_id: str
    #: Records checked (up to the first problem).
    records: int
    last_seq: int
    checkpoints: int
    last_checkpoint_seq: int
    #: Records after the last checkpoint: hash-chained, but anchored by no signature yet.
    unanchored: int
    ok: bool
    problem: Problem | None = None


class VerifyReport(msgspec.Struct, kw_only=True):
    ok: bool
    chains: list[ChainReport]
    records_checked: int
    first_problem: Problem | None
    #: False for offline verification (or a sealed store): the keyed MACs were not checked.
    mac_checked: bool

    def to_dict(self) -> dict[str, object]:
        out = msgspec.to_builtins(self)
        assert isinstance(out, dict)
        return out
