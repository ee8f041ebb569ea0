"""Shared contracts of the Cortex Chat Playground services: events, messages and NATS topology."""

from cortex_contracts.envelope import Actor, Event
from cortex_contracts.topology import Topology

__all__ = ["Actor", "Event", "Topology"]
