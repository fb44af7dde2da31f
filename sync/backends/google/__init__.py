"""The Google Sheets backend (gspread + google-auth), see docs/google.md.

:func:`backend_from_config` builds a :class:`GoogleBackend` from the ``[google]`` section:
credentials (a service-account key file, a service-account JSON in an environment
variable, or OAuth user credentials), an optional ``endpoint`` (the emulator), the
per-minute quotas and the retry bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sync.backends.google.api import (
    GoogleApi,
    GoogleError,
    identity_of,
    load_credentials,
    make_client,
)
from sync.backends.google.backend import GoogleBackend, SourceSpec
from sync.config import Config
from sync.fields import AGENT_TABS, CHECK_TAB
from sync.limits import Limits, RetryPolicy
from sync.master_layout import MASTER_TABS

__all__ = [
    "GoogleApi",
    "GoogleBackend",
    "GoogleError",
    "SourceSpec",
    "backend_from_config",
    "source_specs",
]

B = TypeVar("B", bound=GoogleBackend)


def source_specs(config: Config) -> dict[str, SourceSpec]:
    """Source address -> spec for every configured agent and the master."""
    specs = {
        config.agent_source(agent): SourceSpec(
            spreadsheet=agent.spreadsheet,
            tabs=agent.tab_titles(),
            expected=(*AGENT_TABS, CHECK_TAB),
            label=f"agent {agent.key}",
        )
        for agent in config.agents
    }
    specs[config.master_source()] = SourceSpec(
        spreadsheet=config.master.spreadsheet, expected=tuple(MASTER_TABS), label="master"
    )
    return specs


def backend_from_config(
    config: Config,
    *,
    backend_class: Callable[..., B] = GoogleBackend,  # type: ignore[assignment]
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> B:
    """A Google backend for a configuration (credentials are loaded now: errors show early).

    Args:
        backend_class: :class:`GoogleBackend` or a subclass (the emulator test harness).
        clock, sleep: time for the rate limiters and retries (injected in tests).
        environ: where ``credentials_env`` is looked up (default ``os.environ``).
        options: more keyword arguments for ``backend_class``.

    Raises:
        ConfigError: the credentials cannot be loaded (the message names the file or the
            environment variable, never their content).
    """
    settings = config.google
    credentials = load_credentials(
        credentials_file=config.path(settings.credentials_file)
        if settings.credentials_file
        else None,
        credentials_env=settings.credentials_env,
        oauth_token_file=config.path(settings.oauth_token_file)
        if settings.oauth_token_file
        else None,
        environ=environ,
    )
    if credentials is None and not settings.endpoint:
        make_client(None)  # raises the "no credentials configured" error
    identity = settings.service_account_email or identity_of(credentials)
    api = GoogleApi(
        lambda: make_client(credentials, endpoint=settings.endpoint, timeout=settings.timeout),
        limits=Limits.per_minute(
            settings.read_per_minute, settings.write_per_minute, clock=clock, sleep=sleep
        ),
        retry=RetryPolicy(max_retries=settings.max_retries, sleep=sleep),
        identity=identity,
    )
    return backend_class(
        api, source_specs(config), revalidate=settings.revalidate, clock=clock, **options
    )
