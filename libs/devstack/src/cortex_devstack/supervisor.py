"""Run every service under one honcho manager: prefixed, coloured output, plus a log file each."""

import sys
from pathlib import Path
from typing import Any

from honcho.manager import Manager
from honcho.printer import Printer


class TeePrinter(Printer):
    """Prints like honcho and appends each process's lines to `<log_dir>/<name>.log`."""

    def __init__(self, log_dir: Path, width: int) -> None:
        super().__init__(output=sys.stdout, width=width)
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)

    def write(self, message: Any) -> None:
        super().write(message)
        if not message.name or message.name == "system":
            return
        data = message.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        with open(self.log_dir / f"{message.name}.log", "a", encoding="utf-8") as log_file:
            log_file.write(text if text.endswith("\n") else text + "\n")


def run_processes(commands: dict[str, str], env: dict[str, str], log_dir: Path, cwd: Path) -> int:
    """Blocks until Ctrl-C or until one process exits; then stops all. Returns the exit code."""
    printer = TeePrinter(log_dir, width=max(len(name) for name in commands))
    manager = Manager(printer=printer)
    for name, command in commands.items():
        manager.add_process(name, command, env=env, cwd=str(cwd))
    manager.loop()
    return int(manager.returncode or 0)
