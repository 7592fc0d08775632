from django.urls import path

from companies.api import views

company_list = views.CompanyViewSet.as_view({"get": "list", "post": "create"})
company_detail = views.CompanyViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)
channel_list = views.ChannelViewSet.as_view({"get": "list", "post": "create"})
channel_detail = views.ChannelViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)
api_key_list = views.ApiKeyViewSet.as_view({"get": "list", "post": "create"})
api_key_revoke = views.ApiKeyViewSet.as_view({"post": "revoke"})

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("companies/", company_list, name="company-list"),
    path("companies/<str:contract>/", company_detail, name="company-detail"),
    path("companies/<str:contract>/channels/", channel_list, name="channel-list"),
    path("companies/<str:contract>/channels/<int:pk>/", channel_detail, name="channel-detail"),
    path("companies/<str:contract>/api-keys/", api_key_list, name="apikey-list"),
    path("companies/<str:contract>/api-keys/<int:pk>/revoke/", api_key_revoke, name="apikey-revoke"),
]
