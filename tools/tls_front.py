"""A TLS front for a plain-HTTP loopback server (moto), signed by a throwaway test CA.

Used by the container-image tests to prove that the image's CA bundle is what the AWS SDK
trusts: the function reaches AWS through this front only if the test CA is in the bundle.

    tls_front.py --upstream 127.0.0.1:5000 --listen 127.0.0.1:5443 --out DIR

writes DIR/ca.pem (the CA certificate), then prints "ready <port>" and forwards every TLS
connection to the upstream byte for byte until killed. The server certificate is valid for
127.0.0.1 and localhost. Only the standard library and `cryptography` (a moto dependency,
pinned in tools/constraints.txt) are used.
"""

import argparse
import datetime
import ipaddress
import pathlib
import socket
import ssl
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(out):
    """Writes ca.pem, server.pem and server.key into `out`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("tern test CA"))
        .issuer_name(_name("tern test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    (out / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (out / "server.pem").write_bytes(cert.public_bytes(pem))
    # Written last: its presence tells a waiting test that everything is in place.
    (out / "ca.pem.tmp").write_bytes(ca_cert.public_bytes(pem))
    (out / "ca.pem.tmp").rename(out / "ca.pem")


def pump(source, sink):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, context, upstream):
    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client, context, upstream), daemon=True).start()


def handle(client, context, upstream):
    try:
        tls = context.wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError) as err:
        # A client that does not trust the CA aborts the handshake: say so, keep serving.
        print(f"handshake failed: {err}", flush=True)
        client.close()
        return
    try:
        backend = socket.create_connection(upstream)
    except OSError as err:
        print(f"upstream unreachable: {err}", flush=True)
        tls.close()
        return
    threading.Thread(target=pump, args=(backend, tls), daemon=True).start()
    pump(tls, backend)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="host:port of the plain server")
    parser.add_argument("--listen", required=True, help="host:port to serve TLS on")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="where ca.pem goes")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    make_certificates(args.out)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.out / "server.pem", args.out / "server.key")

    host, port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)
    listener = socket.create_server((host, int(port)))
    print(f"ready {listener.getsockname()[1]}", flush=True)
    serve(listener, context, (up_host, int(up_port)))


if __name__ == "__main__":
    sys.exit(main())
