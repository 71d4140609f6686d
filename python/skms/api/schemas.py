"""Request and response bodies (msgspec Structs). ``bytes`` fields are base64 in JSON.

Request structs forbid unknown fields, so a typo is a 400 naming the field.
"""

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType


class Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Out(msgspec.Struct, omit_defaults=True):
    pass


# -- keys --------------------------------------------------------------------------------


class PolicyIn(Body):
    rotation_period: int | None = None
    version_ttl: int | None = None
    #: Fixed when the key is created: a PATCH may turn it off, never on.
    exportable: bool | None = None
    deletion_window: int | None = None
    #: Whether backups may hold the key (default: as ``exportable``). Like ``exportable``, never turned on later.
    allow_backup: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not None}


class KeyCreate(Body):
    name: str
    type: str
    purpose: str | None = None
    labels: dict[str, str] | None = None
    policy: PolicyIn | None = None
    state: Literal["active", "pre-active"] = "active"
    #: Where the material lives: "software" (envelope-encrypted in the store) or "hsm" (generated
    #: in the server's PKCS#11 token, never leaving it; needs hsm_* settings).
    backend: Literal["software", "hsm"] = "software"


class KeyUpdate(Body):
    labels: dict[str, str] | UnsetType = UNSET
    policy: PolicyIn | UnsetType = UNSET
    min_version: int | UnsetType = UNSET


class StateChange(Body):
    state: Literal["active", "suspended", "compromised"]


class VersionOut(msgspec.Struct):
    version: int
    created_at: float
    state: str
    expires_at: float | None
    public_key: bytes | None


class KeyOut(msgspec.Struct):
    name: str
    id: str
    type: str
    purpose: str
    labels: dict[str, str]
    policy: dict[str, Any]
    state: str
    latest_version: int
    min_version: int
    created_at: float
    updated_at: float
    deletion_at: float | None
    destroyed_at: float | None
    versions: list[VersionOut]
    backend: str = "software"


class KeyList(msgspec.Struct):
    keys: list[KeyOut]
    next_cursor: str | None


# -- crypto operations -----------------------------------------------------------------------


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem: every error answer, and a failed item of a batch."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


class BatchItemResult(Out):
    """One item of a batch: its result, or the problem that stopped it."""

    ciphertext: str | None = None
    plaintext: bytes | None = None
    signature: str | None = None
    valid: bool | None = None
    hmac: str | None = None
    shared_secret: bytes | None = None
    key_version: int | None = None
    error: Problem | None = None


class BatchResults(msgspec.Struct):
    results: list[BatchItemResult]


class EncryptItem(Body):
    plaintext: bytes
    associated_data: bytes = b""


class EncryptRequest(Body):
    plaintext: bytes | None = None
    associated_data: bytes = b""
    batch: list[EncryptItem] | None = None


class CiphertextOut(msgspec.Struct):
    ciphertext: str
    key_version: int


class DecryptItem(Body):
    ciphertext: str
    associated_data: bytes = b""


class DecryptRequest(Body):
    ciphertext: str | None = None
    associated_data: bytes = b""
    batch: list[DecryptItem] | None = None


class PlaintextOut(msgspec.Struct):
    plaintext: bytes


class DatakeyItem(Body):
    size: int = 32
    associated_data: bytes = b""
    #: False returns only the encrypted data key (AWS GenerateDataKeyWithoutPlaintext).
    include_plaintext: bool = True


class DatakeyRequest(DatakeyItem):
    batch: list[DatakeyItem] | None = None


class DatakeyOut(Out):
    ciphertext: str
    key_version: int
    plaintext: bytes | None = None


class SignItem(Body):
    input: bytes
    prehashed: bool = False


class SignRequest(Body):
    input: bytes | None = None
    prehashed: bool = False
    batch: list[SignItem] | None = None


class SignatureOut(msgspec.Struct):
    signature: str
    key_version: int


class VerifyItem(Body):
    input: bytes
    signature: str
    prehashed: bool = False


class VerifyRequest(Body):
    input: bytes | None = None
    signature: str | None = None
    prehashed: bool = False
    batch: list[VerifyItem] | None = None


class ValidOut(msgspec.Struct):
    valid: bool


class HmacItem(Body):
    input: bytes
    #: When given, the tag is verified instead of computed.
    hmac: str | None = None


class HmacRequest(Body):
    input: bytes | None = None
    hmac: str | None = None
    batch: list[HmacItem] | None = None


class HmacOut(Out):
    hmac: str | None = None
    key_version: int | None = None
    valid: bool | None = None


class EncapsulateOut(msgspec.Struct):
    shared_secret: bytes
    ciphertext: str
    key_version: int


class EncapsulateItem(Body):
    pass


class EncapsulateRequest(Body):
    batch: list[EncapsulateItem] | None = None


class DecapsulateItem(Body):
    ciphertext: str


class DecapsulateRequest(Body):
    ciphertext: str | None = None
    batch: list[DecapsulateItem] | None = None


class SharedSecretOut(msgspec.Struct):
    shared_secret: bytes


# -- wallets ---------------------------------------------------------------------------------


class WalletCreate(Body):
    name: str
    words: Literal[12, 15, 18, 21, 24] = 24
    passphrase: str = ""
    language: str = "english"
    #: Import this phrase instead of generating one.
    phrase: str | None = None
    labels: dict[str, str] | None = None
    policy: PolicyIn | None = None


class WalletOut(msgspec.Struct):
    name: str
    id: str
    state: str
    words: int | None
    language: str | None
    fingerprint: str
    labels: dict[str, str]
    policy: dict[str, Any]
    created_at: float


class WalletCreated(Out):
    wallet: WalletOut
    #: The generated phrase, shown only in this response.
    mnemonic: str | None = None


class XpubOut(msgspec.Struct):
    path: str
    xpub: str
    fingerprint: str


class AddressesRequest(Body):
    chain: Literal["bitcoin", "ethereum", "solana"]
    account: int = 0
    change: int = 0
    start: int = 0
    count: int = 20
    kind: Literal["p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr"] | None = None
    network: Literal["mainnet", "testnet"] = "mainnet"


class AddressOut(msgspec.Struct):
    index: int
    path: str
    address: str


class AddressesOut(msgspec.Struct):
    addresses: list[AddressOut]


class WalletSignRequest(Body):
    scheme: Literal[
        "bitcoin-ecdsa", "bitcoin-taproot", "bitcoin-message", "ethereum-personal", "ethereum-digest", "solana"
    ]
    path: str | None = None
    chain: Literal["bitcoin", "ethereum", "solana"] | None = None
    account: int = 0
    change: int = 0
    index: int = 0
    kind: Literal["p2pkh", "p2sh-p2wpkh", "p2wpkh", "p2tr"] | None = None
    payload: bytes | None = None
    digest: bytes | None = None
    chain_id: int | None = None


class WalletSignatureOut(Out):
    signature: str
    address: str | None = None
    public_key: str | None = None
    output_key: str | None = None
    v: int | None = None
    r: str | None = None
    s: str | None = None


# -- random, hash, sys ---------------------------------------------------------------------


class RandomRequest(Body):
    bytes: int = 32


class RandomOut(msgspec.Struct):
    random: bytes


class HashRequest(Body):
    algorithm: str
    input: bytes


class HashOut(msgspec.Struct):
    algorithm: str
    digest: bytes


class Health(msgspec.Struct):
    status: str


class SealStatus(Out):
    initialized: bool
    sealed: bool
    method: str | None = None
    threshold: int | None = None


class InitRequest(Body):
    #: ``keyfile`` uses the key file the server is configured with (``unseal_keyfile``): a request
    #: never names a path on the server. ``pkcs11`` uses the server's HSM (``hsm_*`` settings),
    #: ``transit`` the server's transit server and key (``transit_*``): a request never names an address.
    method: Literal["passphrase", "shamir", "keyfile", "pkcs11", "transit"] = "shamir"
    #: pkcs11: the label of the token's AES-256 wrapping key (made when missing; default "skms-seal").
    key_label: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    passphrase: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    threshold: int = 3
    shares: int = 5


class InitOut(Out):
    admin_token: str
    shares: list[str] | None = None


class RootRotated(Out):
    #: The id of the new root key; every data key is wrapped by it now.
    root_id: int


class UnsealRequest(Body):
    passphrase: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    shares: Annotated[list[Annotated[str, msgspec.Meta(max_length=1024)]], msgspec.Meta(max_length=16)] | None = None
    #: A key-file store: the file's 32 bytes (base64), which the caller holds, as a passphrase.
    key: Annotated[bytes, msgspec.Meta(max_length=64)] | None = None


# -- authentication and authorization ---------------------------------------------------------


class ApiKeyCreate(Body):
    principal: str
    roles: list[str]
    description: str = ""
    ttl: float | None = None


class ApiKeyOut(Out):
    id: str
    principal: str
    roles: list[str]
    description: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None


class ApiKeyCreated(msgspec.Struct):
    token: str
    api_key: ApiKeyOut


class ApiKeyList(msgspec.Struct):
    api_keys: list[ApiKeyOut]


class BindingIn(Body):
    roles: list[str] = []
    policies: list[str] = []


class BindingOut(msgspec.Struct):
    principal: str
    roles: list[str]
    policies: list[str]


class SimulateRequest(Body):
    principal: str
    action: str
    resource: str
    roles: list[str] = []
    source: str | None = None
    key_type: str | None = None
    key_labels: dict[str, str] | None = None


class DecisionOut(Out):
    allowed: bool
    reason: str
    policy: str | None = None
    statement: int | None = None
    sid: str | None = None


# -- backup and restore --------------------------------------------------------------------


class BackupRequest(Body):
    #: The name of a registered backup recipient (GET /v1/backup/recipients): the only public keys
    #: a bundle may be encrypted for. A raw public key is not accepted.
    recipient: str
    #: Only these keys of the caller's tenant (all of them when omitted). A named key whose policy
    #: does not allow backup is refused (403); a whole-tenant backup leaves such keys out.
    names: list[str] | None = None


class BackupOut(msgspec.Struct):
    bundle: bytes
    recipient: str
    #: The keys in the bundle.
    keys: list[str]
    #: Keys left out because their policy does not allow backup.
    skipped: list[str]


class RecipientCreate(Body):
    name: str
    #: The raw X-Wing (x25519+ml-kem-768) public key, 1216 bytes (``skms backup keypair``).
    public_key: bytes


class RecipientOut(msgspec.Struct):
    name: str
    public_key: bytes
    #: SHA-256 of the public key (hex), to compare with the escrow holders' copy.
    fingerprint: str
    created_at: float
    created_by: str


class RecipientList(msgspec.Struct):
    recipients: list[RecipientOut]


class RestoreRequest(Body):
    bundle: bytes
    #: The backup private key (the 32-byte X-Wing seed), e.g. recovered from its SLIP-39 shares.
    backup_private_key: bytes
    overwrite: bool = False


class RestoreOut(msgspec.Struct):
    keys: int
    versions: int
    replaced: int
