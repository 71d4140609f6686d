"""Policies in the spirit of AWS IAM: allow and deny statements over actions and
resources, with conditions. Explicit deny wins; no matching allow denies.

Actions are ``<domain>:<Verb>`` (``key:Sign``); resources ``<kind>:<name>``
(``key:payments-eu``, ``wallet:treasury``). Both take ``*`` wildcards.
"""

import fnmatch
import ipaddress
import re
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal

import msgspec

from skms.errors import InvalidInput

#: Every action the service layer checks, by domain.
ACTIONS: dict[str, tuple[str, ...]] = {
    "key": ("Create", "Get", "List", "Update", "Rotate", "SetState", "ScheduleDeletion", "CancelDeletion", "Trim",
            "Import", "Export", "Encrypt", "Decrypt", "Rewrap", "Datakey", "Sign", "Verify", "Mac", "VerifyMac",
            "Encapsulate", "Decapsulate", "Backup", "Restore"),
    "wallet": ("Create", "Get", "Derive", "Sign", "Export", "Update", "SetState", "ScheduleDeletion",
               "CancelDeletion", "Backup", "Restore", "List"),
    "audit": ("Read", "Verify"),
    "backup": ("RegisterRecipient", "ListRecipients", "DeleteRecipient"),
    "auth": ("CreateApiKey", "ListApiKeys", "RevokeApiKey", "ManageClients"),
    "authz": ("ManagePolicies", "ReadPolicies", "Simulate"),
    "sys": ("Seal", "RotateRoot"),
    "misc": ("Random", "Hash"),
}  # fmt: skip
ALL_ACTIONS = frozenset(f"{domain}:{verb}" for domain, verbs in ACTIONS.items() for verb in verbs)


class Conditions(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    #: Every listed label must be on the key with this value.
    key_labels: dict[str, str] | None = None
    key_types: list[str] | None = None
    source_cidrs: list[str] | None = None
    #: [start, end) hours in UTC; start > end wraps midnight.
    hours_utc: tuple[int, int] | None = None
    tenants: list[str] | None = None


class Statement(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    effect: Literal["allow", "deny"]
    actions: list[str]
    resources: list[str]
    conditions: Conditions | None = None
    sid: str | None = None


class PolicyDocument(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    statements: list[Statement]
    description: str = ""

    def validate(self) -> "PolicyDocument":
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", self.name):
            raise InvalidInput(f"policy name {self.name!r} must be 1-128 letters, digits, '.', '_', ':' or '-'")
        if not self.statements:
            raise InvalidInput("a policy needs at least one statement")
        for i, st in enumerate(self.statements):
            for action in st.actions:
                if action != "*" and not any(fnmatch.fnmatchcase(a, action) for a in ALL_ACTIONS):
                    raise InvalidInput(f"statement {i}: action {action!r} matches no SKMS action")
            if not st.resources:
                raise InvalidInput(f"statement {i}: resources is empty")
            c = st.conditions
            if c is not None:
                for cidr in c.source_cidrs or []:
                    try:
                        ipaddress.ip_network(cidr, strict=False)
                    except ValueError:
                        raise InvalidInput(f"statement {i}: {cidr!r} is not a CIDR block") from None
                if c.hours_utc is not None and not all(0 <= h <= 24 for h in c.hours_utc):
                    raise InvalidInput(f"statement {i}: hours_utc are 0 to 24")
        return self


def _allow(name: str, actions: Iterable[str], resources: Iterable[str] = ("*",)) -> PolicyDocument:
    return PolicyDocument(name, [Statement("allow", list(actions), list(resources))], f"built-in role {name}")


CRYPTO_ACTIONS = ("key:Encrypt", "key:Decrypt", "key:Rewrap", "key:Datakey", "key:Sign", "key:Verify", "key:Mac",
                  "key:VerifyMac", "key:Encapsulate", "key:Decapsulate", "key:Get", "key:List", "misc:*")  # fmt: skip

BUILTIN_ROLES: dict[str, PolicyDocument] = {
    "admin": _allow("admin", ["*"]),
    "key-admin": _allow(
        "key-admin",
        [
            "key:Create",
            "key:Get",
            "key:List",
            "key:Update",
            "key:Rotate",
            "key:SetState",
            "key:ScheduleDeletion",
            "key:CancelDeletion",
            "key:Trim",
            "key:Import",
            "key:Export",
            # Backups go only to recipients an admin registered; restoring (which can put known
            # material under a key's name) and the recipient registry are the admin's (issue 13).
            "key:Backup",
            "backup:ListRecipients",
            "misc:*",
        ],
    ),
    "crypto-user": _allow("crypto-user", CRYPTO_ACTIONS),
    "wallet-operator": _allow(
        "wallet-operator",
        [*(f"wallet:{verb}" for verb in ACTIONS["wallet"] if verb != "Restore"), "backup:ListRecipients", "misc:*"],
    ),
    "auditor": _allow(
        "auditor", ["audit:*", "key:Get", "key:List", "wallet:Get", "authz:ReadPolicies", "backup:ListRecipients"]
    ),
}


class AccessRequest(msgspec.Struct, frozen=True):
    """Who asks to do what on which resource, from where and when (msgspec: built on every request)."""

    principal: str
    roles: tuple[str, ...]
    tenant: str
    action: str
    resource: str
    source: str | None = None
    now: float = msgspec.field(default_factory=time.time)
    key_type: str | None = None
    key_labels: Mapping[str, str] | None = None


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    policy: str | None
    statement: int | None
    sid: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "policy": self.policy, "statement": self.statement, "sid": self.sid,
                "reason": self.reason}  # fmt: skip


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def _matches(patterns: list[str], value: str) -> bool:
    return any(p == "*" or p == value or ("*" in p and _pattern(p).match(value)) for p in patterns)


def _conditions_hold(c: Conditions | None, req: AccessRequest) -> bool:
    if c is None:
        return True
    if c.tenants is not None and req.tenant not in c.tenants:
        return False
    if c.key_types is not None and req.key_type not in c.key_types:
        return False
    if c.key_labels is not None:
        labels = req.key_labels or {}
        if any(labels.get(k) != v for k, v in c.key_labels.items()):
            return False
    if c.source_cidrs is not None:
        if req.source is None:
            return False
        try:
            address = ipaddress.ip_address(req.source)
        except ValueError:
            return False
        if not any(address in ipaddress.ip_network(n, strict=False) for n in c.source_cidrs):
            return False
    if c.hours_utc is not None:
        hour = time.gmtime(req.now).tm_hour
        start, end = c.hours_utc
        inside = start <= hour < end if start <= end else (hour >= start or hour < end)
        if not inside:
            return False
    return True


def _some_condition_on(policies: Iterable[PolicyDocument], *fields: str) -> bool:
    return any(
        st.conditions is not None and any(getattr(st.conditions, f) is not None for f in fields)
        for p in policies
        for st in p.statements
    )


def needs_key_attributes(policies: Iterable[PolicyDocument]) -> bool:
    """True when some condition looks at the key's type or labels (so they must be loaded)."""
    return _some_condition_on(policies, "key_types", "key_labels")


def reads_the_request_context(policies: Iterable[PolicyDocument]) -> bool:
    """True when some condition looks at the source address or the time: no decision holds for the next request."""
    return _some_condition_on(policies, "source_cidrs", "hours_utc")


def evaluate(policies: Iterable[PolicyDocument], req: AccessRequest) -> Decision:
    """Explicit deny wins over any allow; without a matching allow the answer is deny."""
    allow: Decision | None = None
    for policy in policies:
        for i, st in enumerate(policy.statements):
            if not _matches(st.actions, req.action) or not _matches(st.resources, req.resource):
                continue
            if not _conditions_hold(st.conditions, req):
                continue
            if st.effect == "deny":
                return Decision(False, policy.name, i, st.sid, f"denied by statement {i} of policy {policy.name!r}")
            if allow is None:
                allow = Decision(True, policy.name, i, st.sid, f"allowed by statement {i} of policy {policy.name!r}")
    return allow or Decision(False, None, None, None, "no statement allows it (default deny)")
