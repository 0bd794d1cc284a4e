"""Mutual TLS between A and B: a private CA, B's server certificate, A's client certificate.

``hrmon setup --tls`` makes them (with the ``cryptography`` package). The CA's private key
is used once and never written: like the system key, nothing that could mint a new A or B
survives setup (rotation = run setup again). With ``HRMON_B_TLS=1`` server B serves HTTPS
and refuses a client without a certificate of this CA; with ``HRMON_A_TLS=1`` server A
calls ``https://`` B, checks B's certificate against the CA and presents its own. The A-B
HMAC signatures stay on: TLS protects the channel, the MACs bind answers to requests.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from service_common.key_dir import write_file

TLS_CA = "tls_ca.pem"
TLS_B_CERT, TLS_B_KEY = "tls_b.pem", "tls_b.key"
TLS_A_CERT, TLS_A_KEY = "tls_a.pem", "tls_a.key"
TLS_FILES = (TLS_CA, TLS_B_CERT, TLS_B_KEY, TLS_A_CERT, TLS_A_KEY)
B_NAMES = ("localhost", "server-b")
"""DNS names in B's certificate (plus the loopback addresses): loopback and compose."""
VALID_DAYS = 825


@dataclass(frozen=True)
class TlsFiles:
    """One server's side of the mutual TLS: the CA to trust, its own certificate and key."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """B's: its certificate, and a client certificate of the CA required."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_context(self) -> ssl.SSLContext:
        """A's: B's certificate checked against the CA (and its name), A's presented."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def write_tls_files(directory: Path, *, extra_b_names: tuple[str, ...] = ()) -> None:
    """The CA certificate, B's and A's certificates and keys (keys 0600) in ``directory``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hrmon A-B CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()

    b_names: list[x509.GeneralName] = [x509.DNSName(n) for n in (*B_NAMES, *extra_b_names)]
    b_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    b_cert, b_key = issue("hrmon server B", ExtendedKeyUsageOID.SERVER_AUTH, b_names)
    a_cert, a_key = issue("hrmon server A", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    write_file(directory / TLS_CA, ca_pem, secret=False)
    write_file(directory / TLS_B_CERT, b_cert, secret=False)
    write_file(directory / TLS_B_KEY, b_key, secret=True)
    write_file(directory / TLS_A_CERT, a_cert, secret=False)
    write_file(directory / TLS_A_KEY, a_key, secret=True)
    # ca_key is never written: once this returns, nothing can mint another A or B
