from django.urls import path

from audit.web import views

app_name = "audit"

urlpatterns = [
    path("audit-log/", views.audit_log, name="audit_log"),
]
