"""Writes the PEM files next to this script from the JWKs in rfc7515.json and rfc8037.json.

mcp-jwt loads RS256 and EdDSA keys from PEM only, and the RFCs publish them as JWKs.
Run with python3 and the `cryptography` package (made with cryptography 48.0.0):

    python3 jwk_to_pem.py

The PEMs are PKCS#8 (private) and SubjectPublicKeyInfo (public). The tests check that
they hold exactly the published key: the public PEMs' n/e and x equal the JWK's, and the
private PEMs reproduce the published (deterministic) signatures byte for byte.
"""

import base64
import json
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

HERE = pathlib.Path(__file__).resolve().parent


def b64_int(value):
    return int.from_bytes(b64_bytes(value), "big")


def b64_bytes(value):
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def write(name, data):
    (HERE / name).write_bytes(data)


def pems(private_key):
    private = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return private, public


def main():
    for file in ("rfc7515.json", "rfc8037.json"):
        for vector in json.loads((HERE / file).read_text())["vectors"]:
            if "private_key_pem" not in vector:
                continue
            jwk = vector["jwk"]
            if jwk["kty"] == "RSA":
                public_numbers = rsa.RSAPublicNumbers(
                    b64_int(jwk["e"]), b64_int(jwk["n"])
                )
                key = rsa.RSAPrivateNumbers(
                    p=b64_int(jwk["p"]),
                    q=b64_int(jwk["q"]),
                    d=b64_int(jwk["d"]),
                    dmp1=b64_int(jwk["dp"]),
                    dmq1=b64_int(jwk["dq"]),
                    iqmp=b64_int(jwk["qi"]),
                    public_numbers=public_numbers,
                ).private_key()
            else:
                key = ed25519.Ed25519PrivateKey.from_private_bytes(b64_bytes(jwk["d"]))
                raw = key.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                )
                assert raw == b64_bytes(jwk["x"]), "d and x of the JWK do not match"
            private, public = pems(key)
            write(vector["private_key_pem"], private)
            write(vector["public_key_pem"], public)


if __name__ == "__main__":
    main()
