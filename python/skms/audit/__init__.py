"""Audit: what happened, in a log nobody can change without detection.

Every request that reaches a key, a wallet, a principal or a policy becomes an
:class:`AuditEvent` stored by :class:`AuditLog` in a hash chain (one per writer process)
with a keyed MAC chain and checkpoints signed by an SKMS-managed Ed25519 key. Writes are
group-committed and fail closed (:class:`skms.errors.AuditUnavailable`).
:meth:`AuditLog.verify` checks the log online; :func:`verify_offline` and
``python -m skms.audit.verify`` check a database with the checkpoint public key only.
"""

from skms.audit.events import AuditEvent, AuditRecord, ChainReport, Problem, VerifyReport, canonical
from skms.audit.log import CHECKPOINT_KEY, MAC_KEY, SYSTEM_TENANT, AuditLog
from skms.audit.offline import verify_offline

__all__ = [
    "CHECKPOINT_KEY",
    "MAC_KEY",
    "SYSTEM_TENANT",
    "AuditEvent",
    "AuditLog",
    "AuditRecord",
    "ChainReport",
    "Problem",
    "VerifyReport",
    "canonical",
    "verify_offline",
]
