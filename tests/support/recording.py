"""A scripted interaction that also keeps every :class:`SecretRequest` it was given.

:class:`~keymanager.workflows.interaction.ScriptedInteraction` records a question as
text; tests of "each secret is checked when it is entered" also need what the user was
shown with it: the tries left and why a secret is asked again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keymanager.workflows.interaction import ScriptedInteraction, SecretKind, SecretRequest


@dataclass
class RecordingInteraction(ScriptedInteraction):
    """:class:`ScriptedInteraction` plus :attr:`requests`, the secret requests in order."""

    requests: list[SecretRequest] = field(default_factory=list)

    def ask_secret(self, request: SecretRequest) -> bytearray:
        self.requests.append(request)
        return super().ask_secret(request)

    def kinds(self) -> list[SecretKind]:
        """The kinds of secret asked for, in order."""
        return [request.kind for request in self.requests]

    def shown_tries(self, kind: SecretKind) -> list[int | None]:
        """The tries left shown with each request of ``kind``."""
        return [request.tries_left for request in self.requests if request.kind is kind]


def recording(*secrets: str) -> RecordingInteraction:
    """A :class:`RecordingInteraction` answering ``secrets`` in order."""
    interaction = RecordingInteraction()
    for secret in secrets:
        interaction.answer("secret", secret)
    return interaction
