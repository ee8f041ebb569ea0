"""GET /admin/usage: filters, cursor pages, aggregates (checked against values computed here),
CSV export, bad input and access control."""

import csv
import io
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cortex_contracts.events.usage import CompletionRecorded
from tests.conftest import LoginAs
from tests.support.stack import Stack
from tests.support.usage import (
    all_records,
    completion,
    histogram_percentile,
    iso,
    jetstream,
    nearest_rank,
    publish_all,
    topology_of,
    wait_until_recorded,
)

pytestmark = pytest.mark.integration


class Dataset:
    """Completions in a time window of their own: 2 models, 2 orgs, 4 users, 3 days."""

    def __init__(self) -> None:
        rng = random.Random(7)
        # A window no other test writes in: days far in the future, different on every run.
        self.start = datetime(2040, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 20_000)
        self.end = self.start + timedelta(days=3)
        tag = uuid.uuid4().hex[:6]
        self.models = [f"agg-a-{tag}", f"agg-b-{tag}"]
        self.orgs = [str(uuid.uuid4()), str(uuid.uuid4())]
        self.users = [(str(uuid.uuid4()), self.orgs[i % 2]) for i in range(4)]
        self.events: list[CompletionRecorded] = []
        for _ in range(120):
            user_id, org_id = self.users[rng.randrange(4)]
            status = rng.choice(["complete"] * 6 + ["stopped", "abandoned", "error", "error"])
            failed = status == "error"
            prompt, answer = rng.randrange(5, 500), 0 if failed else rng.randrange(1, 800)
            self.events.append(
                completion(
                    self.models[rng.randrange(2)],
                    user_id=user_id,
                    org_id=org_id,
                    occurred_at=self.start + timedelta(seconds=rng.randrange(0, 3 * 86_400)),
                    source=rng.choice(["playground", "api"]),
                    status=status,
                    error="upstream failed" if failed else None,
                    prompt_tokens=prompt,
                    completion_tokens=answer,
                    total_tokens=prompt + answer,
                    ttft_ms=None if failed else round(rng.uniform(5, 900), 3),
                    latency_ms=round(rng.uniform(20, 9000), 3),
                )
            )

    @property
    def window(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}


@pytest.fixture(scope="module")
async def dataset(stack: Stack) -> Dataset:
    data = Dataset()
    topology = topology_of(stack)
    async with jetstream(stack) as js:
        last = await publish_all(js, topology, data.events)
        await wait_until_recorded(js, topology, last)
    return data


@pytest.fixture
async def admin(login_as: LoginAs) -> httpx.AsyncClient:
    return await login_as("admin")


def expected_groups(
    events: list[CompletionRecorded], key: Callable[[CompletionRecorded], str | None]
) -> dict[str | None, dict[str, Any]]:
    grouped: dict[str | None, list[CompletionRecorded]] = {}
    for event in events:
        grouped.setdefault(key(event), []).append(event)
    return {
        name: {
            "key": name,
            "requests": len(members),
            "prompt_tokens": sum(e.prompt_tokens for e in members),
            "completion_tokens": sum(e.completion_tokens for e in members),
            "total_tokens": sum(e.total_tokens for e in members),
            "ttft_p50_ms": histogram_percentile((e.ttft_ms for e in members), 0.5),
            "ttft_p95_ms": histogram_percentile((e.ttft_ms for e in members), 0.95),
            "latency_p50_ms": histogram_percentile((e.latency_ms for e in members), 0.5),
            "latency_p95_ms": histogram_percentile((e.latency_ms for e in members), 0.95),
            "error_rate": sum(e.status == "error" for e in members) / len(members),
        }
        for name, members in grouped.items()
    }


def hour_of(event: CompletionRecorded) -> str:
    return iso(event.occurred_at.replace(minute=0, second=0, microsecond=0))


def day_of(event: CompletionRecorded) -> str:
    return iso(event.occurred_at.replace(hour=0, minute=0, second=0, microsecond=0))


GROUP_KEYS: dict[str, Callable[[CompletionRecorded], str | None]] = {
    "model": lambda e: e.model,
    "user": lambda e: e.actor.user_id,
    "org": lambda e: e.actor.org_id,
    "hour": hour_of,
    "day": day_of,
}


@pytest.mark.parametrize("group_by", list(GROUP_KEYS))
async def test_aggregates_match_values_computed_from_the_events(
    dataset: Dataset, admin: httpx.AsyncClient, group_by: str
) -> None:
    response = await admin.get("/admin/usage", params={**dataset.window, "group_by": group_by})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["group_by"] == group_by
    expected = expected_groups(dataset.events, GROUP_KEYS[group_by])
    assert {group["key"] for group in body["groups"]} == set(expected)
    for group in body["groups"]:
        assert group["label"] == group["key"]  # ids unknown to the gateway stay ids
        want = expected[group["key"]]
        for field, value in want.items():
            if isinstance(value, float):
                value = pytest.approx(value, rel=1e-9)
            assert group[field] == value, (group["key"], field)
    if group_by in ("hour", "day"):
        assert [g["key"] for g in body["groups"]] == sorted(expected), "in time order"


async def test_percentiles_are_within_one_percent_of_the_exact_values(
    dataset: Dataset, admin: httpx.AsyncClient
) -> None:
    response = await admin.get("/admin/usage", params={**dataset.window, "group_by": "user"})

    for group in response.json()["groups"]:
        members = [e for e in dataset.events if e.actor.user_id == group["key"]]
        for field, fraction in (("p50", 0.5), ("p95", 0.95)):
            for measure in ("ttft", "latency"):
                exact = nearest_rank((getattr(e, f"{measure}_ms") for e in members), fraction)
                assert exact is not None
                reported = group[f"{measure}_{field}_ms"]
                assert abs(reported - exact) <= 0.01 * exact, (group["key"], measure, field)


async def test_aggregates_respect_the_filters(dataset: Dataset, admin: httpx.AsyncClient) -> None:
    org_id = dataset.orgs[1]
    params = {**dataset.window, "group_by": "model", "org_id": org_id, "source": "api"}

    body = (await admin.get("/admin/usage", params=params)).json()

    chosen = [e for e in dataset.events if e.actor.org_id == org_id and e.source == "api"]
    expected = expected_groups(chosen, lambda e: e.model)
    assert {g["key"]: g["requests"] for g in body["groups"]} == {
        k: v["requests"] for k, v in expected.items()
    }
    for group in body["groups"]:
        assert group["latency_p95_ms"] == pytest.approx(expected[group["key"]]["latency_p95_ms"])


@pytest.mark.parametrize(
    "chosen",
    [
        ("model", lambda d: d.models[0], lambda e, v: e.model == v),
        ("user_id", lambda d: d.users[2][0], lambda e, v: e.actor.user_id == v),
        ("org_id", lambda d: d.orgs[1], lambda e, v: e.actor.org_id == v),
        ("source", lambda d: "api", lambda e, v: e.source == v),
        ("status", lambda d: "error", lambda e, v: e.status == v),
    ],
    ids=lambda chosen: chosen[0],
)
async def test_each_filter_selects_exactly_the_matching_records(
    dataset: Dataset, admin: httpx.AsyncClient, chosen: tuple
) -> None:
    name, pick, matches = chosen
    value = pick(dataset)

    records = await all_records(admin, page_size=17, **dataset.window, **{name: value})

    expected = {str(e.event_id) for e in dataset.events if matches(e, value)}
    assert expected, "the dataset covers the case"
    assert [r["event_id"] for r in records if r["event_id"] in expected] == [
        r["event_id"] for r in records
    ]
    assert {r["event_id"] for r in records} == expected
    assert len(records) == len(expected), "no record on two pages"


async def test_time_range_includes_its_start_and_excludes_its_end(
    dataset: Dataset, admin: httpx.AsyncClient
) -> None:
    ordered = sorted(dataset.events, key=lambda e: e.occurred_at)
    first, last = ordered[10].occurred_at, ordered[40].occurred_at

    records = await all_records(admin, start=iso(first), end=iso(last))

    expected = {str(e.event_id) for e in dataset.events if first <= e.occurred_at < last}
    assert {r["event_id"] for r in records} == expected


async def test_aggregates_over_open_ended_ranges(
    dataset: Dataset, admin: httpx.AsyncClient
) -> None:
    model = dataset.models[0]
    mine = [e for e in dataset.events if e.model == model]
    middle = sorted(e.occurred_at for e in mine)[len(mine) // 2]

    async def requests(**params: str) -> list[int]:
        response = await admin.get("/admin/usage", params={"group_by": "model", **params})
        assert response.status_code == 200, response.text
        return [g["requests"] for g in response.json()["groups"]]

    assert await requests(model=model) == [len(mine)]
    assert await requests(model=model, start=iso(middle)) == [
        sum(e.occurred_at >= middle for e in mine)
    ]
    assert await requests(model=model, end=iso(middle)) == [
        sum(e.occurred_at < middle for e in mine)
    ]
    assert await requests(model=model, start=iso(dataset.end + timedelta(days=10_000))) == []


async def test_pages_are_newest_first_and_the_cursor_resumes_after_the_last(
    dataset: Dataset, admin: httpx.AsyncClient
) -> None:
    first = await admin.get("/admin/usage", params={**dataset.window, "limit": 25})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["records"]) == 25 and page["next_cursor"]
    second = await admin.get(
        "/admin/usage", params={**dataset.window, "limit": 25, "cursor": page["next_cursor"]}
    )
    newest = sorted(dataset.events, key=lambda e: (e.occurred_at, e.event_id), reverse=True)
    assert [r["event_id"] for r in page["records"] + second.json()["records"]] == [
        str(e.event_id) for e in newest[:50]
    ]


async def test_csv_export_holds_every_matching_record(
    dataset: Dataset, admin: httpx.AsyncClient
) -> None:
    response = await admin.get("/admin/usage", params={**dataset.window, "format": "csv"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(dataset.events)
    by_id = {str(e.event_id): e for e in dataset.events}
    for row in rows:
        event = by_id[row["event_id"]]
        assert row["occurred_at"] == iso(event.occurred_at)
        assert int(row["total_tokens"]) == event.total_tokens
        assert row["status"] == event.status
        assert row["user_id"] == event.actor.user_id


async def test_csv_export_of_groups(dataset: Dataset, admin: httpx.AsyncClient) -> None:
    response = await admin.get(
        "/admin/usage", params={**dataset.window, "group_by": "day", "format": "csv"}
    )

    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = expected_groups(dataset.events, day_of)
    assert {row["key"]: int(row["requests"]) for row in rows} == {
        key: group["requests"] for key, group in expected.items()
    }


async def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    event = completion(model, status="error", error='=HYPERLINK("http://evil")', ttft_ms=None)
    async with jetstream(stack) as js:
        await wait_until_recorded(js, topology, await publish_all(js, topology, [event]))

    response = await admin.get("/admin/usage", params={"model": model, "format": "csv"})

    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["error"] == '\'=HYPERLINK("http://evil")'


async def test_records_name_the_gateway_users_and_orgs(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    me = (await admin.get("/auth/me")).json()
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    async with jetstream(stack) as js:
        last = await publish_all(
            js, topology, [completion(model, user_id=me["id"], org_id=me["org_id"])]
        )
        await wait_until_recorded(js, topology, last)

    [record] = await all_records(admin, model=model)
    by_user = (await admin.get("/admin/usage", params={"model": model, "group_by": "user"})).json()

    assert (record["username"], record["org_name"]) == (me["username"], me["org_name"])
    assert by_user["groups"][0]["label"] == me["username"]


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "start must be before"),
        ({"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "start must be before"),
        ({"start": "yesterday"}, "start"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "MjAzMHxub3QtYS11dWlk"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"status": "fine"}, "status"),
        ({"source": "browser"}, "source"),
        ({"format": "xml"}, "format"),
    ],
)
async def test_bad_input_is_a_422_that_says_what_is_wrong(
    admin: httpx.AsyncClient, params: dict[str, str], mentions: str
) -> None:
    response = await admin.get("/admin/usage", params=params)

    assert response.status_code == 422, response.text
    assert mentions in response.json()["detail"]


async def test_bad_cursor_in_a_csv_export_is_a_422_too(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/usage", params={"cursor": "bm9wZQ", "format": "csv"})

    assert response.status_code == 422, response.text
    assert "cursor" in response.json()["detail"]


async def test_usage_is_for_administrators_only(stack: Stack, login_as: LoginAs) -> None:
    user = await login_as()
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        assert (await anonymous.get("/admin/usage")).status_code == 401
    forbidden = await user.get("/admin/usage")
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"]
