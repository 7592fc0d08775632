"""URL map. The webhook URLs are part of the contract with Meta, Evolution and Chatwoot: keep them."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from billing import dashboard
from config import health
from conversations import downloads, webhooks

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # The login of people without the admin (agents); the admin keeps its own. Both are throttled (django-axes).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="billing/login.html",
            redirect_authenticated_user=True,
            next_page=reverse_lazy("spend-dashboard"),
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("login")), name="logout"),
    path("dashboard/spend/", dashboard.spend_dashboard, name="spend-dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("companies.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("api/v1/", include("conversations.api.urls")),
    path("files/<str:token>/<str:filename>", downloads.hosted_file, name="hosted-file"),
    path("webhooks/meta/", webhooks.meta, name="webhook-meta"),
    path("webhooks/evolution/<str:contract>/", webhooks.evolution, name="webhook-evolution"),
    path("webhooks/chatwoot/<str:contract>/<str:secret>/", webhooks.chatwoot, name="webhook-chatwoot"),
]
