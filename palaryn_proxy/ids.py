"""Unguessable ids for the hot path: os.urandom read in 4 KiB blocks instead of one syscall per id.

One syscall per request id or reservation id would also release the GIL on the event loop each time,
letting the storage and audit threads cut in; a block serves ~170 request ids.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096
_lock = threading.Lock()
_pool = b""
_pos = 0


def random_hex(nbytes: int) -> str:
    """`nbytes` bytes from the OS's CSPRNG, as 2 * nbytes hex characters (like secrets.token_hex)."""
    global _pool, _pos
    with _lock:
        if _pos + nbytes > len(_pool):
            _pool, _pos = os.urandom(max(_BLOCK, nbytes)), 0
        chunk = _pool[_pos : _pos + nbytes]
        _pos += nbytes
    return chunk.hex()


def _forget_pool() -> None:
    """A forked child must not hand out the ids its parent still holds (nor wait on a lock held at fork)."""
    global _pool, _pos, _lock
    _pool, _pos, _lock = b"", 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)
