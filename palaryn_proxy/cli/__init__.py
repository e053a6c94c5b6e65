"""The `palaryn-proxy` command line; `palaryn_proxy.cli:main` is the console-script entry point."""

from palaryn_proxy.cli.commands import main

__all__ = ["main"]
