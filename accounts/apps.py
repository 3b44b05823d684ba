from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Organizations and users"

    def ready(self) -> None:
        from accounts import sessions  # noqa: F401  (connects the session index receivers)
