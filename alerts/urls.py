from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alerts_index, name="index"),
    path("rules/", views.rule_create, name="rule_create"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/mute/", views.rule_mute, name="rule_mute"),
    path("rules/<int:rule_id>/unmute/", views.rule_unmute, name="rule_unmute"),
    path("rules/<int:rule_id>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("channels/", views.channel_create, name="channel_create"),
    path("channels/<int:channel_id>/test/", views.channel_test, name="channel_test"),
    path("channels/<int:channel_id>/delete/", views.channel_delete, name="channel_delete"),
]
