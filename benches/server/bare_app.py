"""The bare endpoint SKMS is measured against: Litestar + msgspec + the same native sign call,
with no authentication, authorization, audit, metrics or logging."""

import hashlib

import msgspec
from litestar import Litestar, post

from skms.crypto import ed25519, secp256k1

SECP_KEY = secp256k1.generate_private_key()
ED_KEY = ed25519.generate_private_key()


class SignIn(msgspec.Struct):
    input: bytes


class SignOut(msgspec.Struct):
    signature: bytes


@post("/sign/secp256k1", status_code=200)
async def sign_secp256k1(data: SignIn) -> SignOut:
    return SignOut(secp256k1.sign_der(SECP_KEY, hashlib.sha256(data.input).digest()))


@post("/sign/ed25519", status_code=200)
async def sign_ed25519(data: SignIn) -> SignOut:
    return SignOut(ed25519.sign(ED_KEY, data.input))


app = Litestar([sign_secp256k1, sign_ed25519], debug=False)
