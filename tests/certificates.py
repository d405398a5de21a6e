"""A throwaway certificate authority for tests that speak TLS (the SMTP relay, nginx).

Made with trustme: a CA that exists only for the test run, and certificates it signs for the
names a server answers to. Clients trust it through its PEM file (`ca_file`), exactly as an
operator trusts a private CA with HIRETRACK_SMTP_CA_FILE or SSL_CERT_FILE; nothing else on the
machine does, which is what the "untrusted certificate" tests rely on.
"""

import ssl
from pathlib import Path

import trustme


class ThrowawayCA:
    """A CA whose certificate is written to `directory/ca.pem`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ca = trustme.CA(organization_name="HireTrack tests")
        self.ca_file = directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def issue_files(self, *names: str) -> tuple[Path, Path]:
        """Write a certificate for `names` (host names or IP addresses): (chain file, key file)."""
        leaf = self._ca.issue_cert(*names)
        stem = names[0].replace("*", "wildcard")
        chain, key = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        chain.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        return chain, key

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for `names`."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*names).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts this CA only, and checks names."""
        return ssl.create_default_context(cafile=str(self.ca_file))
