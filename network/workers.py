"""Worker processes for CPU-bound work (import validation, sync verification) on every core."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.pool import Pool
from typing import Callable


def watch_parent(parent: int) -> None:
    """In a worker: exit when ``parent`` is gone — after a kill -9 of the parent the workers
    would otherwise wait on their task queue forever. Interrupts are the parent's to handle,
    and a SIGTERM handler inherited through fork (``sync --forever`` stops on SIGTERM) would
    make the worker ignore the pool's terminate()."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _start(parent: int, init: Callable[..., None] | None, args: tuple) -> None:
    watch_parent(parent)
    if init is not None:
        init(*args)


def worker_pool(jobs: int, init: Callable[..., None] | None = None, args: tuple = ()) -> Pool:
    """A fork pool of ``jobs`` workers that watch this process and then run ``init(*args)``."""
    return multiprocessing.get_context("fork").Pool(jobs, _start, (os.getpid(), init, args))

