from django.urls import path

from notifications.api import sms, views

urlpatterns = [
    path("messages", views.MessageListCreateView.as_view(), name="message-list"),
    path("messages/<int:pk>", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<int:pk>/retry", views.MessageRetryView.as_view(), name="message-retry"),
    path("sms", sms.SmsListCreateView.as_view(), name="sms-list"),
    path("sms/<int:pk>", sms.SmsDetailView.as_view(), name="sms-detail"),
]
