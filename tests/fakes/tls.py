"""A throwaway certificate authority (trustme) for fake servers and their clients."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class TestCA:
    """Server contexts for 127.0.0.1/localhost and the CA file clients verify with."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, folder: Path) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = str(folder / "fake-ca.pem")
        self.cert_file = str(folder / "fake-cert.pem")
        self.key_file = str(folder / "fake-key.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._cert.private_key_and_cert_chain_pem.write_to_path(self.cert_file)
        self._cert.private_key_pem.write_to_path(self.key_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)
