"""Which storage URLs the contract suite runs, and what sharing each of them promises."""


def one_process_only(url: str) -> bool:
    """Backends whose state is one process's own: a second handle would be a second process, not a replica."""
    return url == "memory://" or (url.startswith("sqlite://") and "write_behind_ms=0" not in url)
