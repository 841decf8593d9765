"""Cloud providers: the only place enictl does I/O against a cloud."""

from __future__ import annotations

from pathlib import Path

from controller.errors import UsageError
from controller.providers.base import Job, JobStatus, NewInterface, Provider

__all__ = ["Job", "JobStatus", "NewInterface", "Provider", "open_provider"]

PROVIDER_NAMES = ("sim", "huaweicloud")


def open_provider(name: str, state_dir: Path) -> Provider:
    """The provider called `name`, configured from the state dir and the environment."""
    if name == "sim":
        from controller.providers.sim.cloud import open_cloud

        return open_cloud(state_dir)
    if name == "huaweicloud":
        from controller.providers.huaweicloud import adapter

        return adapter.from_environment()
    raise UsageError(f"unknown provider {name!r} (choose one of: {', '.join(PROVIDER_NAMES)})")
