"""The usage query the gateway sends to the usage service (`GET /admin/usage`), and its answers.

Without `group_by` the answer is a page of records, newest first, with a keyset cursor; with it,
one aggregate row per group. Times are UTC: naive inputs are read as UTC, outputs carry `Z`.

Bounds, checked by the gateway (422) and again by the usage service (an error reply): times from
EARLIEST to LATEST, and a per-hour answer over at most MAX_HOURLY_SPAN (8,784 buckets) when both
ends are given (without them it spans the data).
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cortex_contracts.events.usage import CompletionStatus, UsageSource
from cortex_contracts.storable import text_problem

GroupBy = Literal["model", "user", "org", "hour", "day"]
GROUP_BY_VALUES: tuple[GroupBy, ...] = ("model", "user", "org", "hour", "day")
MAX_PAGE_SIZE = 1000
FILTER_NAMES = ("start", "end", "model", "user_id", "org_id", "source", "status")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_HOURLY_SPAN = timedelta(days=366)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def date_time_text(value: Any) -> Any:
    """A date and a time, as the schema's `date-time` says: not a Unix timestamp (`-58800`), which
    pydantic would read as one."""
    if isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and DATE_TIME.match(value)):
        raise ValueError("expected an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(date_time_text), AfterValidator(as_utc)]


def _or_empty(schema: dict[str, Any]) -> None:
    """The schema of a field where `""` means unset (see `_empty_is_unset`) says so."""
    schema["anyOf"] = [*schema.get("anyOf", []), {"const": ""}]


def _or_empty_text(schema: dict[str, Any]) -> None:
    """Text where `""` means unset, and that holds no NUL (PostgreSQL cannot compare one)."""
    _or_empty(schema)
    schema["pattern"] = NUL_FREE


NUL_FREE = "^[^\\x00]*$"
OR_EMPTY = Field(json_schema_extra=_or_empty)
OR_EMPTY_TEXT = Field(json_schema_extra=_or_empty_text)


class UsageFilters(BaseModel):
    """`start` is inclusive, `end` exclusive."""

    model_config = ConfigDict(extra="forbid")

    start: Annotated[UtcDatetime | None, OR_EMPTY] = None
    end: Annotated[UtcDatetime | None, OR_EMPTY] = None
    model: Annotated[str | None, OR_EMPTY_TEXT, Field(min_length=1, max_length=500)] = None
    user_id: Annotated[str | None, OR_EMPTY_TEXT, Field(min_length=1, max_length=200)] = None
    org_id: Annotated[str | None, OR_EMPTY_TEXT, Field(min_length=1, max_length=200)] = None
    source: Annotated[UsageSource | None, OR_EMPTY] = None
    status: Annotated[CompletionStatus | None, OR_EMPTY] = None

    @field_validator(*FILTER_NAMES, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`?model=&start=` (an HTML form's empty fields) means no such filter."""
        return None if value == "" else value

    @field_validator("start", "end")
    @classmethod
    def _within_bounds(cls, value: datetime | None) -> datetime | None:
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
        return value

    @field_validator("model", "user_id", "org_id")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        problem = None if value is None else text_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class UsageQuery(UsageFilters):
    """`cursor` and `limit` page through records; grouped answers are not paged."""

    group_by: Annotated[GroupBy | None, OR_EMPTY] = None
    cursor: str | None = Field(default=None, max_length=200, pattern=NUL_FREE)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("group_by", "cursor", mode="before")
    @classmethod
    def _no_value_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _hours_are_bounded(self) -> Self:
        hourly = self.group_by == "hour" and self.start is not None and self.end is not None
        if hourly and self.end - self.start > MAX_HOURLY_SPAN:  # type: ignore[operator]
            raise ValueError(
                f"a per-hour answer spans at most {MAX_HOURLY_SPAN.days} days: "
                "narrow the range or group by day"
            )
        return self


class UsageRecord(BaseModel):
    event_id: UUID
    completion_id: str
    occurred_at: UtcDatetime
    user_id: str | None
    org_id: str | None
    api_key_id: str | None
    model: str
    engine_type: str
    source: UsageSource
    stream: bool
    status: CompletionStatus
    error: str | None
    finish_reason: str | None = None
    http_status: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    ttft_ms: float | None
    latency_ms: float
    decode_tokens_per_s: float | None
    chat_session_id: str | None


class UsagePage(BaseModel):
    records: list[UsageRecord]
    next_cursor: str | None = None


class UsageGroup(BaseModel):
    """`key`: the model, user id or org id, or the UTC start of the hour or day (ISO 8601).

    Percentiles are nearest-rank, within 1 % (relative) of the true value: they come from
    log-scaled histograms, which add up across hourly and daily rollups. Missing values (no TTFT
    for a failed completion) are skipped; `error_rate` is the share of requests whose status is
    `error`.
    """

    key: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error_rate: float


class UsageGroups(BaseModel):
    group_by: GroupBy
    groups: list[UsageGroup]
