"""The proxy's certificate authority: created on first use in the certs directory, in mitmproxy's file layout."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_AND_CERT = "mitmproxy-ca.pem"  # private key + certificate: the signing secret (mode 0600)
CERT_ONLY = "mitmproxy-ca-cert.pem"  # what agents trust
CA_NAME = "palaryn-proxy CA"
VALIDITY = datetime.timedelta(days=3650)


def cert_path(certs_dir: str | Path) -> Path:
    return Path(certs_dir) / CERT_ONLY


def ensure_ca(certs_dir: str | Path) -> tuple[Path, bool]:
    """Create the CA if absent; returns (certificate path, created). Repairs a too-open key file mode."""
    directory = Path(certs_dir)
    key_file, cert_file = directory / KEY_AND_CERT, directory / CERT_ONLY
    if key_file.exists():
        if key_file.stat().st_mode & 0o077:
            key_file.chmod(0o600)
        if not cert_file.exists():
            certs = x509.load_pem_x509_certificates(key_file.read_bytes())
            cert_file.write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
        return cert_file, False
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = _create()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem + cert_pem)
    os.replace(tmp, key_file)
    cert_file.write_bytes(cert_pem)
    cert_file.chmod(0o644)
    return cert_file, True


def _create() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "palaryn-proxy"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert
