"""Server workers end with the process that started them.

granian's workers are child processes; if the main process is killed outright (``kill -9``,
the OOM killer), nothing tells them, and they would go on serving on the shared port. Each
worker watches its parent and stops within about 1.5 s of the parent's death.
"""

import logging
import os
import signal
import threading
import time

log = logging.getLogger("skms.server")

#: Seconds between checks of the parent, and from SIGTERM to a hard exit.
POLL_SECONDS = 0.25
GRACE_SECONDS = 1.0


def exit_with_parent(parent_pid: int) -> None:
    """Starts a daemon thread that ends this process once ``parent_pid`` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_SECONDS)
        log.warning("the server's main process is gone: this worker stops")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACE_SECONDS)
        os._exit(1)  # the graceful stop did not finish in time; acknowledged writes are durable already

    threading.Thread(target=watch, name="skms-parent-watch", daemon=True).start()
