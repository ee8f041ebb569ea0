"""A gateway's worker processes (CORTEX_GATEWAY_WORKERS), and which of them holds a connection."""

import http.client
import os
from dataclasses import dataclass
from pathlib import Path

SPAWNED_WORKER = "multiprocessing.spawn"  # uvicorn starts its workers with multiprocessing


def worker_pids(parent: int) -> list[int]:
    """The worker processes uvicorn spawned under `parent` (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and SPAWNED_WORKER in command:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def connection_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server side of the TCP connection from `client_port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if _port(local) == server_port and _port(remote) == client_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


@dataclass
class Answer:
    worker: int | None
    status: int
    body: bytes


def ask_on_new_connection(
    port: int, path: str, body: bytes, headers: dict[str, str], workers: list[int]
) -> Answer:
    """POST on a fresh keep-alive connection; then look up which worker accepted it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        assert connection.sock is not None
        client_port = connection.sock.getsockname()[1]
        return Answer(connection_owner(port, client_port, workers), response.status, content)
    finally:
        connection.close()
