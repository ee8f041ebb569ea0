"""Pure logic of model health: the circuit breaker, the gateway's view, the health ledger."""

from datetime import UTC, datetime, timedelta

import pytest

from cortex_contracts.events.models import ModelHealth, Upstream
from cortex_contracts.topology import Topology, model_key
from cortex_gateway.models.circuit_breaker import CircuitBreaker
from cortex_gateway.models.health_view import HealthView
from cortex_health.ledger import HISTORY_LENGTH, HealthLedger
from cortex_health.probes import ProbeResult
from cortex_runtime.kv import KvEntry

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(
    name: str = "m", status: str = "healthy", age_sec: float = 0.0, ttl: float = 3.0
) -> ModelHealth:
    return ModelHealth.model_validate(
        {"served_model_name": name, "status": status, "expires_after_sec": ttl,
         "checked_at": datetime.now(UTC) - timedelta(seconds=age_sec)}
    )  # fmt: skip


def entry(h: ModelHealth, revision: int) -> KvEntry:
    return KvEntry(model_key(h.served_model_name), h.model_dump_json().encode(), revision)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def view(clock: FakeClock) -> HealthView:
    return HealthView(Topology(), failure_threshold=3, circuit_open_sec=10, clock=clock)


# --- circuit breaker ----------------------------------------------------------------------
def test_breaker_opens_after_repeated_failures_only(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, open_sec=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow_request()

    breaker.record_failure()

    assert breaker.state == "open"
    assert not breaker.allow_request()


def test_breaker_lets_one_trial_through_when_half_open(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_sec=10, clock=clock)
    breaker.record_failure()
    clock.now += 10

    assert breaker.state == "half_open"
    assert breaker.allow_request()
    assert not breaker.allow_request(), "only one trial at a time"

    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow_request() and breaker.allow_request()


def test_a_failed_trial_opens_the_circuit_again(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, open_sec=10, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow_request()

    breaker.record_failure()

    assert breaker.state == "open"
    clock.now += 9
    assert not breaker.allow_request()


def test_a_trial_never_reported_frees_its_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_sec=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow_request()
    clock.now += 10

    assert breaker.allow_request()


# --- gateway view ---------------------------------------------------------------------------
def test_unknown_models_are_neither_running_nor_available(view: HealthView) -> None:
    assert view.get("m") is None
    assert not view.is_running("m")
    assert not view.is_available("m")


def test_an_entry_counts_for_its_ttl_after_it_arrived(view: HealthView, clock: FakeClock) -> None:
    view.replace_all([])
    view.apply(entry(health(ttl=3), 1))
    clock.now += 2.9
    assert view.is_running("m") and view.is_available("m")

    clock.now += 0.2

    assert not view.is_running("m")
    assert not view.is_available("m")
    assert view.get("m") is None
    assert view.last_known("m") is not None


def test_entries_read_at_start_count_only_for_what_is_left_of_their_ttl(
    view: HealthView, clock: FakeClock
) -> None:
    view.replace_all([entry(health("old", age_sec=2.5), 1), entry(health("new"), 2)])
    assert view.is_running("old")

    clock.now += 1

    assert not view.is_running("old")
    assert view.is_running("new")


def test_a_skewed_clock_never_extends_freshness(view: HealthView, clock: FakeClock) -> None:
    view.replace_all([entry(health("future", age_sec=-3600), 1)])  # checked "in the future"

    clock.now += 3.01

    assert not view.is_running("future")


def test_only_healthy_models_are_running(view: HealthView) -> None:
    view.apply(entry(health("l", status="loading"), 1))
    view.apply(entry(health("u", status="unhealthy"), 2))

    assert not view.is_running("l") and not view.is_available("l")
    assert not view.is_running("u") and not view.is_available("u")
    unhealthy = view.get("u")
    assert unhealthy is not None and unhealthy.status == "unhealthy"


def test_a_late_older_result_does_not_replace_a_newer_one(view: HealthView) -> None:
    view.apply_result(health(status="unhealthy"), revision=7)  # from a refresh reply

    view.apply(entry(health(status="healthy"), 6))  # a poll published just before

    assert not view.is_running("m")
    view.apply(entry(health(status="unhealthy"), 7))  # the refresh's own put, via the watch
    view.apply(entry(health(status="healthy"), 8))
    assert view.is_running("m")


def test_a_removed_model_leaves_the_view(view: HealthView) -> None:
    view.apply(entry(health(), 1))

    view.apply(KvEntry(model_key("m"), None, 2))

    assert view.last_known("m") is None
    assert not view.is_running("m")


def test_a_restarted_watch_forgets_models_no_longer_in_the_bucket(view: HealthView) -> None:
    view.replace_all([entry(health("a"), 1), entry(health("b"), 2)])

    view.replace_all([entry(health("b"), 2)])

    assert view.last_known("a") is None
    assert view.is_running("b")


def test_repeated_traffic_failures_hide_a_healthy_model_until_a_trial_succeeds(
    view: HealthView, clock: FakeClock
) -> None:
    view.apply(entry(health(ttl=60), 1))
    for _ in range(3):
        view.record_failure("m")

    assert not view.is_available("m")
    assert not view.is_running("m")

    clock.now += 10  # half-open: listed again, one request may try
    assert view.is_running("m")
    assert view.is_available("m")
    assert not view.is_available("m")
    view.record_success("m")
    assert view.is_available("m") and view.is_available("m")


def test_a_model_seen_recovering_by_the_poller_closes_its_circuit(
    view: HealthView, clock: FakeClock
) -> None:
    view.apply(entry(health(ttl=60), 1))
    for _ in range(3):
        view.record_failure("m")
    view.apply(entry(health(status="unhealthy", ttl=60), 2))

    view.apply(entry(health(status="healthy", ttl=60), 3))

    assert view.is_available("m")


# --- health ledger (health service) ---------------------------------------------------------
UPSTREAM = Upstream.model_validate(
    {"served_model_name": "m", "base_url": "http://sim/m/m", "engine_type": "vllm"}
)


def check(ledger: HealthLedger, result: ProbeResult, revision: int) -> ModelHealth:
    health_now = ledger.next_health(UPSTREAM, result, datetime.now(UTC))
    ledger.record(health_now, revision)
    return health_now


def test_the_ledger_counts_failures_in_a_row_and_keeps_a_bounded_history() -> None:
    ledger = HealthLedger(expires_after_sec=20)
    first = check(ledger, ProbeResult("healthy", 5.0, max_model_len=4096), 1)
    failed = [check(ledger, ProbeResult("unhealthy", error="boom"), 2 + i) for i in range(3)]
    recovered = check(ledger, ProbeResult("healthy", 4.0), 10)
    for i in range(HISTORY_LENGTH):
        check(ledger, ProbeResult("healthy", 4.0), 20 + i)

    assert first.consecutive_failures == 0 and first.expires_after_sec == 20
    assert [h.consecutive_failures for h in failed] == [1, 2, 3]
    assert failed[-1].last_error == "boom"
    assert recovered.consecutive_failures == 0
    assert recovered.max_model_len == 4096, "the context length is remembered"
    assert [c.status for c in recovered.history[:5]] == ["healthy", *["unhealthy"] * 3, "healthy"]
    latest = ledger.get("m")
    assert latest is not None and len(latest.history) == HISTORY_LENGTH


def test_the_ledger_asks_for_the_context_length_once_per_healthy_spell() -> None:
    ledger = HealthLedger(expires_after_sec=20)
    assert ledger.needs_context("m")
    check(ledger, ProbeResult("healthy", 5.0, max_model_len=4096), 1)
    assert not ledger.needs_context("m")
    check(ledger, ProbeResult("loading", 5.0), 2)
    assert ledger.needs_context("m")


def test_the_ledger_takes_other_replicas_results_in_revision_order() -> None:
    ledger = HealthLedger(expires_after_sec=20)
    newer = health(status="unhealthy")
    ledger.apply(KvEntry(model_key("m"), newer.model_dump_json().encode(), 5))

    ledger.apply(KvEntry(model_key("m"), health().model_dump_json().encode(), 4))

    assert ledger.get("m") == newer
