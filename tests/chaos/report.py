"""The chaos table: per scenario, requests by outcome, acknowledged vs found, lost, duplicated,
the slowest answer during the fault, and the time to recover. Written to
test-artifacts/chaos.json (one entry per scenario, the newest run's) and chaos.md."""

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.chaos.ledger import Tally
from tests.chaos.load import Outcome
from tests.support.processes import ARTIFACTS

JSON_FILE = ARTIFACTS / "chaos.json"
TABLE_FILE = ARTIFACTS / "chaos.md"


@dataclass
class Record:
    scenario: str
    requests: dict[str, int]  # "kind status" -> count
    acknowledged: int
    found: int
    lost: int
    duplicated: int
    during_fault: dict[str, int]  # answers given between the fault's start and end
    slowest_answer_sec: float  # of the non-streaming requests during the fault
    first_write_sec: float | None  # fault end -> the first acknowledged write started after it
    caught_up_sec: float | None  # fault end -> projections hold every acknowledged write

    @classmethod
    def of(
        cls, name: str, outcomes: list[Outcome], tally: Tally, start: float, end: float
    ) -> "Record":
        during = [o for o in outcomes if start <= o.started <= end]
        writes_after = [
            o.started + o.seconds
            for o in outcomes
            if o.started >= end and o.acknowledged and o.kind in ("create", "message")
        ]
        return cls(
            scenario=name,
            requests=dict(sorted(Counter(f"{o.kind} {o.label}" for o in outcomes).items())),
            acknowledged=sum(tally.acknowledged.values()),
            found=sum(tally.found.values()),
            lost=len(tally.lost),
            duplicated=len(tally.duplicated),
            during_fault=dict(sorted(Counter(o.label for o in during).items())),
            slowest_answer_sec=round(
                max((o.seconds for o in during if o.kind != "completion"), default=0.0), 2
            ),
            first_write_sec=round(min(writes_after) - end, 2) if writes_after else None,
            caught_up_sec=round(tally.caught_up_at - end, 2) if tally.caught_up_at else None,
        )


def save(record: Record, json_file: Path = JSON_FILE, table_file: Path = TABLE_FILE) -> None:
    json_file.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(json_file.read_text()) if json_file.exists() else {}
    records[record.scenario] = asdict(record)
    json_file.write_text(json.dumps(records, indent=2) + "\n")
    table_file.write_text(table(list(records.values())))


def table(records: list[dict[str, object]]) -> str:
    lines = [
        "| scenario | requests | answers during the fault | acknowledged / found | lost |"
        " duplicated | slowest answer in the fault | first write after | caught up after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        requests = sum(r["requests"].values())  # type: ignore[attr-defined]
        during = ", ".join(f"{k}: {v}" for k, v in r["during_fault"].items())  # type: ignore[attr-defined]
        lines.append(
            f"| {r['scenario']} | {requests} | {during} | {r['acknowledged']} / {r['found']}"
            f" | {r['lost']} | {r['duplicated']} | {r['slowest_answer_sec']} s"
            f" | {_seconds(r['first_write_sec'])} | {_seconds(r['caught_up_sec'])} |"
        )
    return "\n".join(lines) + "\n"


def _seconds(value: object) -> str:
    return "-" if value is None else f"{value} s"
