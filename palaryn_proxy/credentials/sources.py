"""Real credential values: read from an environment variable, a file (re-read when it changes) or a command
(re-run when its cache expires). A failed refresh keeps the last good value, so in-flight requests never fail."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Mapping

from palaryn_proxy.credentials.config import Source
from palaryn_proxy.errors import PalarynError

log = logging.getLogger("palaryn")
COMMAND_TIMEOUT = 30.0
RETRY_SECONDS = 10.0  # a command that failed to refresh is tried again this soon


class ResolveError(PalarynError):
    """A credential's value cannot be read (the message names the source, never a value)."""


class ValueSource:
    """One credential's real value with its cache. `current()` is cheap (a stat for files);
    `stale` says a command's cache has expired and `refresh()` (blocking: run it off the loop) is due."""

    def __init__(self, name: str, source: Source, environ: Mapping[str, str] | None = None):
        self.name, self.source = name, source
        self.environ = os.environ if environ is None else environ
        self.value: str | None = None
        self.previous: str | None = None  # the value before the last rotation (still scrubbed)
        self.version = 0  # bumped on every change of value
        self._stamp: tuple[int, int, int] | None = None  # file: (inode, size, mtime_ns) last read
        self._fetched = 0.0  # command: time.monotonic() of the last run

    def resolve(self) -> str:
        """Read the value now (start-up, SIGHUP); raises ResolveError when it cannot be read."""
        self._set(self._read())
        assert self.value is not None
        return self.value

    def refresh(self) -> None:
        """Re-read; on failure keep the last good value (logged)."""
        try:
            self.resolve()
        except ResolveError as exc:
            if self.value is None:
                raise
            if self.source.kind == "command":
                self._fetched = time.monotonic() - max(0.0, self.source.cache_seconds - RETRY_SECONDS)
            log.warning("credential %s: %s; keeping the previous value", self.name, exc)

    @property
    def stale(self) -> bool:
        if self.source.kind != "command":
            return False
        return self.value is None or time.monotonic() - self._fetched >= self.source.cache_seconds

    def current(self) -> str:
        """The value for a request: a changed file is read again first."""
        if self.source.kind == "file" and self._file_changed():
            self.refresh()
        if self.value is None:
            self.resolve()
        assert self.value is not None
        return self.value

    def _set(self, value: str) -> None:
        if value != self.value:
            self.previous, self.value = self.value, value
            self.version += 1

    def _read(self) -> str:
        kind = self.source.kind
        if kind == "env":
            value = self.environ.get(self.source.target)
            if not value:
                raise ResolveError(f"environment variable {self.source.target} is not set or empty")
            return value.strip()
        if kind == "file":
            return self._read_file()
        return self._run()

    def _file_changed(self) -> bool:
        try:
            st = os.stat(self.source.target)
        except OSError:
            return self._stamp is not None
        return (st.st_ino, st.st_size, st.st_mtime_ns) != self._stamp

    def _read_file(self) -> str:
        path = self.source.target
        try:
            with open(path, encoding="utf-8") as fh:
                st = os.fstat(fh.fileno())
                value = fh.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ResolveError(f"cannot read {path}: {reason}") from None
        self._stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if not value:
            raise ResolveError(f"{path} is empty")
        return value

    def _run(self) -> str:
        argv = list(self.source.command)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT, check=False, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ResolveError(f"command {argv[0]} could not run: {type(exc).__name__}") from None
        if done.returncode != 0:
            raise ResolveError(f"command {argv[0]} exited with status {done.returncode}")
        value = done.stdout.strip()
        if not value:
            raise ResolveError(f"command {argv[0]} printed nothing")
        self._fetched = time.monotonic()
        return value
