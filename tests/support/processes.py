"""The services as real processes, started from their console scripts with env config only."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cortex_contracts.services import service as service_spec
from cortex_devstack.ports import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def console_script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class ServiceProcess:
    service: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return ARTIFACTS / "logs" / f"{self.service}-{self.port}.log"

    def start(self, wait: bool = True) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        spec = service_spec(self.service)
        env = {
            **os.environ,
            **self.env,
            spec.port_variable: str(self.port),
            spec.host_variable: "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [console_script(f"cortex-{self.service}")],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        path = service_spec(self.service).ready_path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.service} exited with {self.process.returncode}: see {self.log_path}"
                )
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.service} not ready after {timeout}s: see {self.log_path}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_command(
    service: str, command: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(f"cortex-{service}"), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
