"""The cluster with its link to Redis over TLS (``rediss://``), the
password kept out of argv, logs and errors: nodes on a real redis-server
with ``requirepass`` behind a TLS-terminating proxy (``tls_support``; the
redis-server of the tests is built without TLS)."""

import os
import subprocess
import sys

import pytest

from cluster_support import FAST
from redis_support import own_redis_server  # noqa: F401 (fixture)
from support import ROOT, TIMEOUT, ServerProcess
from tls_support import TLSProxy, certs  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow   # nodes and a real redis-server

PASSWORD = "cluster-redis-pass-42"


def start_node(env, *args):
    """A node whose Redis URL comes from the environment (as make run-cluster does)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        node = ServerProcess(*FAST, *args)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    node.wait_for_log("cluster node .* ready")
    return node


def test_two_nodes_over_rediss_with_a_password_in_the_environment(own_redis_server, certs,
                                                                  tmp_path):
    redis = own_redis_server("--requirepass", PASSWORD)
    proxy = TLSProxy(certs.cert, certs.key, redis.port)
    url_file = tmp_path / "redis-url"
    url_file.write_text(proxy.url(db=3, password=PASSWORD) + "\n")
    nodes = []
    try:
        nodes.append(start_node({"KTN_REDIS_URL": proxy.url(db=3, password=PASSWORD)},
                                "--redis-tls-ca", certs.ca))
        nodes.append(start_node({}, "--redis-url-file", str(url_file),
                                "--redis-tls-ca", certs.ca))
        alice, bob = nodes[0].connect(), nodes[1].connect()
        alice.login("alice")
        bob.login("bob")
        alice.send("msg", "across rediss")
        assert bob.expect("message")["content"] == "across rediss"
        for node in nodes:
            with open("/proc/%d/cmdline" % node.proc.pid, "rb") as f:
                assert PASSWORD.encode() not in f.read()       # not in ps
            node.wait_for_log("connected to redis at .* with TLS")
            assert "rediss://:***@127.0.0.1" in node.wait_for_log("cluster node .* ready")
        alice.close()
        bob.close()
    finally:
        for node in nodes:
            node.stop()
        proxy.close()
    for node in nodes:
        assert PASSWORD not in node.read_log()                 # nor in the log


def test_a_bad_redis_url_or_ca_is_an_error_without_the_password(tmp_path):
    for args, says in ((["--redis", "http://:%s@h" % PASSWORD], "http://:***@h"),
                       (["--redis", "rediss://:%s@h" % PASSWORD, "--redis-tls-ca",
                         str(tmp_path / "absent.pem")], "absent.pem"),
                       (["--redis-url-file", str(tmp_path / "none")], "none")):
        proc = subprocess.run([sys.executable, "-m", "chat.server", "--port", "0", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT * 4)
        assert proc.returncode in (1, 2), proc.stderr
        assert says in proc.stderr and PASSWORD not in proc.stderr, proc.stderr
