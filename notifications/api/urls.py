from django.urls import path

from notifications.api import views

urlpatterns = [
    path("messages", views.MessageListCreateView.as_view(), name="message-list"),
    path("messages/<int:pk>", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<int:pk>/retry", views.MessageRetryView.as_view(), name="message-retry"),
]
