"""``rediss://``: our Redis client over TLS (reactor/tls/), against a real
redis-server behind a TLS-terminating proxy (``tls_support.TLSProxy``: the
redis-server the tests use is built without TLS), with real certificates;
and URLs shown only with the password masked."""

import logging

import pytest

from reactor.loop import EventLoop
from reactor.redis import RedisClient, mask, parse_url, uses_tls
from reactor.tls import client_context
from redis_support import own_redis_server, redis_server, run_until  # noqa: F401 (fixtures)
from tls_support import TLSProxy, certs  # noqa: F401 (fixture)

PASSWORD = "s3cret-redis-pass"


def test_urls_are_masked_and_errors_never_quote_the_password():
    assert mask("redis://:%s@h:1/2" % PASSWORD) == "redis://:***@h:1/2"
    assert mask("rediss://user:%s@h" % PASSWORD) == "rediss://user:***@h"
    assert mask("redis://h:6379") == "redis://h:6379"
    assert uses_tls("rediss://h") and not uses_tls("redis://h")
    assert parse_url("rediss://:%s@h:7/3" % PASSWORD) == ("h", 7, 3, None, PASSWORD)
    for bad in ("http://:%s@h" % PASSWORD, "redis://:%s@h:99999" % PASSWORD,
                "redis://:%s@h/x" % PASSWORD, "redis://:%s@h?a=b" % PASSWORD):
        with pytest.raises(ValueError) as caught:
            parse_url(bad)
        assert PASSWORD not in str(caught.value) and "***" in str(caught.value)


@pytest.fixture
def proxy_for(certs):
    proxies = []

    def start(port, cert=None, key=None):
        proxies.append(TLSProxy(cert or certs.cert, key or certs.key, port))
        return proxies[-1]
    yield start
    for proxy in proxies:
        proxy.close()


@pytest.mark.slow
def test_rediss_with_a_password_through_tls(own_redis_server, proxy_for, certs, caplog):
    redis = own_redis_server("--requirepass", PASSWORD)
    proxy = proxy_for(redis.port)
    loop = EventLoop()
    caplog.set_level(logging.DEBUG)
    client = RedisClient(loop, proxy.url(db=2, password=PASSWORD),
                         tls_context=client_context(certs.ca))
    run_until(loop, lambda: client.connected)
    done = [client.call("SET", "k", "over tls"), client.call("GET", "k")]
    run_until(loop, lambda: all(reply.done for reply in done))
    assert done[1].value == b"over tls"
    client.close()
    loop.close()
    assert any("with TLS" in r.getMessage() for r in caplog.records)
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_rediss_refuses_an_expired_certificate(redis_server, proxy_for, certs):
    proxy = proxy_for(redis_server.port, certs.expired_cert, certs.expired_key)
    loop = EventLoop()
    client = RedisClient(loop, proxy.url(), tls_context=client_context(certs.ca),
                         backoff_initial=0.05, backoff_max=0.1)
    run_until(loop, lambda: client.last_error is not None)
    assert "certificate has expired" in str(client.last_error)
    assert not client.connected
    client.close()
    loop.close()
