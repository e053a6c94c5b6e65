"""The credential vault: agents hold placeholders, the proxy injects the real values toward bound hosts only.

config.py parses the `credentials` section; sources.py resolves real values (env, file, command);
placeholders.py derives the per-actor placeholders; plan.py judges a request (inject, refuse); scrub.py
removes real values from responses; vault.py ties them together for the stages; sigv4.py re-signs AWS
requests.
"""

from palaryn_proxy.credentials.config import CredentialsConfig, CredentialSpec, parse_credentials

__all__ = ["CredentialSpec", "CredentialsConfig", "parse_credentials"]
