"""The key model: states and their transitions, policies, and the text form of results."""

import base64
import binascii
import re
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from skms.errors import InvalidInput, InvalidState, InvalidType


class KeyState(StrEnum):
    """KMIP / NIST SP 800-57 key states."""

    PRE_ACTIVE = "pre-active"
    ACTIVE = "active"
    SUSPENDED = "suspended"  # KMIP "deactivated": processes (decrypts, verifies), never protects
    COMPROMISED = "compromised"
    DESTROYED = "destroyed"


# Destruction goes through schedule_deletion (a waiting period), not through set_state.
TRANSITIONS: dict[KeyState, frozenset[KeyState]] = {
    KeyState.PRE_ACTIVE: frozenset({KeyState.ACTIVE, KeyState.COMPROMISED}),
    KeyState.ACTIVE: frozenset({KeyState.SUSPENDED, KeyState.COMPROMISED}),
    KeyState.SUSPENDED: frozenset({KeyState.ACTIVE, KeyState.COMPROMISED}),
    KeyState.COMPROMISED: frozenset(),
    KeyState.DESTROYED: frozenset(),
}

#: Operations that protect data (need an active key) and those that only process it.
PROTECT = frozenset({"encrypt", "sign", "mac", "encapsulate", "datakey", "derive", "agree"})
PROCESS = frozenset({"decrypt", "verify", "verify_mac", "decapsulate"})
PROCESS_STATES = frozenset({KeyState.ACTIVE, KeyState.SUSPENDED, KeyState.COMPROMISED})


def check_transition(current: str, target: str) -> KeyState:
    try:
        to = KeyState(target)
    except ValueError:
        raise InvalidInput(f"unknown key state {target!r}; expected one of {', '.join(KeyState)}") from None
    frm = KeyState(current)
    if to not in TRANSITIONS[frm]:
        allowed = ", ".join(sorted(TRANSITIONS[frm])) or "none"
        raise InvalidState(f"a key cannot go from {frm} to {to} (allowed from {frm}: {allowed})")
    return to


def check_usable(state: str, operation: str, pending_deletion: bool) -> None:
    """Raises InvalidState unless a key in ``state`` may do ``operation``."""
    if pending_deletion:
        raise InvalidState("the key is scheduled for deletion; cancel the deletion to use it")
    current = KeyState(state)
    if operation in PROTECT and current is not KeyState.ACTIVE:
        raise InvalidState(f"a {current} key cannot {operation}; only active keys protect data")
    if operation in PROCESS and current not in PROCESS_STATES:
        raise InvalidState(f"a {current} key cannot {operation}")


DEFAULT_DELETION_WINDOW = 7 * 24 * 3600
MIN_DELETION_WINDOW = 0
MAX_DELETION_WINDOW = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """Per-key policy. Durations are seconds."""

    rotation_period: int | None = None
    version_ttl: int | None = None
    #: The material may leave wrapped for a caller's key (export, wallet phrase). Never turned on later.
    exportable: bool = False
    deletion_window: int = DEFAULT_DELETION_WINDOW
    #: The material may go into backup bundles (for registered backup recipients only). Like Vault's
    #: allow_plaintext_backup: fixed at creation (None there means "as exportable"), never turned on later.
    allow_backup: bool | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "KeyPolicy":
        if data is not None and not isinstance(data, dict):
            raise InvalidType(
                f"a key policy is a mapping of fields to values, not {type(data).__name__}", field="policy"
            )
        data = dict(data or {})
        unknown = set(data) - {"rotation_period", "version_ttl", "exportable", "deletion_window", "allow_backup"}
        if unknown:
            raise InvalidInput(f"unknown policy fields: {', '.join(sorted(map(str, unknown)))}", field="policy")
        policy = cls(**data)
        policy.validate()
        return policy

    @classmethod
    def for_new_key(cls, data: dict[str, Any] | None) -> "KeyPolicy":
        """The policy of a key being created: ``allow_backup`` defaults to ``exportable``."""
        policy = cls.from_dict(data)
        if policy.allow_backup is None:
            policy = replace(policy, allow_backup=policy.exportable)
        return policy

    def loosened_from(self, before: dict[str, Any]) -> str | None:
        """Why this policy may not replace ``before`` (a stored one), or None: no material flag turns on."""
        if self.exportable and not is_exportable(before):
            return "exportable cannot be turned on after a key is created (the material was promised to stay)"
        if self.allow_backup and not backup_allowed(before):
            return "allow_backup cannot be turned on after a key is created (set it when creating the key)"
        return None

    def validate(self) -> None:
        for name in ("rotation_period", "version_ttl"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 60):
                raise InvalidInput(
                    f"policy {name} must be an integer number of seconds >= 60, got {value!r}", field=f"policy.{name}"
                )
        if not isinstance(self.exportable, bool):
            raise InvalidInput(
                f"policy exportable must be true or false, got {self.exportable!r}", field="policy.exportable"
            )
        if self.allow_backup is not None and not isinstance(self.allow_backup, bool):
            raise InvalidInput(
                f"policy allow_backup must be true or false, got {self.allow_backup!r}", field="policy.allow_backup"
            )
        window = self.deletion_window
        if (
            not isinstance(window, int)
            or isinstance(window, bool)
            or not MIN_DELETION_WINDOW <= window <= MAX_DELETION_WINDOW
        ):
            raise InvalidInput(
                f"policy deletion_window must be 0 to {MAX_DELETION_WINDOW} seconds, got {window!r}",
                field="policy.deletion_window",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_exportable(policy: dict[str, Any]) -> bool:
    """Whether a stored policy lets the material leave wrapped for a caller's key."""
    return policy.get("exportable") is True


def backup_allowed(policy: dict[str, Any]) -> bool:
    """Whether a stored policy lets the material go into a backup bundle.

    Keys stored before ``allow_backup`` existed follow ``exportable``: a non-exportable one is no
    longer backed up (issue 13: backup was the way around ``exportable=false``).
    """
    value = policy.get("allow_backup")
    return value is True if value is not None else is_exportable(policy)


# \Z, not $: $ also matches before a trailing newline ("name\n" would pass).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}\Z")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInput(
            "a key name is 1-128 characters: letters, digits, '.', '_', '-' and ':', starting with a letter or digit",
            field="name",
        )
    return name


def check_labels(labels: object) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict) or len(labels) > 64:
        raise InvalidInput("labels are at most 64 string pairs", field="labels")
    for k, v in labels.items():
        if not isinstance(k, str) or not LABEL_KEY.match(k):
            raise InvalidInput(
                f"label key {k!r} must be 1-63 lowercase letters, digits, '.', '_' or '-'", field="labels"
            )
        if not isinstance(v, str) or len(v) > 256:
            raise InvalidInput(f"label {k!r} must have a string value of at most 256 characters", field="labels")
    return dict(labels)


PREFIX = "skms:v"


def encode_versioned(version: int, data: bytes) -> str:
    """The self-describing text form ``skms:v<version>:<base64>`` of a ciphertext or signature."""
    return f"{PREFIX}{version}:{base64.b64encode(data).decode()}"


def decode_versioned(text: object, what: str = "ciphertext") -> tuple[int, bytes]:
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise InvalidInput(f"{what} must be text of the form skms:v<version>:<base64>")
    head, sep, body = text[len(PREFIX) :].partition(":")
    # isascii: str.isdigit() is true for "²" and "١", which int() refuses or reads as another number.
    if not sep or not head.isascii() or not head.isdigit() or len(head) > 9 or int(head) < 1:
        raise InvalidInput(f"{what} has no valid version number after 'skms:v'")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} has invalid base64 after the version") from None
    return int(head), data
