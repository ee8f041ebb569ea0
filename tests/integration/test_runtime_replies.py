"""The runtime's responder and query client on a real NATS: answers of any size, errors that
travel one way, bad input answered at once with a 400, and a 503 when nobody answers."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from cortex_contracts.messages import ErrorReply
from cortex_devstack.ports import free_port
from cortex_runtime.connection import connect
from cortex_runtime.query import QueryClient, QueryFailed
from cortex_runtime.responder import Responder
from cortex_runtime.wire import CHUNK_HEADER
from tests.support.backends import Backends
from tests.support.stack import Stack
from tests.support.usage import topology_of

pytestmark = pytest.mark.integration

PATIENT_SEC = 30.0  # the caller would wait this long; the answers below come far sooner
AT_ONCE_SEC = 5.0


class Echo(BaseModel):
    text: str
    repeat: int = 1


class Echoed(BaseModel):
    text: str


@pytest.fixture
async def nats_client(backends: Backends) -> AsyncIterator[NatsClient]:
    client = await connect(backends.nats_url, "runtime-test")
    try:
        yield client
    finally:
        await client.close()


async def echo(request: Echo) -> Echoed | ErrorReply:
    if request.text == "missing":
        return ErrorReply(error="No such thing.", status=404)
    if request.text == "explode":
        raise RuntimeError("the store went away")
    return Echoed(text=request.text * request.repeat)


async def responding(nats: NatsClient) -> tuple[str, Responder[Echo]]:
    subject = f"rt.{uuid.uuid4().hex}.echo"
    responder = Responder(nats, subject, Echo, echo, queue="echo", workers=4, service="echo")
    await responder.start()
    return subject, responder


async def test_an_answer_larger_than_a_message_arrives_whole_in_chunks(
    nats_client: NatsClient,
) -> None:
    subject, responder = await responding(nats_client)
    client = QueryClient(nats_client)
    try:
        size = nats_client.max_payload * 2 + 12_345
        query = Echo(text="0123456789", repeat=size // 10)
        reply = await client.request(subject, query.model_dump_json().encode(), PATIENT_SEC)
        assert CHUNK_HEADER in reply.headers, "the answer did not need chunks"
        answer = await client.ask_for(subject, query, Echoed, timeout=PATIENT_SEC, service="echo")
        assert answer.text == "0123456789" * (size // 10)
    finally:
        await client.close()
        await responder.stop()


async def test_a_refusal_reaches_the_caller_with_its_status(nats_client: NatsClient) -> None:
    subject, responder = await responding(nats_client)
    client = QueryClient(nats_client)
    try:
        with pytest.raises(QueryFailed) as refused:
            await client.ask(subject, Echo(text="missing"), timeout=PATIENT_SEC, service="echo")
        assert (refused.value.reply.status, refused.value.reply.error) == (404, "No such thing.")

        with pytest.raises(QueryFailed) as failed:
            await client.ask(subject, Echo(text="explode"), timeout=PATIENT_SEC, service="echo")
        assert failed.value.reply.status == 503
        assert failed.value.reply.retry_after is not None
        assert "echo service" in failed.value.reply.error
    finally:
        await client.close()
        await responder.stop()


async def test_bad_input_is_answered_at_once_with_a_400(nats_client: NatsClient) -> None:
    subject, responder = await responding(nats_client)
    client = QueryClient(nats_client)
    try:
        for payload in (b"{not json", b'{"repeat": 2}', b'{"text": "a", "repeat": "many"}'):
            with pytest.raises(QueryFailed) as refused:
                await asyncio.wait_for(
                    client.ask_raw(subject, payload, PATIENT_SEC, "echo"), AT_ONCE_SEC
                )
            assert refused.value.reply.status == 400, payload
            assert refused.value.reply.error.startswith("Invalid query"), refused.value.reply
    finally:
        await client.close()
        await responder.stop()


async def test_nobody_answering_is_a_503_with_a_retry_hint(nats_client: NatsClient) -> None:
    client = QueryClient(nats_client)
    try:
        with pytest.raises(QueryFailed) as failed:
            await asyncio.wait_for(
                client.ask(
                    f"rt.{uuid.uuid4().hex}.nobody",
                    Echo(text="hello"),
                    timeout=PATIENT_SEC,
                    service="sessions",
                ),
                AT_ONCE_SEC,
            )
        assert failed.value.reply.status == 503
        assert failed.value.reply.error == "The sessions service is not answering."
        assert failed.value.reply.retry_after == 1
    finally:
        await client.close()


async def test_every_service_answers_bad_input_with_a_400(stack: Stack) -> None:
    topology = topology_of(stack)
    subjects = [
        topology.sessions_list_subject,
        topology.sessions_get_subject,
        topology.usage_query_subject,
        topology.health_refresh_subject,
    ]
    nats = await connect(stack.env["CORTEX_NATS_URL"], "runtime-test")
    client = QueryClient(nats)
    try:
        for subject in subjects:
            for payload in (b"[1, 2", b'"not an object"'):
                with pytest.raises(QueryFailed) as refused:
                    await asyncio.wait_for(
                        client.ask_raw(subject, payload, PATIENT_SEC, "any"), AT_ONCE_SEC
                    )
                assert refused.value.reply.status == 400, (subject, payload)
    finally:
        await client.close()
        await nats.close()


async def test_nats_url_may_list_several_servers(backends: Backends) -> None:
    """The NATS convention for a cluster: a comma-separated list (one of them may be down)."""
    dead = f"nats://127.0.0.1:{free_port()}"
    client = await connect(f"{dead}, {backends.nats_url}", "runtime-test")
    try:
        assert client.is_connected
        subject, responder = await responding(client)
        queries = QueryClient(client)
        answer = await queries.ask_for(
            subject, Echo(text="hi"), Echoed, timeout=PATIENT_SEC, service="echo"
        )
        assert answer.text == "hi"
        await queries.close()
        await responder.stop()
    finally:
        await client.close()
