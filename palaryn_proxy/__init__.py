"""palaryn-proxy: a forward HTTPS interception proxy that puts guard rails on AI agents."""

__version__ = "0.1.0"
