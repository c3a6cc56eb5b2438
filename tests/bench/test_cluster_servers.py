"""bench.cluster's --server values: NAME=CMD or a bare command, checked as
python3 -m bench checks its own (bench.servers.parse_server)."""

import pytest

from bench.cluster import named_servers


def test_bare_commands_are_ours_and_named_ones_keep_their_name():
    servers = named_servers(["env PYTHONPATH=/x {python} -m chat.server --port {port}",
                             "after={python} -m chat.server --port {port}",
                             "{python} -m chat.server --port {port} --db x"])
    assert [name for name, _ in servers] == ["ours", "after", "ours-3"]
    assert servers[0][1].startswith("env PYTHONPATH=/x ")


@pytest.mark.parametrize("texts, why", [
    (["a={python} -m chat.server"], "must contain {port}"),
    (["a=cmd {port}", "a=other {port}"], "two servers named 'a'"),
])
def test_a_server_that_cannot_be_run_or_told_apart_is_refused(texts, why):
    with pytest.raises(ValueError, match=why):
        named_servers(texts)
