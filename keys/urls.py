from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path("api-keys/", views.key_list, name="list"),
    path("api-keys/<str:key_id>/", views.key_detail, name="detail"),
    path("audit-log/", views.audit_log, name="audit_log"),
]
