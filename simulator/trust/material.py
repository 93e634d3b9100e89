"""The simulator's own security material, loaded once per process from the test PKI directory.

- trust anchors and CRLs that judge traders' certificate chains (simulator/trust/chain.py);
- the simulator's sealing key and certificate path, which sign receipts and customs-to-trader
  messages (domain/ics2.md, "Receipts").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from simulator.trust.chain import TrustStore


@dataclass(frozen=True)
class SecurityMaterial:
    trust: TrustStore
    sealing_key: RSAPrivateKey
    sealing_chain: list[x509.Certificate]  # leaf first

    @classmethod
    def from_pki(cls, pki_dir: Path) -> SecurityMaterial:
        ca = pki_dir / "ca"
        missing = [p for p in (ca / "root.pem", pki_dir / "simulator" / "sealing.key") if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"test PKI incomplete in {pki_dir} (missing {', '.join(map(str, missing))}); "
                "run: icssim certs init"
            )
        crls = [ca / "crl.pem"] if (ca / "crl.pem").exists() else []
        trust = TrustStore.from_files([ca / "root.pem"], crls)
        key = load_pem_private_key((pki_dir / "simulator" / "sealing.key").read_bytes(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the simulator sealing key must be RSA (ICD §4.3: RSA-SHA256)")
        chain = x509.load_pem_x509_certificates((pki_dir / "simulator" / "sealing-chain.pem").read_bytes())
        return cls(trust=trust, sealing_key=key, sealing_chain=list(chain))
