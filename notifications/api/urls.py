from django.urls import path

from notifications.api import campaigns, notices, sms, views

urlpatterns = [
    path("messages", views.MessageListCreateView.as_view(), name="message-list"),
    path("messages/<int:pk>", views.MessageDetailView.as_view(), name="message-detail"),
    path("messages/<int:pk>/retry", views.MessageRetryView.as_view(), name="message-retry"),
    path("notifications", notices.NoticeListView.as_view(), name="notice-list"),
    path("notifications/<int:pk>", notices.NoticeDetailView.as_view(), name="notice-detail"),
    path("notifications/contract-events", notices.ContractEventView.as_view(), name="notice-contract-events"),
    path("notifications/billing", notices.BillingView.as_view(), name="notice-billing"),
    path("campaigns", campaigns.CampaignListCreateView.as_view(), name="campaign-list"),
    path("campaigns/<int:pk>", campaigns.CampaignDetailView.as_view(), name="campaign-detail"),
    path("campaigns/<int:pk>/recipients", campaigns.CampaignRecipientsView.as_view(), name="campaign-recipients"),
    path("campaigns/<int:pk>/errors", campaigns.CampaignErrorsView.as_view(), name="campaign-errors"),
    *(
        path(f"campaigns/<int:pk>/{name}", campaigns.action_view(name), name=f"campaign-{name}")
        for name in campaigns.ACTIONS
    ),
    path("sms", sms.SmsListCreateView.as_view(), name="sms-list"),
    path("sms/<int:pk>", sms.SmsDetailView.as_view(), name="sms-detail"),
]
