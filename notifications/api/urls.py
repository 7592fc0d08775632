from django.urls import path

from notifications.api import notices, sms, views

urlpatterns = [
    path("messages", views.MessageListCreateView.as_view(), name="message-list"),
    path("messages/<int:pk>", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<int:pk>/retry", views.MessageRetryView.as_view(), name="message-retry"),
    path("notifications", notices.NoticeListView.as_view(), name="notice-list"),
    path("notifications/<int:pk>", notices.NoticeDetailView.as_view(), name="notice-detail"),
    path("notifications/contract-events", notices.ContractEventView.as_view(), name="notice-contract-events"),
    path("notifications/billing", notices.BillingView.as_view(), name="notice-billing"),
    path("sms", sms.SmsListCreateView.as_view(), name="sms-list"),
    path("sms/<int:pk>", sms.SmsDetailView.as_view(), name="sms-detail"),
]
