from django.urls import path

from keys.web import members, security, views

app_name = "keys"

urlpatterns = [
    path("security/", security.security_policy, name="security"),
    path("members/", members.member_list, name="members"),
    path(
        "members/<str:member_id>/deactivate/",
        members.member_set_active,
        {"active": False},
        name="member_deactivate",
    ),
    path(
        "members/<str:member_id>/reactivate/",
        members.member_set_active,
        {"active": True},
        name="member_reactivate",
    ),
    path("api-keys/", views.key_list, name="list"),
    path("api-keys/new/", views.key_create, name="create"),
    path("api-keys/export.csv", views.key_list_csv, name="list_csv"),
    path("api-keys/find/", views.key_find, name="find"),
    path("api-keys/new/scopes/", views.key_form_scopes, name="form_scopes"),
    path("api-keys/<str:key_id>/", views.key_detail, name="detail"),
    path("api-keys/<str:key_id>/requests/", views.key_requests, name="requests"),
    path("api-keys/<str:key_id>/usage.csv", views.key_usage_csv, name="usage_csv"),
    path("api-keys/<str:key_id>/edit/", views.key_edit, name="edit"),
    path("api-keys/<str:key_id>/regenerate/", views.key_regenerate, name="regenerate"),
    path("api-keys/<str:key_id>/revoke/", views.key_revoke, name="revoke"),
    path("api-keys/<str:key_id>/disable/", views.key_set_disabled, {"disabled": True}, name="disable"),
    path("api-keys/<str:key_id>/enable/", views.key_set_disabled, {"disabled": False}, name="enable"),
]
