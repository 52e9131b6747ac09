"""Free loopback ports for tests that start servers or process groups (two pytest-xdist workers must not share one)."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, chosen by the OS."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
