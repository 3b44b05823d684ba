from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register(deploy=True)
def rate_limits_are_shared(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Without Redis each worker process counts requests on its own."""
    if settings.REDIS_URL:
        return []
    return [
        Warning(
            "API rate limits are counted per process: with N worker processes a key can make up to "
            "N times its limit.",
            hint="Set REDIS_URL so that every worker shares one count.",
            id="keys.W001",
        )
    ]


# A pepper is the secret half of every key digest: a short one can be guessed, and with it a stolen
# database dump gives up the secrets. 32 characters of a random token are well beyond guessing.
MIN_PEPPER_LENGTH = 32


@register(deploy=True)
def peppers_are_long(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """In production every pepper, the current one and the older ones still verifying keys, is
    long enough. The message names a pepper by its position, never by its value."""
    if settings.DEBUG:
        return []
    short = [n for n, pepper in enumerate(settings.KEY_PEPPERS, start=1) if len(pepper) < MIN_PEPPER_LENGTH]
    if not short:
        return []
    which = ", ".join(f"#{n}" for n in short)
    return [
        Error(
            f"KEY_PEPPERS: pepper {which} (of {len(settings.KEY_PEPPERS)}) is shorter than "
            f"{MIN_PEPPER_LENGTH} characters.",
            hint="Make each pepper a random token, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`; keep an old pepper only "
            "until the keys made under it are regenerated.",
            id="keys.E001",
        )
    ]
