"""A throwaway cosign key pair, and key-mode signing with it: for the publish tests and the
workflow run, which sign against a loopback registry (no Rekor, no Fulcio)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from llama_images.adapters.cosign import Cosign, Verifier
from llama_images.adapters.source import Pin
from llama_images.commands.supply_chain import Signing


@dataclass(frozen=True)
class CosignKeys:
    private: Path
    public: Path
    password: str = field(repr=False)

    @property
    def cosign(self) -> Cosign:
        """cosign, given this key's password."""
        return Cosign(Cosign.find().binary, self.password)

    @property
    def verifier(self) -> Verifier:
        return Verifier(public_key=self.public.read_text())

    def signing(self, pin: Pin, tool_version: str = "") -> Signing:
        return Signing.with_key(self.cosign, str(self.private), pin, tool_version)


def cosign_keys(folder: Path) -> CosignKeys:
    """A new encrypted key pair in `folder` (cosign generate-key-pair), with a random password."""
    password = secrets.token_urlsafe(16)
    private, public = Cosign.find().generate_key_pair(folder, password)
    return CosignKeys(private, public, password)
