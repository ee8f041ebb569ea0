"""The bench service: runs benchmark runs (one replica each, from a shared durable consumer),
hears cancels, and answers the gateway's run queries from its view of the bench stream."""

from operator import attrgetter

from nats.aio.msg import Msg

from cortex_bench.levels import progress_key
from cortex_bench.projection import Projection
from cortex_bench.runner import Buckets, Runner
from cortex_bench.settings import Settings
from cortex_contracts.events.bench import BenchRunRequested
from cortex_contracts.messages import ErrorReply
from cortex_contracts.messages.bench import (
    BenchRunList,
    BenchRunQuery,
    BenchRunsQuery,
    BenchRunView,
    Progress,
)
from cortex_runtime.consumer import DurableConsumer
from cortex_runtime.kv import ensure_bucket
from cortex_runtime.listen import listen
from cortex_runtime.reader import StreamReader
from cortex_runtime.responder import Endpoint
from cortex_runtime.service import Consumes, Context, Service

RUNS = Endpoint(
    title="bench.runs",
    subject=attrgetter("bench_runs_subject"),
    request=BenchRunsQuery,
    replies=(BenchRunList,),
    description="Benchmark runs, newest first (one model's, one user's).",
)
RUN = Endpoint(
    title="bench.run",
    subject=attrgetter("bench_run_subject"),
    request=BenchRunQuery,
    replies=(BenchRunView,),
    description="One run: settings, levels, engine samples, progress; 404 when not found.",
)
REQUESTS = Consumes(
    title="bench run requests",
    subject=lambda topology: topology.bench_subject("RUN", "requested").replace("RUN", "*"),
    durable=attrgetter("bench_consumer"),
    event=BenchRunRequested,
    description="Run requests, published by the gateway; each is run by one bench replica.",
)
ACK_WAIT_SEC = 30.0  # the owner marks the request in progress every 5 s while it runs


async def start(ctx: Context[Settings]) -> None:
    topology, js = ctx.topology, ctx.js
    buckets = Buckets(
        registry=await ensure_bucket(js, topology.registry_bucket_config()),
        live=await ensure_bucket(js, topology.bench_live_bucket_config()),
        limits=await ensure_bucket(js, topology.bench_limits_bucket_config()),
    )
    projection = Projection()
    ctx.run(
        lambda: projection.follow(
            StreamReader(js, topology.bench_stream, topology.bench_all_subjects)
        ),
        cancel_at_stop=True,
    )
    consumer = DurableConsumer(
        stream=topology.bench_stream,
        name=topology.bench_consumer,
        filter_subject=REQUESTS.subject(topology),
        ack_wait_sec=ACK_WAIT_SEC,
        max_ack_pending=1000,
        batch=1,  # one run at a time per replica: the others take the next requests
    )
    runner = Runner(
        ctx.settings, js, topology, buckets, projection, ctx.parking(consumer, "bench run request")
    )
    ctx.consume(consumer, runner.handle_batch)

    async def on_cancel(msg: Msg) -> None:
        runner.cancel(msg.subject.split(".")[-2])

    cancels = await listen(
        ctx.nats, [topology.bench_subject("RUN", "cancel_requested").replace("RUN", "*")], on_cancel
    )
    ctx.on_stop(cancels.stop)

    async def runs(query: BenchRunsQuery) -> BenchRunList:
        return projection.list(query)

    async def run(query: BenchRunQuery) -> BenchRunView | ErrorReply:
        found = await projection.find(query)
        if found is None:
            return ErrorReply(error="Benchmark run not found.", status=404)
        progress = None
        if found.finished is None and found.started is not None:
            try:
                entry = await buckets.live.get(progress_key(query.run_id))
                progress = Progress.model_validate_json(entry.value or b"{}")
            except Exception:  # not reported yet
                progress = Progress()
        return found.view(query.include_samples, progress)

    ctx.answer(RUNS, runs)
    ctx.answer(RUN, run)


service = Service(
    name="bench", settings=Settings, start=start, answers=(RUNS, RUN), consumes=(REQUESTS,)
)
