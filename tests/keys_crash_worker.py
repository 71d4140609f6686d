"""Worker for tests/test_storage_durability.py: writes until killed.

Usage: ``python keys_crash_worker.py STORE_URL KEYFILE TASKS``. Initializes (or unseals)
the store, prints ``ready``, then each of TASKS concurrent loops creates keys and rotates
earlier ones forever. One line is printed after every acknowledged write, and only then:

    created <name> <type> <ciphertext or signature made with version 1>
    rotated <name> <version>
"""

import asyncio
import sys

from skms.keys import KeyService

TENANT = "crash"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def loop(svc: KeyService, task: int) -> None:
    i = 0
    while True:
        name = f"t{task}-{i}"
        kind = "aes256-gcm" if i % 2 == 0 else "ecdsa-secp256k1"
        await svc.create_key(TENANT, name, kind)
        if kind == "aes256-gcm":
            proof, _ = await svc.encrypt(TENANT, name, name.encode())
        else:
            proof, _ = await svc.sign(TENANT, name, name.encode())
        say(f"created {name} {kind} {proof}")
        if i % 2 == 1:
            target = f"t{task}-{(i // 2) % 5}"  # a few keys get many versions
            info = await svc.rotate_key(TENANT, target)
            say(f"rotated {target} {info.latest_version}")
        i += 1


async def main(url: str, keyfile: str, tasks: int) -> None:
    svc = await KeyService.open(url)
    if await svc.sealer.initialized():
        await svc.sealer.unseal(keyfile=keyfile)
    else:
        await svc.sealer.initialize("keyfile", keyfile=keyfile)
    say("ready")
    await asyncio.gather(*(loop(svc, t) for t in range(tasks)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
