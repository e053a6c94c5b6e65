"""The CA agents trust (ca.py), the environment that points them at it (agentenv.py), refusals (failures.py)."""

from palaryn_proxy.tls.failures import TlsFailureLog

__all__ = ["TlsFailureLog"]
