# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Inspection before the cut-through: http-basic logins, TLS server names,
the logged-in source cache, after-auth=forward, the failed-login limiter,
slow clients and the access log, with real clients (curl, openssl, Python's
ssl) and servers."""
import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import time

import pytest

from auth_peers import (HttpServer, PamService, TlsEchoServer, crypt_hash, htpasswd_bcrypt,
                        make_cert, passive_opens, tls_client)
from peers import recv_all
from topo import CLIENT4, CLIENT6, SERVER4, SERVER6

USERS = {"alice": "wonder land", "bob": "builder:42"}


def users_file(tmp):
    """alice as htpasswd -B writes her ($2y$), bob as yescrypt ($y$)."""
    path = os.path.join(tmp, "users")
    with open(path, "w") as f:
        f.write("# test users\n")
        f.write(htpasswd_bcrypt("alice", USERS["alice"]) + "\n")
        f.write(f"bob:{crypt_hash(USERS['bob'], '$y$')}\n")
    return path


def start(topo, *service_args, extra=()):
    log = os.path.join(topo.tmp, "access.log")
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, *service_args, "--access-log", log,
                   "--access-log-format", "json", *extra)
    d.access_log = log
    return d


def records(d):
    with open(d.access_log) as f:
        return [json.loads(line) for line in f]


def wait_records(d, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = records(d)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"expected {n} access-log records, got {records(d)}\n{d.text()}")


def curl(topo, url, *args, timeout=10):
    """curl from the client; returns (status, body)."""
    out = topo.sh(topo.client, "curl", "-gsS", "--max-time", str(timeout), "-o", "-",
                  "-w", "\n%{http_code}", *args, url, check=False)
    body, _, status = out.stdout.rpartition("\n")
    body = body.rstrip("\n")
    return int(status or 0), body


def http_basic_args(path, *opts):
    args = ["--protect", f"{SERVER4}:80", "--auth", f"http-basic:{path}"]
    args += ["--protect", f"[{SERVER6}]:80", "--auth", f"http-basic:{path}"]
    for o in opts:
        args[4:4] = ["--auth-opt", o]
        args += ["--auth-opt", o]
    return args


@pytest.fixture
def web(topo):
    servers = [HttpServer(topo.listen(SERVER4, 80)), HttpServer(topo.listen(SERVER6, 80))]
    yield servers
    for s in servers:
        s.close()


def test_no_credentials_get_401_and_the_server_sees_nothing(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp), "realm=Intranet"))
    opens = passive_opens(topo)
    out = topo.sh(topo.client, "curl", "-sS", "-i", "--max-time", "5", f"http://{SERVER4}/x")
    assert out.stdout.startswith("HTTP/1.1 401 Unauthorized"), out.stdout
    assert 'WWW-Authenticate: Basic realm="Intranet"' in out.stdout
    assert web[0].requests == [] and passive_opens(topo) == opens, "the server saw the client"
    rec = wait_records(d, 1)[0]
    assert (rec["decision"], rec["decision_reason"], rec["close"]) == \
        ("deny", "no-credentials", "denied")
    assert rec["client"].startswith(CLIENT4 + ":") and rec["data_path"] == "none"
    d.assert_clean_exit()


def test_wrong_password_gets_401(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp)))
    opens = passive_opens(topo)
    for user, pw in (("alice", "wrong"), ("nobody", "x"), ("bob", USERS["alice"])):
        status, _ = curl(topo, f"http://{SERVER4}/", "-u", f"{user}:{pw}")
        assert status == 401, (user, pw)
    assert web[0].requests == [] and passive_opens(topo) == opens
    recs = wait_records(d, 3)
    assert [r["decision_reason"] for r in recs] == ["bad-credentials"] * 3
    assert [r["user"] for r in recs] == ["alice", "nobody", "bob"]
    d.assert_clean_exit()


@pytest.mark.parametrize("path", ["splice", "sockmap", "copy"])
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_right_password_reaches_the_server_then_cuts_through(topo, web, path, family):
    server = SERVER4 if family == "v4" else f"[{SERVER6}]"
    d = start(topo, *http_basic_args(users_file(topo.tmp)), extra=("--data-path", path))
    body = os.path.join(topo.tmp, "body")
    with open(body, "wb") as f:
        f.write(os.urandom(32 << 20))
    want = hashlib.sha256(open(body, "rb").read()).hexdigest()
    status, text = curl(topo, f"http://{server}/upload", "-u", f"alice:{USERS['alice']}",
                        "--data-binary", f"@{body}", "-H", "Content-Type: application/x")
    assert status == 200, text
    assert text == f"ok {32 << 20} {want}", "the body did not arrive intact"
    req = web[0 if family == "v4" else 1].requests[0]
    assert req["peer"][0] == (CLIENT4 if family == "v4" else CLIENT6), "not the client's address"
    expect = "Basic " + base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
    assert req["headers"]["Authorization"] == expect, "credentials not passed on"
    rec = wait_records(d, 1)[0]
    assert (rec["decision"], rec["decision_reason"], rec["user"]) == ("allow", "password", "alice")
    assert rec["data_path"] == path and rec["close"] == "done"
    assert rec["bytes_to_server"] > 32 << 20
    d.assert_clean_exit()


def test_yescrypt_user_and_stripped_credentials_with_user_header(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp), "credentials=strip",
                                     "user-header=on"))
    status, _ = curl(topo, f"http://{SERVER4}/a", "-u", f"bob:{USERS['bob']}",
                     "-H", "X-Authenticated-User: root", "-H", "X_Authenticated_User: root",
                     "-H", "X-Other: kept")
    assert status == 200
    req = web[0].requests[0]
    assert "authorization" not in req["header_names"], "credentials were not stripped"
    assert req["header_names"].count("x-authenticated-user") == 1, req["header_names"]
    assert "x_authenticated_user" not in req["header_names"], "the underscore spelling got through"
    assert req["headers"]["X-Authenticated-User"] == "bob", "client-sent header not replaced"
    assert req["headers"]["X-Other"] == "kept"
    d.assert_clean_exit()


def test_pam_login(topo, web):
    pam = PamService(topo.tmp, topo.tag, "carol", "pam secret")
    try:
        d = start(topo, "--protect", f"{SERVER4}:80", "--auth", f"http-basic:pam:{pam.name}")
        # Wrong first: once right, the source's login is cached.
        assert curl(topo, f"http://{SERVER4}/", "-u", "carol:wrong")[0] == 401
        assert curl(topo, f"http://{SERVER4}/", "-u", "dave:pam secret")[0] == 401, d.text()
        assert curl(topo, f"http://{SERVER4}/", "-u", "carol:pam secret")[0] == 200
        assert len(web[0].requests) == 1
        d.assert_clean_exit()
    finally:
        pam.remove()


def test_second_connection_from_a_logged_in_source_skips_the_prompt(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp), "user-header=on",
                                     "uauth-idle=2"))
    assert curl(topo, f"http://{SERVER4}/1")[0] == 401
    assert curl(topo, f"http://{SERVER4}/2", "-u", f"alice:{USERS['alice']}")[0] == 200
    assert curl(topo, f"http://{SERVER4}/3")[0] == 200, "the login was not remembered"
    assert web[0].requests[-1]["headers"]["X-Authenticated-User"] == "alice"
    time.sleep(2.5)
    assert curl(topo, f"http://{SERVER4}/4")[0] == 401, "the idle timeout did not expire it"
    recs = wait_records(d, 4)
    assert [r["decision_reason"] for r in recs] == \
        ["no-credentials", "password", "cached-login", "no-credentials"]
    d.assert_clean_exit()


def proxy_sockets(topo, port):
    out = topo.sh(topo.proxy, "ss", "-Htan", f"( sport = :{port} or dport = :{port} )").stdout
    return [line for line in out.splitlines() if line.strip()]


def test_after_auth_forward_bypasses_the_proxy(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp), "after-auth=forward"))
    assert curl(topo, f"http://{SERVER4}/", "-u", f"alice:{USERS['alice']}")[0] == 200
    before = topo.counters(d)
    s = topo.connect(SERVER4, 80, bind_port=45678)
    assert proxy_sockets(topo, 45678) == [], "the proxy terminated a forwarded connection"
    s.sendall(b"GET /forwarded HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    _, _, err = recv_all(s)
    assert err is None
    s.close()
    assert web[0].requests[-1]["path"] == "/forwarded"
    assert web[0].requests[-1]["peer"] == (CLIENT4, 45678)
    after = topo.counters(d)
    assert after["pass_authenticated"] - before["pass_authenticated"] >= 4
    assert after["steer_syn"] == before["steer_syn"], "the SYN went to the proxy"
    d.assert_clean_exit()


def test_failed_logins_block_the_source_until_it_expires(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp), "max-failures=3",
                                     "failure-window=30", "block=2"))
    for _ in range(3):
        assert curl(topo, f"http://{SERVER4}/", "-u", "alice:guess")[0] == 401
    blocked_at = time.time()
    before = topo.counters(d)["drop_auth_blocked"]
    with pytest.raises((socket.timeout, ConnectionError)):
        topo.connect(SERVER4, 80, timeout=0.7).close()
    assert topo.counters(d)["drop_auth_blocked"] > before, "SYNs not dropped in BPF"
    # The right password does not help while blocked: the SYN never arrives.
    assert curl(topo, f"http://{SERVER4}/", "-u", f"alice:{USERS['alice']}",
                timeout=1)[0] == 0
    time.sleep(max(0, blocked_at + 2.3 - time.time()))
    assert curl(topo, f"http://{SERVER4}/", "-u", f"alice:{USERS['alice']}")[0] == 200
    assert f"source {CLIENT4} blocked from {SERVER4}/32:80 for 2 s after 3 failed logins" \
        in d.text()
    d.assert_clean_exit()


def test_slow_client_is_closed_after_the_inspect_timeout(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp)), extra=("--inspect-timeout", "800"))
    opens = passive_opens(topo)
    s = topo.connect(SERVER4, 80)
    t0 = time.time()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(5)
    _, _, err = recv_all(s)
    took = time.time() - t0
    assert isinstance(err, ConnectionResetError), f"not reset: {err}"
    assert 0.6 < took < 2.5, f"closed after {took:.2f} s"
    assert passive_opens(topo) == opens
    rec = wait_records(d, 1)[0]
    assert (rec["decision_reason"], rec["close"]) == ("incomplete-request", "inspect-timeout")
    d.assert_clean_exit()


def test_malformed_and_oversized_requests_are_refused(topo, web):
    d = start(topo, *http_basic_args(users_file(topo.tmp)), extra=("--inspect-buffer", "1024"))
    cases = [
        (b"GET / HTTP/1.1\nHost: x\n\n", b"HTTP/1.1 400 "),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 2000 + b"\r\n\r\n", b"HTTP/1.1 431 "),
        (b"GET / HTTP/1.1\r\nAuthorization: Basic !!!\r\n\r\n", b"HTTP/1.1 400 "),
    ]
    for raw, want in cases:
        s = topo.connect(SERVER4, 80)
        s.sendall(raw)
        got = b""
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        s.close()
        assert got.startswith(want), (raw[:40], got[:80])
    assert web[0].requests == []
    recs = wait_records(d, 3)
    assert [r["decision_reason"] for r in recs] == \
        ["malformed-request", "request-too-large", "malformed-credentials"]
    d.assert_clean_exit()


@pytest.fixture
def tls(topo):
    cert, key = make_cert(topo.tmp)
    server = TlsEchoServer(topo.listen(SERVER4, 443), cert, key)
    yield server
    server.close()


def tls_args():
    return ["--protect", f"{SERVER4}:443", "--auth", "tls-sni:www.example.org,*.example.net"]


@pytest.mark.parametrize("name", ["www.example.org", "WWW.Example.ORG", "a.b.example.net"])
def test_allowed_server_name_goes_through_unchanged(topo, tls, name):
    d = start(topo, *tls_args(), extra=("--data-path", "sockmap"))
    with tls_client(topo.connect(SERVER4, 443), name) as s:
        s.sendall(b"ping" * 1000)
        got = b""
        while len(got) < 4000:
            got += s.recv(65536)
    assert got == b"ping" * 1000
    assert tls.names == [name], "the server did not get the ClientHello unchanged"
    rec = wait_records(d, 1)[0]
    assert (rec["decision"], rec["server_name"]) == ("allow", name.lower())
    d.assert_clean_exit()


@pytest.mark.parametrize("name,reason", [("evil.example.com", "server-name-denied"),
                                         ("example.net", "server-name-denied"),
                                         (None, "no-server-name")])
def test_denied_or_missing_server_name_gets_an_alert(topo, tls, name, reason):
    d = start(topo, *tls_args())
    opens = passive_opens(topo)
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        with tls_client(topo.connect(SERVER4, 443), name):
            pass
    assert tls.accepted == 0 and passive_opens(topo) == opens
    assert wait_records(d, 1)[0]["decision_reason"] == reason
    d.assert_clean_exit()


def test_openssl_s_client_through_tls_sni(topo, tls):
    d = start(topo, *tls_args())
    ok = topo.sh(topo.client, "sh", "-c", f"timeout 10 openssl s_client -connect "
                 f"{SERVER4}:443 -servername www.example.org < /dev/null", check=False)
    assert "New, TLS" in ok.stdout and "Cipher is" in ok.stdout, ok.stdout + ok.stderr
    bad = topo.sh(topo.client, "sh", "-c", f"timeout 10 openssl s_client -connect "
                  f"{SERVER4}:443 -servername www.example.com < /dev/null", check=False)
    assert bad.returncode != 0 and "unrecognized name" in bad.stderr, bad.stderr
    assert tls.names == ["www.example.org"]
    d.assert_clean_exit()


def test_plain_bytes_to_a_tls_service_are_reset(topo, tls):
    d = start(topo, *tls_args())
    s = topo.connect(SERVER4, 443)
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    _, _, err = recv_all(s)
    assert isinstance(err, ConnectionResetError)
    assert wait_records(d, 1)[0]["decision_reason"] == "not-tls"
    d.assert_clean_exit()


@pytest.mark.parametrize("args,message", [
    (["--auth", "http-basic:/nonexistent/users"], "users file /nonexistent/users"),
    (["--auth", "http-basic:relative"], "invalid --auth"),
    (["--auth", "tls-sni:"], "invalid --auth"),
    (["--auth-opt", "after-auth=forward"], "without --auth"),
    (["--auth", "tls-sni:a.example", "--auth-opt", "user-header=on"], "tls-sni cannot modify"),
])
def test_bad_auth_configuration_is_refused_clearly(topo, args, message):
    out = topo.cutthru("run", "-i", topo.if_pc, "--protect", f"{SERVER4}:80", *args)
    assert out.returncode != 0 and message in out.stderr, out.stderr


def test_weak_hash_in_users_file_is_refused_with_its_line(topo):
    path = os.path.join(topo.tmp, "weak")
    with open(path, "w") as f:
        f.write(htpasswd_bcrypt("alice", "x") + "\n")
        f.write("md5user:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    out = topo.cutthru("run", "-i", topo.if_pc, "--protect", f"{SERVER4}:80",
                       "--auth", f"http-basic:{path}")
    assert out.returncode != 0 and f"{path}:2: hash method not supported" in out.stderr, \
        out.stderr
