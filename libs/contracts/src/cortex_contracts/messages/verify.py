"""`verify` of a projection against a replay of its stream (docs/audit.md): the query each
projection service answers (`Topology.verify_subject(service)`), its progress and its report."""

from pydantic import BaseModel, Field

ROW = "*row*"  # the column of a difference that is a whole row (present on one side only)


class VerifyProjection(BaseModel):
    """Answered with a `ProjectionReport` or an `ErrorReply`."""

    progress_subject: str | None = Field(
        default=None, description="where `VerifyProgress` messages go while it runs (an inbox)"
    )
    max_differences: int = Field(
        default=1000, ge=0, le=100_000, description="differences listed (all are counted)"
    )


class VerifyProgress(BaseModel):
    projection: str
    done: int = Field(description="stream sequence replayed so far")
    total: int = Field(description="the stream sequence the replay goes up to")


class Difference(BaseModel):
    """One value on which the live table and the replay disagree; `column` is `*row*` when the
    row is on one side only (`live` / `replayed`: `present` or `absent`)."""

    table: str
    key: str = Field(description="the row's key as a JSON array")
    column: str
    live: str | None
    replayed: str | None


class TableCheck(BaseModel):
    table: str
    live_rows: int
    replayed_rows: int
    differences: int
    note: str = Field(default="", description="what was left out of the comparison, and why")


class ProjectionReport(BaseModel):
    projection: str = Field(description="sessions or usage")
    stream: str
    through_seq: int = Field(description="the replay read the stream up to this sequence")
    applied_floor: int = Field(
        description="every event up to this sequence was applied by the live projection "
        "(its consumer's ack floor when the snapshot was taken)"
    )
    events: int = Field(description="events replayed")
    pending_events: int = Field(
        description="events stored but not applied by the live projection yet: left out"
    )
    seconds: float
    tables: list[TableCheck]
    differences: list[Difference] = Field(description="at most `max_differences` of them")

    @property
    def drift(self) -> int:
        return sum(table.differences for table in self.tables)
