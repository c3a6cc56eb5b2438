"""Issue 23, finding 4: every command line range-checks its port (1-65535;
0 where it means "any free port": the server, the checker's own server)
and exits 2 saying what is wrong. ``type=int`` alone let ``--port 99999``
listen on 34463 and ``--port -1`` fail in the resolver."""

import pytest

from chat.check.__main__ import build_parser
from chat.client.cli import parse_args as client_args
from chat.server.config import parse_args as server_args

BAD = ["99999", "83237", "65536", "-1", "abc", "1e3", ""]


def _check(parse, argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(argv)
    assert exit_.value.code == 2
    assert "a port is a whole number from" in capsys.readouterr().err


@pytest.mark.parametrize("port", BAD)
def test_the_server_refuses_a_port_out_of_range(port, capsys):
    _check(server_args, ["--port=" + port], capsys)


@pytest.mark.parametrize("option", ["--tls-port", "--http-port", "--https-port"])
@pytest.mark.parametrize("port", BAD)
def test_the_servers_other_ports_are_checked_too(option, port, capsys):
    _check(server_args, [option + "=" + port], capsys)


@pytest.mark.parametrize("port", BAD + ["0"])
def test_the_client_refuses_a_port_out_of_range(port, capsys):
    _check(client_args, ["--port=" + port], capsys)


@pytest.mark.parametrize("port", BAD)
def test_the_checker_refuses_a_port_out_of_range(port, capsys):
    _check(build_parser().parse_args, ["client", "--port=" + port, "--", "true"], capsys)


def test_good_ports_pass():
    assert server_args(["--port", "0"]).port == 0
    assert server_args(["--port", "65535"]).port == 65535
    assert client_args(["--port", "1"]).port == 1
    assert build_parser().parse_args(["client", "--port", "0", "--", "x"]).port == 0
