"""Fixtures for the io tests: `certs`, the TLS tests' per-session certificates."""

from tests.helpers.tls_peers import certs

__all__ = ["certs"]
