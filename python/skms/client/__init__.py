"""Python SDK for the SKMS server: :class:`Client` (sync) and :class:`AsyncClient` (async), on httpx.

::

    from skms.client import Client

    with Client() as skms:  # SKMS_ADDR, SKMS_TOKEN
        skms.create_key("orders", "aes256-gcm")
        box = skms.encrypt("orders", b"4111 1111 1111 1111")
        assert skms.decrypt("orders", box.ciphertext) == b"4111 1111 1111 1111"

Both clients have the same methods (awaited on :class:`AsyncClient`); each request is built and
its answer parsed once, in :mod:`skms.client._core`. Binary values are ``bytes`` (base64 on the
wire); results are the immutable Structs of :mod:`skms.client.models`. A problem response raises
the :mod:`skms.errors` class it names (``NotFound``, ``InvalidInput``, ``Unauthenticated``…) with
``status``, ``field`` and ``request_id`` attributes; batch methods return a result or a
:class:`Problem` per item.
"""

from skms.client._async import AsyncClient
from skms.client._core import DEFAULT_ADDR, Call
from skms.client._sync import Client
from skms.client.errors import ProblemDetails, TransportError
from skms.client.models import (
    Address,
    Backup,
    BackupRecipient,
    Ciphertext,
    DataKey,
    Encapsulated,
    Health,
    InitResult,
    Key,
    KeyPage,
    KeyPolicy,
    KeyVersion,
    Mac,
    NewWallet,
    Problem,
    RootRotation,
    SealStatus,
    Signature,
    Wallet,
    WalletSignature,
    Xpub,
)

__all__ = [
    "DEFAULT_ADDR",
    "Address",
    "AsyncClient",
    "Backup",
    "BackupRecipient",
    "Call",
    "Ciphertext",
    "Client",
    "DataKey",
    "Encapsulated",
    "Health",
    "InitResult",
    "Key",
    "KeyPage",
    "KeyPolicy",
    "KeyVersion",
    "Mac",
    "NewWallet",
    "Problem",
    "ProblemDetails",
    "RootRotation",
    "SealStatus",
    "Signature",
    "TransportError",
    "Wallet",
    "WalletSignature",
    "Xpub",
]
