"""TLS for a Vault cluster: a CA and one certificate per node, generated in memory (``cryptography``).

The CA's private key is returned as a ``Secret`` PEM and never written anywhere by this module: the cluster stack
keeps it as a Pulumi secret (encrypted in the state by the stack's secrets provider). A node's key is made on the
operator's side, sent to that node only (mode 0600) and never kept. Node certificates name the node's address (IP
SAN), its node id and the cluster name (DNS SANs), and serve both as server and client certificates (raft joins).
Clients verify the servers against the CA (``VAULT_CACERT``).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret

CA_DAYS = 3650
NODE_DAYS = 397
"""A node certificate's life; renewal before expiry is a replacement through the engine (its ``cert_serial``)."""


@dataclass(frozen=True)
class CertKey:
    cert_pem: str
    key_pem: Secret


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pm-mail-infra"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> Secret:
    pem = Secret(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()).decode())
    REDACTOR.register(pem)
    return pem


def new_ca(cluster_name: str, days: int = CA_DAYS) -> CertKey:
    """A self-signed CA (P-256) that may sign only end-entity certificates (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = _name(f"{cluster_name} Vault CA")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return CertKey(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def _load_ca(ca: CertKey) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
        key = serialization.load_pem_private_key(ca.key_pem.reveal().encode(), password=None)
    except ValueError as exc:
        raise ValidationError("ca", f"the CA certificate or key cannot be read ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ValidationError("ca", "the CA key does not match the CA certificate")
    return cert, key


def node_certificate(ca: CertKey, *, node_id: str, address: str, cluster_name: str,
                     days: int = NODE_DAYS) -> CertKey:
    """A certificate for one node signed by ``ca``: IP SAN ``address``, DNS SANs ``node_id`` and ``cluster_name``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValidationError("address", f"{address!r} is not an IP address") from None
    ca_cert, ca_key = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans = x509.SubjectAlternativeName([x509.IPAddress(ip), x509.DNSName(node_id), x509.DNSName(cluster_name),
                                        x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(_name(node_id)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(sans, critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return CertKey(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def not_after(cert_pem: str) -> str:
    """The certificate's expiry as an ISO instant (UTC)."""
    return x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc.isoformat()


def serial(cert_pem: str) -> str:
    return format(x509.load_pem_x509_certificate(cert_pem.encode()).serial_number, "x")
