from django.urls import path

from portal.audit_log import views

app_name = "audit"

urlpatterns = [
    path("audit-log/", views.audit_log, name="audit_log"),
]
