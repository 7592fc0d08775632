from django.urls import path

from conversations.api import views

urlpatterns = [
    path("contacts", views.ContactListView.as_view(), name="contact-list"),
    path("contacts/<int:pk>", views.ContactDetailView.as_view(), name="contact-detail"),
    path("contacts/<int:pk>/sessions", views.ContactSessionsView.as_view(), name="contact-sessions"),
    path("contacts/<int:pk>/messages", views.ContactMessagesView.as_view(), name="contact-messages"),
    path("contacts/<int:pk>/timeline", views.ContactTimelineView.as_view(), name="contact-timeline"),
    path("contacts/<int:pk>/bot/pause", views.ContactBotPauseView.as_view(), name="contact-bot-pause"),
    path("contacts/<int:pk>/bot/resume", views.ContactBotResumeView.as_view(), name="contact-bot-resume"),
    path("sessions/<int:pk>", views.SessionDetailView.as_view(), name="session-detail"),
    path("sessions/<int:pk>/messages", views.SessionMessagesView.as_view(), name="session-messages"),
    path("sessions/<int:pk>/close", views.SessionCloseView.as_view(), name="session-close"),
    path("sessions/<int:pk>/tags", views.SessionTagsView.as_view(), name="session-tags"),
    path("sessions/<int:pk>/tags/<str:name>", views.SessionTagView.as_view(), name="session-tag"),
    path("tags", views.TagListCreateView.as_view(), name="tag-list"),
]
