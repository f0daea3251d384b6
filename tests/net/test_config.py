# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The config file, check-config, live reload and the control socket's
status, conns and stats."""
import json
import os
import signal
import socket
import time

import pytest

from auth_peers import htpasswd_bcrypt
from peers import EchoServer, Thread, recv_all, send_pattern
from topo import CLIENT4, CUTTHRU, REPO, SERVER4, SERVER6, run

EXAMPLE = os.path.join(REPO, "etc", "cutthru.conf.example")


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def check_config(path):
    return run(CUTTHRU, "check-config", path, check=False)


def test_example_config_is_valid(tmp_path):
    users = write(tmp_path, "users", htpasswd_bcrypt("alice", "x") + "\n")
    text = open(EXAMPLE).read().replace("/etc/cutthru/users", users)
    out = check_config(write(tmp_path, "c.conf", text))
    assert out.returncode == 0, out.stderr
    assert "ok (2 interface(s), 3 service(s))" in out.stdout


# Each bad config, with the FILE:LINE message it must produce.
BAD = [
    ('interfaces = ["a"];\ncolour = "blue";\nservices = ({ protect = "198.19.2.2:80"; });\n',
     ":2: unknown key 'colour'"),
    ('interfaces = ["a"];\nconnect-timeout = 0;\nservices = ({ protect = "198.19.2.2:80"; });\n',
     ":2: invalid connect-timeout '0'"),
    ('interfaces = ["a"];\nservices = (\n { protect = "198.19.2.2:80";\n auth = "kerberos"; });\n',
     ":4: invalid auth 'kerberos'"),
    ('interfaces = ["a"];\nservices = (\n  { realm = "x"; }\n);\n',
     ':3: service without protect = "ADDR:PORT"'),
    ('interfaces = ["a"];\nservices = ({ protect = "198.19.2.2:80";\n  bogus = 1; });\n',
     ":3: unknown key 'bogus'"),
    ('interfaces = ["a"];\nservices = ({ protect = "198.19.2.2:80";\n allow = [ "nope" ]; });\n',
     ":3: invalid allow 'nope'"),
    ('interfaces = ["a"];\nprotect = "198.19.2.2:80";\n', ":2: 'protect' belongs in a service"),
    ('interfaces = ["a"];\nservices = ({ protect = "198.19.2.2:80" });\nmark = ;\n',
     ":3: syntax error"),
    ('interfaces = [ 1 ];\nservices = ({ protect = "198.19.2.2:80"; });\n',
     ":1: 'interfaces' must be a list of strings"),
    ('interfaces = ["a"];\nservices = ({ protect = "198.19.2.2:80"; data-path = "warp"; });\n',
     ":2: invalid data-path 'warp'"),
    ('interfaces = ["a"];\nservices = ({ protect = "198.19.2.2:80"; after-auth = "forward"; });\n',
     "without --auth"),
    ('interfaces = ["a"];\nservices = ({ protect = "198.19.2.2:80";\n'
     ' auth = "http-basic:/nonexistent/users"; });\n', "users file /nonexistent/users: No such"),
    ('services = ({ protect = "198.19.2.2:80"; });\n', "no interfaces"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_config_names_file_and_line(tmp_path, text, message):
    path = write(tmp_path, "bad.conf", text)
    out = check_config(path)
    assert out.returncode == 1, out.stdout
    want = message if message.startswith(("users", "no ", "without")) else path + message
    assert want in out.stderr, out.stderr


def test_several_errors_are_all_named(tmp_path):
    path = write(tmp_path, "bad.conf", 'interfaces = ["a"];\nx = 1;\ny = 2;\n'
                 'services = ({ protect = "198.19.2.2:80"; z = 3; });\n')
    err = check_config(path).stderr
    assert f"{path}:2: unknown key 'x'" in err and f"{path}:3: unknown key 'y'" in err
    assert f"{path}:4: unknown key 'z'" in err


def service_conf(topo, services, extra=""):
    body = ",\n".join(f'{{ protect = "{s}"; }}' for s in services)
    return (f'interfaces = [ "{topo.if_pc}", "{topo.if_ps}" ];\n{extra}'
            f"services = (\n{body}\n);\n")


def echo(topo, addr, port, payload=b"ping"):
    s = topo.connect(addr, port, timeout=2)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    s.close()
    return got


def steered(topo, d):
    return json.loads(topo.ctl(d, "stats", "--json").stdout)["verdicts"]["steer_syn"]["packets"]


def proxied(topo, d, port):
    """Does a new connection to SERVER4:port go through the proxy (rather
    than being forwarded untouched)?"""
    before = steered(topo, d)
    echo(topo, SERVER4, port)
    return steered(topo, d) > before


def test_run_from_config_and_flags_override(topo):
    conf = write(topo.tmp, "c.conf", service_conf(topo, [f"{SERVER4}:80"],
                                                   'data-path = "copy";\n'))
    EchoServer(topo.listen(SERVER4, 80))
    d = topo.start("--config", conf, "--data-path", "splice")
    assert "data path splice" in d.text(), "the flag did not override the file"
    assert echo(topo, SERVER4, 80)[0] == 4
    status = json.loads(topo.ctl(d, "status", "--json").stdout)
    assert status["config"] == conf and status["data_path"] == "splice"
    assert [s["protect"] for s in status["services"]] == [f"{SERVER4}/32:80"]
    d.assert_clean_exit()


def test_reload_under_traffic(topo):
    """Established connections go on untouched (bytes checked); a removed
    service stops accepting; an added one starts; a bad file is refused and
    the old configuration stays."""
    conf = write(topo.tmp, "c.conf", service_conf(topo, [f"{SERVER4}:80", f"{SERVER4}:81"]))
    for port in (80, 81, 82):
        EchoServer(topo.listen(SERVER4, port))
    d = topo.start("--config", conf)
    # A transfer that spans the reloads: 64 MiB sent slowly enough.
    bulk = topo.connect(SERVER4, 80)
    sender = Thread(send_pattern, bulk, 7, 64 << 20)
    reader = Thread(recv_all, bulk)
    sender.start()
    reader.start()

    write(topo.tmp, "c.conf", service_conf(topo, [f"{SERVER4}:80", f"{SERVER4}:82"]))
    out = topo.ctl(d, "reload")
    assert out.returncode == 0 and "reloaded: 2 service(s)" in out.stdout, out.stderr
    assert not proxied(topo, d, 81), "a removed service is still intercepted"
    assert proxied(topo, d, 82), "an added service is not intercepted"
    assert echo(topo, SERVER4, 82)[0] == 4, "an added service does not work"

    write(topo.tmp, "c.conf", "interfaces = [ oops ;\n")
    out = topo.ctl(d, "reload")
    assert out.returncode == 1 and f"{conf}:1:" in out.stderr, out.stderr
    assert "reload refused, the running configuration stays" in d.text()
    assert proxied(topo, d, 82), "the old configuration did not stay"

    write(topo.tmp, "c.conf", service_conf(topo, [f"{SERVER4}:80"]))
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while d.text().count("reloaded:") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert not proxied(topo, d, 82), "SIGHUP did not reload"

    digest = sender.get(120)
    bulk.shutdown(socket.SHUT_WR)
    count, got, err = reader.get(120)
    assert err is None and count == 64 << 20 and got == digest, "the transfer broke"
    d.assert_clean_exit()


def test_reload_refuses_what_needs_a_restart(topo):
    conf = write(topo.tmp, "c.conf", service_conf(topo, [f"{SERVER4}:80"]))
    d = topo.start("--config", conf)
    write(topo.tmp, "c.conf", service_conf(topo, [f"{SERVER4}:80"], "table = 99;\n"))
    out = topo.ctl(d, "reload")
    assert out.returncode == 1 and "needs a restart" in out.stderr
    d.assert_clean_exit()


def test_status_conns_and_stats(topo):
    EchoServer(topo.listen(SERVER4, 80))
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   "--protect", f"[{SERVER6}]:80")
    held = topo.connect(SERVER4, 80, bind_port=41234)
    held.sendall(b"x" * 1000)
    assert held.recv(1000)
    table = topo.ctl(d, "conns")
    assert table.returncode == 0 and f"{CLIENT4}:41234" in table.stdout, table.stdout
    conns = json.loads(topo.ctl(d, "conns", "--json").stdout)
    assert len(conns) == 1
    c = conns[0]
    assert (c["client"], c["server"], c["phase"]) == (f"{CLIENT4}:41234", f"{SERVER4}:80",
                                                      "relaying")
    assert c["bytes_to_server"] == 1000 and c["service"] == f"{SERVER4}/32:80"
    held.close()
    stats = json.loads(topo.ctl(d, "stats", "--json").stdout)
    assert stats["verdicts"]["steer_syn"]["packets"] >= 1
    assert stats["daemon"]["accepted"] == 1
    text = topo.ctl(d, "stats").stdout
    assert "steer_syn" in text and "drop_not_admitted" in text
    status = topo.ctl(d, "status").stdout
    assert f"instance      {d.instance}" in status and "service" in status
    d.assert_clean_exit()
    gone = topo.ctl(d, "status")
    assert gone.returncode == 2 and "no daemon of instance" in gone.stderr


def test_second_daemon_of_one_instance_is_refused(topo):
    d = topo.start("-i", topo.if_pc, "--protect", f"{SERVER4}:80")
    out = topo.cutthru("run", "-i", topo.if_pc, "--protect", f"{SERVER4}:80",
                       "--instance", d.instance)
    assert out.returncode == 1 and "is running" in out.stderr, out.stderr
    d.assert_clean_exit()
