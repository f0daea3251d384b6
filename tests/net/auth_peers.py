# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What the inspection tests talk to: an HTTP server that remembers what it
got, a TLS echo server, password hashes and a PAM service of the test's own."""
import ctypes
import hashlib
import http.server
import os
import ssl
import subprocess
import threading

from peers import Acceptor

_crypt = ctypes.CDLL("libcrypt.so.1", use_errno=True)
_crypt.crypt_gensalt.restype = ctypes.c_char_p
_crypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
_crypt.crypt.restype = ctypes.c_char_p
_crypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt_hash(password, prefix):
    """A crypt(3) hash with libxcrypt's default cost: prefix "$y$" yescrypt,
    "$2b$" bcrypt, "$6$" sha512crypt."""
    setting = _crypt.crypt_gensalt(prefix.encode(), 0, None, 0)
    assert setting, f"libxcrypt cannot make a {prefix} salt"
    return _crypt.crypt(password.encode(), setting).decode()


def htpasswd_bcrypt(user, password):
    """What Apache's htpasswd -B writes: a $2y$ line."""
    out = subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out.startswith(f"{user}:$2y$"), out
    return out


class HttpServer:
    """Answers every request with 200 and a JSON-free summary line; keeps
    each request's peer, method, path, headers and the sha256 of its body."""

    def __init__(self, lsock):
        self.requests = []
        self.connections = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                outer.connections += 1
                super().setup()

            def handle_one(self):
                length = int(self.headers.get("Content-Length", "0"))
                digest = hashlib.sha256()
                left = length
                while left:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
                outer.requests.append({
                    "peer": self.client_address[:2], "method": self.command, "path": self.path,
                    "headers": dict(self.headers.items()),
                    "header_names": [k.lower() for k in self.headers.keys()],
                    "body_sha256": digest.hexdigest(), "body_len": length - left,
                })
                body = f"ok {length - left} {digest.hexdigest()}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = handle_one

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(lsock.getsockname()[:2], Handler,
                                                     bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = lsock
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_cert(tmp):
    """A self-signed certificate for the TLS server."""
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=www.example.org"],
                   check=True, capture_output=True)
    return cert, key


class TlsEchoServer(Acceptor):
    """Completes TLS handshakes and echoes each connection; records the
    server names it was asked for."""

    def __init__(self, lsock, cert, key):
        self.names = []
        self.accepted = 0
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.sni_callback = lambda sock, name, ctx: self.names.append(name)
        super().__init__(lsock)

    def handle(self, conn, peer):
        self.accepted += 1
        threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    def echo(self, conn):
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                while data := tls.recv(65536):
                    tls.sendall(data)
        except (OSError, ssl.SSLError):
            pass


def tls_client(sock, server_name):
    """Wraps a connected socket as a TLS client (no certificate check: the
    test is about the name in the ClientHello, not about trust)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname=server_name)


class PamService:
    """/etc/pam.d/<name>: pam_exec runs a script that reads the password on
    its stdin (expose_authtok) and accepts one user and password."""

    def __init__(self, tmp, tag, user, password):
        self.name = f"cutthru-test-{tag}"
        self.path = f"/etc/pam.d/{self.name}"
        script = os.path.join(tmp, "pam-check.sh")
        with open(script, "w") as f:
            # pam_exec hands the password NUL-terminated, without newline.
            f.write("#!/bin/sh\n"
                    "read -r pw || true\n"
                    f"pw=$(printf %s \"$pw\" | tr -d '\\000')\n"
                    f"[ \"$PAM_USER\" = '{user}' ] && [ \"$pw\" = '{password}' ]\n")
        os.chmod(script, 0o755)
        with open(self.path, "w") as f:
            # pam_exec fails as a system error; pam_deny turns that into the
            # authentication error a real password module gives.
            f.write(f"auth [success=1 default=ignore] pam_exec.so expose_authtok quiet {script}\n"
                    "auth requisite pam_deny.so\n"
                    "auth required pam_permit.so\n"
                    "account required pam_permit.so\n")

    def remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def passive_opens(topo):
    """TCP passive opens in the server namespace: did anything reach it?"""
    text = topo.sh(topo.server, "cat", "/proc/net/snmp").stdout.splitlines()
    tcp = [line.split() for line in text if line.startswith("Tcp:")]
    return int(tcp[1][tcp[0].index("PassiveOpens")])
