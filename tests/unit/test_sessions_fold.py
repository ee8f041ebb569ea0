"""The projection's rules (pure): turns, titles, the model lock, what gets rejected."""

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import (
    UNTITLED,
    AnyChatEvent,
    MessageAdded,
    SessionCreated,
    SessionDeleted,
    SessionModelChanged,
)
from cortex_contracts.topology import Topology
from cortex_sessions.fold import (
    Applied,
    Rejected,
    SessionKey,
    SessionRow,
    Stored,
    Tombstone,
    Turn,
    Unreadable,
    evolve,
    session_key,
    skip,
    turn_of,
)

pytestmark = pytest.mark.unit

USER = str(uuid.uuid4())
KEY = SessionKey(user_id=USER, session_id=uuid.uuid4())
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def created(**overrides: object) -> SessionCreated:
    values: dict[str, object] = {
        "aggregate_id": str(KEY.session_id),
        "actor": Actor(user_id=USER),
        "previous_seq": 0,
        "model_name": "m1",
        "engine_type": "vllm",
        "occurred_at": T0,
    }
    return SessionCreated.model_validate({**values, **overrides})


def message(
    previous: int, content: str = "hi", role: str = "user", **overrides: object
) -> MessageAdded:
    values: dict[str, object] = {
        "aggregate_id": str(KEY.session_id),
        "actor": Actor(user_id=USER),
        "previous_seq": previous,
        "role": role,
        "content": content,
        "model_name": "m1",
        "occurred_at": T0 + timedelta(seconds=previous),
    }
    return MessageAdded.model_validate({**values, **overrides})


def fold(events: list[tuple[int, AnyChatEvent]]) -> Stored:
    stored: Stored = None
    for seq, event in events:
        result = evolve(stored, KEY, seq, event)
        assert isinstance(result, Applied), result
        stored = result.row or result.tombstone
    return stored


def test_subjects_name_owner_and_chat() -> None:
    one = partial(session_key, partitions=1)
    assert one(f"p.chat.{USER}.{KEY.session_id}") == KEY
    assert one(f"p.chat.{USER}.not-a-uuid") is None
    assert one(f"p.chat.{USER}.{str(KEY.session_id).upper()}") is None
    assert one(f"p.usage.{USER}.{KEY.session_id}") is None
    assert one("p.chat.x") is None
    assert one(f"p.chat.3.{USER}.{KEY.session_id}") is None  # the other layout's


def test_with_partitions_the_partition_comes_before_the_owner() -> None:
    topology = Topology(prefix="p", chat_partitions=12)
    subject = topology.chat_subject(USER, str(KEY.session_id))
    partition = topology.chat_partition(str(KEY.session_id))
    assert subject == f"p.chat.{partition}.{USER}.{KEY.session_id}"
    assert session_key(subject, partitions=12) == KEY
    assert topology.chat_session_of(subject) == str(KEY.session_id)
    # a subject of the one-partition layout is a stray here: its own consumer dead-letters it
    assert session_key(f"p.chat.{USER}.{KEY.session_id}", partitions=12) is None
    assert session_key(f"p.chat.x.{USER}.{KEY.session_id}", partitions=12) is None
    # so is one under another partition than its session's (its order would not be kept)
    elsewhere = f"p.chat.{(partition + 1) % 12}.{USER}.{KEY.session_id}"
    assert session_key(elsewhere, partitions=12) is None
    # an erasure of the user takes those strays too (they hold what the user wrote)
    assert topology.chat_stray_subjects_of(USER) == [f"p.chat.{USER}.*"]
    assert Topology(prefix="p").chat_stray_subjects_of(USER) == []


def test_turns_follow_the_chain_of_previous_sequences() -> None:
    row = fold([(5, created())])

    assert turn_of(row, 5, created()) is Turn.DONE
    assert turn_of(row, 9, message(5)) is Turn.NOW
    assert turn_of(row, 9, message(7), trusted=True) is Turn.LATER
    assert turn_of(row, 9, message(7)) is Turn.ASK_STREAM  # a claim nobody checked
    assert turn_of(row, 9, Unreadable("garbage")) is Turn.ASK_STREAM


def test_the_first_user_message_names_the_chat_once() -> None:
    row = fold(
        [
            (1, created()),
            (2, message(1, "You are terse.", role="system")),
            (3, message(2, "   \n  ")),  # blank: leaves the name to the next one
            (4, message(3, "\n  What is Python?  \nDetails")),
            (5, message(4, "Something else")),
        ]
    )

    assert isinstance(row, SessionRow)
    assert row.title == "What is Python?"
    assert row.message_count == 4
    assert row.last_seq == 5
    assert row.updated_at == T0 + timedelta(seconds=4)


def test_a_given_title_is_kept() -> None:
    row = fold([(1, created(title="Mine")), (2, message(1, "What is Python?"))])

    assert isinstance(row, SessionRow)
    assert row.title == "Mine"


def test_the_model_can_change_only_before_the_first_message() -> None:
    change = SessionModelChanged(
        aggregate_id=str(KEY.session_id),
        actor=Actor(user_id=USER),
        previous_seq=1,
        model_name="m2",
        engine_type="llamacpp",
    )
    switched = fold([(1, created()), (2, change)])
    assert isinstance(switched, SessionRow)
    assert (switched.model_name, switched.engine_type) == ("m2", "llamacpp")

    locked = fold([(1, created()), (2, message(1))])
    late = evolve(locked, KEY, 3, change.model_copy(update={"previous_seq": 2}))
    assert isinstance(late, Rejected)
    assert "locked to model m1" in late.reason


def test_a_message_for_another_model_is_rejected() -> None:
    row = fold([(1, created())])

    assert isinstance(evolve(row, KEY, 2, message(1, model_name="m2")), Rejected)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message(1, aggregate_id=str(uuid.uuid4())), "aggregate_id"),
        (message(1, actor=Actor(user_id="someone-else")), "actor.user_id"),
        (message(0), "previous_seq"),
        (message(1, content="nul \x00"), "NUL"),
        (message(1, role="assistant", metrics_json={"x": float("inf")}), "JSON"),
        (created(previous_seq=1), "created before"),
        (Unreadable("not a chat event: bad"), "not a chat event"),
    ],
)
def test_what_cannot_be_applied_is_rejected_with_a_reason(event: object, reason: str) -> None:
    row = fold([(1, created())])

    result = evolve(row, KEY, 2, event)  # type: ignore[arg-type]

    assert isinstance(result, Rejected)
    assert reason in result.reason


def test_a_rejected_event_only_moves_the_position() -> None:
    row = fold([(1, created()), (2, message(1))])

    moved = skip(row, KEY, 7)
    first_event_rejected = skip(None, KEY, 3)

    assert isinstance(moved, SessionRow)
    assert moved.last_seq == 7
    assert moved.message_count == 1
    assert first_event_rejected == Tombstone(KEY.session_id, USER, 3)


def test_deleting_leaves_a_tombstone_and_nothing_comes_back() -> None:
    gone = fold(
        [
            (1, created()),
            (2, message(1)),
            (
                3,
                SessionDeleted(
                    aggregate_id=str(KEY.session_id), actor=Actor(user_id=USER), previous_seq=2
                ),
            ),
        ]
    )

    assert gone == Tombstone(KEY.session_id, USER, 3)
    assert isinstance(evolve(gone, KEY, 4, message(3)), Rejected)
    assert isinstance(evolve(gone, KEY, 4, created(previous_seq=3)), Rejected)
    assert evolve(None, KEY, 1, created()).row.title == UNTITLED  # type: ignore[union-attr]
