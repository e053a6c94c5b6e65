"""Hot-path ids: unique, the requested length, fresh in a forked child."""

from __future__ import annotations

import os

import pytest

from palaryn_proxy import ids
from palaryn_proxy.identity import new_request_id


def test_ids_are_unique_hex_of_the_asked_length_across_refills() -> None:
    seen = {ids.random_hex(16) for _ in range(2000)}  # 32 KB: several 4 KiB blocks
    assert len(seen) == 2000 and all(len(h) == 32 and int(h, 16) >= 0 for h in seen)
    assert new_request_id().startswith("req_") and len(new_request_id()) == 4 + 24


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_draws_its_own_bytes() -> None:
    ids.random_hex(1)  # the parent holds a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, ids.random_hex(16).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child != ids.random_hex(16)
    os.close(read)
    os.close(write)
