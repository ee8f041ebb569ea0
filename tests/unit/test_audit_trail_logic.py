"""The export's selection and lines, and the timeline's sentences: pure logic (docs/audit.md)."""

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cortex_contracts.timeline import Timeline
from cortex_contracts.topology import Topology
from cortex_contracts.trail import TrailQuery, involving, selections
from cortex_runtime.history import Recorded, export_line
from cortex_runtime.reader import StoredEvent

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def audit(action: str, subject: str, actor: str | None = None, **details: str) -> dict:
    return {
        "type": "audit.recorded",
        "action": action,
        "aggregate_id": subject,
        "actor": {"user_id": actor},
        "details": details,
    }


def test_a_failed_login_belongs_to_the_user_by_name_but_a_thing_of_that_name_does_not() -> None:
    keep = involving("u1", "alice")

    assert keep(audit("auth.login.failed", "alice"))
    assert not keep(audit("upstream.removed", "alice", actor="admin-id"))
    assert keep(audit("api_key.revoked", "k1", actor="admin-id", user_id="u1"))
    assert not keep(audit("api_key.revoked", "k2", actor="admin-id", user_id="u2"))


def test_a_chat_export_reads_the_chat_subject_and_its_usage_but_no_audit_events() -> None:
    topology = Topology(prefix="p")
    chat = "0b6f3c1e-0000-4000-8000-000000000001"

    found = selections(topology, TrailQuery(chat_id=chat))  # type: ignore[arg-type]

    assert [(s.stream, s.subjects) for s in found] == [
        ("P_CHAT", f"p.chat.*.{chat}"),
        ("P_USAGE", "p.usage.>"),
    ]
    keep = found[1].keep
    assert keep is not None and keep({"chat_session_id": chat}) and not keep({})


@pytest.mark.parametrize(
    ("since", "until"),
    [("0.5", None), ("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z"), ("1900-01-01T00:00", None)],
)
def test_a_timestamp_a_backwards_range_or_a_time_out_of_bounds_is_refused(
    since: str, until: str | None
) -> None:
    with pytest.raises(ValidationError):
        TrailQuery(since=since, until=until)  # type: ignore[arg-type]


def test_a_payload_that_is_not_json_still_makes_one_valid_line() -> None:
    stored = StoredEvent(7, "p.chat.u.c", b"edited {by hand\n", None, NOW)

    line = export_line(Recorded("P_CHAT", stored, None))

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "stream": "P_CHAT",
        "seq": 7,
        "subject": "p.chat.u.c",
        "time": NOW.isoformat(),
        "event": None,
        "payload": "edited {by hand\n",
    }


def test_an_action_without_a_sentence_and_a_failed_login_still_read() -> None:
    timeline = Timeline("u1", "alice")

    newer = timeline.entry("A", 1, NOW, audit("user.exported_somewhere", "u1", actor="u9"))
    failed = timeline.entry("A", 2, NOW, audit("auth.login.failed", "alice"))

    assert newer is not None and newer.what == "user.exported_somewhere on u1"
    assert (newer.actor, newer.by_other) == ("u9", True)
    assert failed is not None and (failed.actor, failed.what) == (
        "someone",
        "failed to log in as alice from an unknown address",
    )
