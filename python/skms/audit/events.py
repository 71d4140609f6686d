"""The audit event, its canonical encoding, and the reports of :mod:`skms.audit`."""

import time

import msgspec

from skms.errors import InvalidInput

#: ``invalid``: a request refused as bad input before its operation ran (``detail`` names the kind).
RESULTS = ("allowed", "denied", "invalid")


class AuditEvent(msgspec.Struct, kw_only=True):
    """What happened: one request that reached a key, a wallet, a principal or a policy.

    ``result`` is ``"allowed"``, ``"denied"``, ``"invalid"`` or ``"error:<ErrorClass>"``.
    ``input_hashes`` are keyed hashes of the request's inputs
    (:meth:`skms.audit.AuditLog.input_hash`), never the inputs: no field may hold plaintext,
    key material or tokens. ``detail`` (why: a failed authentication's reason, a bad input's
    error kind) and ``count`` (how many refusals a summary record stands for) are left out of
    the encoding when unset, so records written before they existed keep their bytes.
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
    detail: str | msgspec.UnsetType = msgspec.UNSET
    count: int | msgspec.UnsetType = msgspec.UNSET


_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(AuditEvent)


def canonical(event: AuditEvent) -> bytes:
    """The canonical encoding of an event: JSON, keys sorted, no spaces, UTF-8."""
    return _encoder.encode(event)


def decode(data: str | bytes) -> AuditEvent:
    """An event from its canonical encoding; :class:`msgspec.DecodeError` if it is not one."""
    return _decoder.decode(data)


_AUDITED = "skms_audited"


def mark_audited(exc: BaseException) -> None:
    """Notes on an error that its audit record is written, so that no layer above records it again."""
    setattr(exc, _AUDITED, True)


def was_audited(exc: BaseException | None) -> bool:
    return bool(getattr(exc, _AUDITED, False))


def is_result(value: str) -> bool:
    """``allowed``, ``denied``, ``invalid`` or ``error:<ErrorClass>``."""
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
        raise InvalidInput(f"audit result must be allowed, denied, invalid or error:<ErrorClass>, not {e.result!r}")
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
    (a checkpoint's signature is bad or it disagrees with the record it signs),
    ``checkpoint-missing`` (a checkpoint that a later checkpoint or the witness names is
    gone), ``truncated`` (records a signed checkpoint or the witness covers are gone),
    ``chain-missing`` (a chain the witness knows has no record left) and ``witness`` (a
    record differs from the checkpoint the witness holds, or the witness's copy is forged).
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
    #: The newest record of this chain a witness holds a signed checkpoint of (0: none).
    witnessed_seq: int = 0


class VerifyReport(msgspec.Struct, kw_only=True):
    ok: bool
    chains: list[ChainReport]
    records_checked: int
    first_problem: Problem | None
    #: False for offline verification (or a sealed store): the keyed MACs were not checked.
    mac_checked: bool
    #: True when the chains were compared with a witness's checkpoints (truncation, deleted chains).
    witness_checked: bool = False
    #: Checkpoints the witness gave (signature-checked ones and forged ones alike).
    witness_checkpoints: int = 0

    def to_dict(self) -> dict[str, object]:
        out = msgspec.to_builtins(self)
        assert isinstance(out, dict)
        return out
