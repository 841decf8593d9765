"""What every command gets from the global options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from controller.providers import Provider, open_provider
from controller.storage import open_backend
from controller.storage.backend import StateBackend


@dataclass
class AppContext:
    provider_name: str
    state_dir_arg: str
    state_backend_arg: str = ""  # --state-backend / ENICTL_STATE_BACKEND ("": the state dir)
    no_color: bool = False  # `--no-color`
    _provider: Provider | None = field(default=None, repr=False)
    _backend: StateBackend | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        return Path(self.state_dir_arg)

    def provider(self) -> Provider:
        """Open the provider once per command."""
        if self._provider is None:
            self._provider = open_provider(self.provider_name, self.state_dir)
        return self._provider

    def backend(self) -> StateBackend:
        """Open the state backend (lock, journal, last-applied record) once per command."""
        if self._backend is None:
            self._backend = open_backend(self.state_backend_arg, self.state_dir)
        return self._backend
