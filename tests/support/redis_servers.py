"""Real Redis topologies for tests, started from ``redis-server`` on free loopback ports, like the throwaway
Redis the test command starts: a 3-master Cluster (``redis-cli --cluster create``) and a Sentinel set-up
(1 master, 1 replica, 3 sentinels). Nothing is kept on disk beyond a temporary folder."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.support.tcp_forward import free_port

MASTER_NAME = "wobot-master"


def _wait(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (redis.RedisError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Servers:
    folder: Path
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)  # port -> process

    def start(self, port: int, *args: str, config: str | None = None) -> int:
        workdir = self.folder / str(port)
        workdir.mkdir()
        command = ["redis-server"]
        if config is not None:  # sentinels need a config file they can rewrite
            (workdir / "sentinel.conf").write_text(config)
            command.append(str(workdir / "sentinel.conf"))
        command += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), *args]
        log = (workdir / "redis.log").open("wb")
        self.processes[port] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait(f"redis-server on {port}", lambda: redis.Redis(port=port, socket_timeout=1).ping())
        return port

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait(10)

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill(port)


@contextmanager
def _servers(tmp: Path) -> Iterator[Servers]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        raise AssertionError("redis-server and redis-cli are needed (apt-get install redis-server)")
    servers = Servers(tmp)
    try:
        yield servers
    finally:
        servers.stop()


_PLAIN = ("--save", "", "--appendonly", "no")


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """One plain Redis; yields its URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    with _servers(tmp) as servers:
        yield f"redis://127.0.0.1:{servers.start(free_port(), *_PLAIN)}/0"


@contextmanager
def redis_cluster(tmp: Path) -> Iterator[str]:
    """Three masters, every slot covered; yields the URL of one node (the seed)."""
    tmp.mkdir(parents=True, exist_ok=True)
    with _servers(tmp) as servers:
        ports = []
        for _ in range(3):
            port = free_port()
            # the bus port is chosen too: port + 10000 may be taken or past 65535
            servers.start(
                port,
                *_PLAIN,
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(free_port()),
                "--cluster-node-timeout",
                "2000",
                "--cluster-config-file",
                f"nodes-{port}.conf",
            )
            ports.append(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _wait(
                "the cluster to be ok",
                lambda port=port: redis.Redis(port=port).execute_command("CLUSTER INFO")["cluster_state"] == "ok",
            )
        yield f"redis://127.0.0.1:{ports[0]}/0"


@dataclass
class SentinelSetup:
    sentinels: str  # host:port,host:port,host:port
    master_name: str
    master_port: int
    replica_port: int
    servers: Servers

    def current_master(self) -> int:
        port = int(self.sentinels.split(",")[0].rsplit(":", 1)[1])
        _, master_port = redis.Redis(port=port).sentinel_get_master_addr_by_name(self.master_name)
        return int(master_port)

    def kill_master(self) -> None:
        self.servers.kill(self.current_master())


@contextmanager
def redis_sentinel(tmp: Path) -> Iterator[SentinelSetup]:
    """A master, its replica and three sentinels that fail over one second after the master stops answering."""
    with _servers(tmp) as servers:
        master = servers.start(free_port(), *_PLAIN)
        replica = servers.start(free_port(), *_PLAIN, "--replicaof", "127.0.0.1", str(master))
        _wait(
            "the replica to sync", lambda: redis.Redis(port=replica).info("replication")["master_link_status"] == "up"
        )
        sentinel_ports = []
        for _ in range(3):
            config = (
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            sentinel_ports.append(servers.start(free_port(), "--sentinel", config=config))
        for port in sentinel_ports:  # each sentinel must know the other two and the replica before a failover
            _wait(
                "the sentinels to find each other",
                lambda port=port: (
                    len(redis.Redis(port=port).sentinel_sentinels(MASTER_NAME)) == 2
                    and len(redis.Redis(port=port).sentinel_slaves(MASTER_NAME)) == 1
                ),
            )
        yield SentinelSetup(",".join(f"127.0.0.1:{p}" for p in sentinel_ports), MASTER_NAME, master, replica, servers)
