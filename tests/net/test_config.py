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
from topo import CLIENT4, CUTTHRU, PROXY_C4, REPO, SERVER4, SERVER6, run

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
    bulk.settimeout(60)  # a shared, loaded machine; a stall still fails
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


def test_second_daemon_of_one_instance_takes_over(topo):
    """A second run of an instance is a zero-downtime restart
    (test_handover.py): the first hands over and exits 0."""
    d = topo.start("-i", topo.if_pc, "--protect", f"{SERVER4}:80")
    new = topo.start("-i", topo.if_pc, "--protect", f"{SERVER4}:80", "--instance", d.instance)
    assert d.proc.wait(15) == 0, d.text()
    assert "handed the listeners and 0 connection(s)" in d.text(), d.text()
    assert topo.ctl(new, "status").returncode == 0
    new.assert_clean_exit()


@pytest.fixture
def bpffs(tmp_path):
    """A BPF filesystem of the test's own, seen inside ip netns exec too."""
    path = str(tmp_path / "bpffs")
    os.mkdir(path)
    run("mount", "-t", "bpf", "bpf", path)
    yield path
    run("umount", "-l", path, check=False)


def bpftool_json(*args):
    return json.loads(run("bpftool", "-j", *args).stdout)


def test_pinned_maps_survive_a_restart_and_detach_removes_everything(topo, bpffs):
    EchoServer(topo.listen(SERVER4, 80))
    args = ("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80", "--bpffs", bpffs)
    d = topo.start(*args)
    pins = os.path.join(bpffs, "cutthru", d.instance)
    assert {"quads", "services", "allowed", "counters", "auth_sources", "config_gen"} <= \
        set(os.listdir(pins))
    held = topo.connect(SERVER4, 80, bind_port=42424)
    held.sendall(b"abc")
    assert held.recv(3) == b"abc"
    quads = bpftool_json("map", "dump", "pinned", f"{pins}/quads")
    fields = quads[0]["formatted"] if "formatted" in quads[0] else quads[0]
    assert "saddr" in json.dumps(fields) and "service_id" in json.dumps(fields), fields
    held.close()
    syns = steered(topo, d)
    d.assert_clean_exit()
    assert os.path.exists(f"{pins}/counters"), "a clean stop removed the pins"

    d = topo.start(*args)
    assert steered(topo, d) >= syns, "the restarted daemon did not reuse the counters"
    d.stop(signal.SIGKILL)
    tc = topo.sh(topo.proxy, "tc", "filter", "show", "dev", topo.if_pc, "ingress").stdout
    assert "cutthru" in tc, "a killed daemon must leave its filter (fail closed)"
    out = topo.sh(topo.proxy, CUTTHRU, "detach", "--instance", d.instance, "--bpffs", bpffs,
                  check=False)
    assert out.returncode == 0 and "2 interface(s)" in out.stdout, out.stdout + out.stderr
    assert not os.path.exists(pins)
    for dev in (topo.if_pc, topo.if_ps):
        assert "clsact" not in topo.sh(topo.proxy, "tc", "qdisc", "show", "dev", dev).stdout
    assert "4354" not in topo.sh(topo.proxy, "ip", "rule", "show").stdout


def test_detach_refuses_while_the_daemon_runs(topo):
    d = topo.start("-i", topo.if_pc, "--protect", f"{SERVER4}:80")
    out = topo.sh(topo.proxy, CUTTHRU, "detach", "--instance", d.instance, check=False)
    assert out.returncode == 1 and "is running" in out.stderr
    d.assert_clean_exit()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in:\n{text}")


def test_metrics_on_the_routers_own_address(topo):
    EchoServer(topo.listen(SERVER4, 80))
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   "--metrics", f"{PROXY_C4}:9100")
    assert echo(topo, SERVER4, 80, b"x" * 1000)[0] == 1000
    time.sleep(0.2)
    local_before = topo.counters(d)["pass_local"]
    out = topo.sh(topo.client, "curl", "-sS", "--max-time", "5",
                  f"http://{PROXY_C4}:9100/metrics").stdout
    assert topo.counters(d)["pass_local"] > local_before, "not through the local path"
    assert metric(out, "cutthru_syns_intercepted_total") == 1
    assert metric(out, 'cutthru_packets_total{reason="steer_syn"}') == 1
    assert metric(out, 'cutthru_connections_closed_total{reason="done"}') == 1
    assert metric(out, 'cutthru_bytes_total{data_path="splice",direction="to_server"}') == 1000
    assert metric(out, "cutthru_connection_duration_seconds_count") == 1
    assert metric(out, 'cutthru_connection_duration_seconds_bucket{le="+Inf"}') == 1
    assert metric(out, 'cutthru_logins_total{result="ok"}') == 0
    assert "# TYPE cutthru_connection_duration_seconds histogram" in out
    status = topo.sh(topo.client, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                     f"http://{PROXY_C4}:9100/other").stdout
    assert status == "404"
    d.assert_clean_exit()


def test_metrics_count_the_cut_through_bytes(topo):
    """With sockmap, every byte after the hand-off is either redirected by
    the kernel or held and moved by the daemon: 1000 each way here. (The
    client does not half-close first: a leg in CLOSE_WAIT cannot enter a
    sockhash, and such a connection is spliced.)"""
    EchoServer(topo.listen(SERVER4, 80))
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   "--data-path", "sockmap", "--metrics", f"{PROXY_C4}:9100")
    with topo.connect(SERVER4, 80, timeout=5) as s:
        s.sendall(b"x" * 1000)
        got = b""
        while len(got) < 1000:
            chunk = s.recv(1000 - len(got))
            assert chunk, got
            got += chunk
    time.sleep(0.2)
    out = topo.sh(topo.client, "curl", "-sS", "--max-time", "5",
                  f"http://{PROXY_C4}:9100/metrics").stdout
    moved = (metric(out, 'cutthru_cut_bytes_total{verdict="redirected"}')
             + metric(out, 'cutthru_cut_bytes_total{verdict="held"}'))
    assert moved == 2000, out
    assert metric(out, 'cutthru_cut_bytes_total{verdict="overlap_failed"}') == 0
    d.assert_clean_exit()


def test_metrics_address_in_use_is_a_clear_error(topo):
    blocker = topo.socket(topo.proxy)
    blocker.bind((PROXY_C4, 9101))
    blocker.listen(1)
    out = topo.cutthru("run", "-i", topo.if_pc, "--protect", f"{SERVER4}:80",
                       "--metrics", f"{PROXY_C4}:9101", "--instance", topo.tag)
    blocker.close()
    assert out.returncode == 1 and f"serving metrics on {PROXY_C4}:9101 failed" in out.stderr, \
        out.stderr
