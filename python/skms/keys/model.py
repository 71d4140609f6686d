"""The key model: states and their transitions, policies, and the text form of results."""

import base64
import binascii
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from skms.errors import InvalidInput, InvalidState


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
    exportable: bool = False
    deletion_window: int = DEFAULT_DELETION_WINDOW

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "KeyPolicy":
        data = dict(data or {})
        unknown = set(data) - {"rotation_period", "version_ttl", "exportable", "deletion_window"}
        if unknown:
            raise InvalidInput(f"unknown policy fields: {', '.join(sorted(unknown))}", field="policy")
        policy = cls(**data)
        policy.validate()
        return policy

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


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


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
    if not sep or not head.isdigit() or int(head) < 1 or len(head) > 9:
        raise InvalidInput(f"{what} has no valid version number after 'skms:v'")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} has invalid base64 after the version") from None
    return int(head), data
