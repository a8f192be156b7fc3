"""The root conftest.py's guard: the test suite never touches the network, loopback stays open."""

from __future__ import annotations

import socket
import threading
import urllib.request
import warnings

import pytest
from pydicom.data import get_testdata_file
from pydicom.data.download import get_url_map


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", True),
        ("", True),
        (None, True),
        (b"127.0.0.1", True),
        ("192.0.2.1", False),
        ("10.0.0.1", False),
        ("2001:db8::1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_hosts(network_guard, host, loopback):
    assert network_guard.is_loopback(host) is loopback


def test_a_connection_off_the_machine_is_refused_at_once(network_guard):
    with network_guard.expected() as blocked, pytest.raises(network_guard.Blocked, match="never touches the network"):
        socket.create_connection(("192.0.2.1", 9), timeout=30)
    with network_guard.expected() as blocked:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock, pytest.raises(network_guard.Blocked):
            sock.sendto(b"x", ("192.0.2.1", 9))
        assert blocked


def test_a_name_lookup_is_refused(network_guard):
    with network_guard.expected() as blocked, pytest.raises(network_guard.Blocked):
        socket.getaddrinfo("example.com", 443)
    with network_guard.expected() as blocked, pytest.raises(network_guard.Blocked):
        urllib.request.urlopen("https://example.com", timeout=30)  # not absorbed into a URLError
    with network_guard.expected() as blocked:
        assert socket.getaddrinfo("192.0.2.1", 9)  # an address is not a lookup; connecting to it is refused
        assert not blocked


def test_a_swallowed_attempt_is_still_caught(network_guard, request):
    """pydicom turns a failed download into a warning; the guard records it and would fail the test."""
    name = next(iter(get_url_map()))
    with network_guard.expected() as blocked, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert get_testdata_file(name) is None
        assert blocked and blocked[-1][0] == request.node.nodeid  # failed at teardown, outside expected()


def test_loopback_stays_open():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def echo():
            connection, _ = server.accept()
            with connection:
                connection.sendall(connection.recv(16))

        thread = threading.Thread(target=echo)
        thread.start()
        with socket.create_connection(("localhost", port), timeout=30) as client:
            client.sendall(b"ping")
            assert client.recv(16) == b"ping"
        thread.join()
