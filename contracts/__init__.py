"""Public contract of the system: the event envelope, the events of each service and the topic names.

Consumers outside this repository depend on these models, so they change only by adding optional
fields; a breaking change is a new ``event_type`` or a new ``schema_version``.
"""

from contracts.envelope import Actor, ActorType, Event
from contracts.topics import Topic, dead_letter_topic

__all__ = ["Actor", "ActorType", "Event", "Topic", "dead_letter_topic"]
