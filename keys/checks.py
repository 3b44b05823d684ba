from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def rate_limits_are_shared(app_configs, **kwargs):
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
