from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.models import Account, Application
        from keys import (
            checks,  # noqa: F401  (registers the deploy check)
            services,
        )
        from keys.metering import flusher  # noqa: F401  (its at-exit hook writes what any process buffered)

        # A renamed application or a moved account: the keys' copies the lists sort by follow.
        for model in (Application, Account):
            post_save.connect(
                services.copies_on_save, sender=model, dispatch_uid=f"key-copies-{model.__name__}"
            )
