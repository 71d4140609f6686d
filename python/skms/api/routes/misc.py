"""/v1/random and /v1/hash."""

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from skms.api import schemas as s
from skms.api.deps import context
from skms.crypto import hashes
from skms.crypto.random import random_bytes_async
from skms.errors import InvalidInput

MAX_RANDOM = 1024


@post("/v1/random", status_code=200, tags=["misc"], summary="Random bytes from the server's CSPRNG")
async def random(request: Request[Any, Any, Any], data: JSONBody[s.RandomRequest]) -> s.RandomOut:
    service, principal = context(request)
    await service.guard.check(principal, "misc:Random", principal.tenant, "misc:random")
    if not 1 <= data.bytes <= MAX_RANDOM:
        raise InvalidInput(f"bytes must be 1 to {MAX_RANDOM}, got {data.bytes}")
    return s.RandomOut(await random_bytes_async(data.bytes))  # hsm_random: the token's generator mixed in


@post("/v1/hash", status_code=200, tags=["misc"], summary="Hash data")
async def hash_data(request: Request[Any, Any, Any], data: JSONBody[s.HashRequest]) -> s.HashOut:
    service, principal = context(request)
    await service.guard.check(principal, "misc:Hash", principal.tenant, "misc:hash")
    return s.HashOut(data.algorithm, hashes.digest(data.algorithm, data.input))
