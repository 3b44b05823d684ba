from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from keys.api.graphql.view import graphql_endpoint
from keys.api.rest import api, openapi_document, own_key_view
from portal import views
from portal.observability import metrics_view

urlpatterns = [
    # First, as the most frequent requests by far: the APIs and the probes are resolved in a few steps.
    path("api/v1/key", own_key_view),  # the most frequent of all, without django-ninja's dispatch
    path("api/v1/openapi.json", openapi_document, name="openapi_document"),  # before ninja's own
    path("api/v1/", api.urls),
    path("api/graphql", graphql_endpoint, name="graphql"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", account_views.home, name="home"),
    path("login/", account_views.LoginView.as_view(), name="login"),
    path("logout/", account_views.LogoutView.as_view(), name="logout"),
    path("password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/time-zone/", account_views.time_zone_change, name="time_zone_change"),
    path("password/done/", account_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("settings/applications/", account_views.application_list, name="applications"),
    path("settings/applications/<slug:slug>/", account_views.application_detail, name="application_detail"),
    path("settings/", include("keys.web.urls")),
    path("settings/", include("audit.web.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
