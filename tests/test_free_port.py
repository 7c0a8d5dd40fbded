"""`wasmops up` right after `down`: a port whose only sockets are in TIME-WAIT is free (found from
outside: `up` refused the port for a minute); a port something listens on is not."""

import socket

from wasmops.services import free_port


def _time_wait_port() -> int:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()              # the server side closes first: its end of the connection waits in TIME-WAIT
    cli.recv(1)               # the peer sees the close,
    cli.close()               # and closes too
    srv.close()
    return port


def test_a_port_left_in_time_wait_is_free_and_a_listening_one_is_not():
    port = _time_wait_port()
    with open("/proc/net/tcp") as fh:      # state 06 = TIME_WAIT on the local port
        assert any(ln.split()[1].endswith(f":{port:04X}") and ln.split()[3] == "06" for ln in fh.readlines()[1:])
    assert free_port(port) == port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert free_port(taken) != taken
