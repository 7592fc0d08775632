"""Settings: one file, every value read once from the environment with its embedded default.

With no environment the product runs on one machine (SQLite, local-memory cache, in-memory channel
layer, a filesystem Celery broker under ``var/``). ``DATABASE_URL`` and ``REDIS_URL`` switch to
PostgreSQL and Redis. ``DJANGO_ENV=production`` turns on the deploy checks and refuses missing secrets.
Every variable is listed in ``.env.example`` and the README.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.local_secrets import read_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ------------------------------------------------------------------------------ environment
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
IS_PRODUCTION = DJANGO_ENV == "production"
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
PRODUCT_NAME = "Ponte"


def _required_in_production(name: str, generated_file: str, *, fernet: bool = False) -> str:
    """Read a secret; outside production, generate it once into var/ (like pretix) when unset."""
    value = env.str(name, default="")
    if value:
        return value
    if IS_PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")
    return read_or_create_secret(VAR_DIR / generated_file, fernet=fernet)


SECRET_KEY = _required_in_production("SECRET_KEY", "secret_key")
if IS_PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY must be a random value of at least 50 characters.")
# Comma-separated Fernet keys: the first encrypts, all decrypt (so keys can be rotated).
FIELD_ENCRYPTION_KEYS = _required_in_production("FIELD_ENCRYPTION_KEYS", "field_encryption_key", fernet=True).split(",")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# `runall` also starts local fakes of Meta's Graph API and of Evolution, which the demo's channels use.
LOCAL_FAKES = env.bool("LOCAL_FAKES", default=not IS_PRODUCTION)
if IS_PRODUCTION and LOCAL_FAKES:
    raise ImproperlyConfigured("LOCAL_FAKES is for development: production talks to the real providers.")
FAKE_GRAPH_API_PORT = env.int("FAKE_GRAPH_API_PORT", default=8101)
FAKE_EVOLUTION_PORT = env.int("FAKE_EVOLUTION_PORT", default=8102)
FAKE_ERP_PORT = env.int("FAKE_ERP_PORT", default=8103)
FAKE_SMS_GATEWAY_PORT = env.int("FAKE_SMS_GATEWAY_PORT", default=8104)
FAKE_CHATWOOT_PORT = env.int("FAKE_CHATWOOT_PORT", default=8105)

# ------------------------------------------------------------------------------ apps
INSTALLED_APPS = [
    "config.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "axes",
    "channels",
    "config",
    "companies",
    "conversations",
    "notifications",
    "templates_meta",
    "billing",
]

MIDDLEWARE = [
    "config.errors.JsonErrorPagesMiddleware",  # outermost: sees every answer under the JSON paths
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "config.http_limits.BodySizeLimitMiddleware",
    "config.nul.RejectNulMiddleware",
    "config.trailing_slash.EitherSlashMiddleware",  # before CommonMiddleware's APPEND_SLASH redirect
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with the lockout page
    "config.errors.JsonExceptionMiddleware",
    "config.db_outage.DatabaseUnavailableMiddleware",  # innermost: the first to see a view's exception
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Widgets render with the project's templates (the admin's secret box lives in templates/).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# ------------------------------------------------------------------------------ database
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat write to the same file: wait for the lock instead of
    # failing, and take it up front so two writers never deadlock on an upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Web requests, WebSocket consumers and the send engine each run on threads of their own: one
    # persistent connection per thread would pile up until PostgreSQL refuses more. A pool per process
    # (psycopg_pool) lends connections to whichever thread needs one, given back after each request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # In an outage a request must fail within seconds (a 503, config.db_outage), not after the OS gives
    # up on a server that drops packets. With the pool, a request waits for a connection at most
    # DB_POOL_TIMEOUT; the pool stops retrying a failed connection after DB_POOL_RECONNECT_TIMEOUT (its
    # backoff would otherwise grow to minutes) and the next request tries afresh.
    _DB_OPTIONS = DATABASES["default"].setdefault("OPTIONS", {})
    _DB_OPTIONS.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3))  # unless the URL says
    if env.bool("DB_POOL", default=True):
        _DB_OPTIONS["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
            "reconnect_timeout": env.float("DB_POOL_RECONNECT_TIMEOUT", default=10.0),
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# HTTP requests run on this many threads per web process (config/asgi.py). Each holds at most one
# database connection while it runs, so keep it within DB_POOL_MAX_SIZE.
WEB_THREADS = env.int("WEB_THREADS", default=10)

# ------------------------------------------------------------------------------ cache, broker, channels
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="ponte")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{CACHE_KEY_PREFIX}:asgi"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": CACHE_KEY_PREFIX}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: a real broker (separate worker and beat processes) with no server;
    # ours writes each message whole before a worker can list it (config.file_broker).
    CELERY_BROKER_TRANSPORT = "config.file_broker:Transport"
    _BROKER_DIR = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
        # The default polls the folder once a second and drains ~2 tasks each time.
        "polling_interval": 0.05,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Each kind of work has its queue (config.queues); several installations (or benchmark runs) sharing one
# Redis keep apart by this prefix of the queue names.
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
CELERY_TASK_ROUTES = ("config.queues.route",)
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}maintenance"  # config.queues.MAINTENANCE
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
# django-celery-beat's DatabaseScheduler, riding out a database outage instead of exiting (config.beat).
CELERY_BEAT_SCHEDULER = "config.beat:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ------------------------------------------------------------------------------ auth, i18n, static
# django-axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Logins (the admin's, the dashboard's) are throttled per username and client address together, so a
# guesser cannot lock a person out from elsewhere. Failures are counted in the database, which every web
# process shares with or without Redis, and listed in the admin, where staff unlock by deleting them.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.ratelimit.client_ip"  # X-Forwarded-For only behind a trusted proxy
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"

# Mail (the budget alerts): printed to the console unless a backend is configured (SMTP in production).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ponte@localhost")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en-us")
TIME_ZONE = env.str("TIME_ZONE", default="America/Sao_Paulo")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Under uvicorn nothing else serves static files: WhiteNoise does, from the app folders while developing.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# ------------------------------------------------------------------------------ API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "companies.authentication.KeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.db_outage.api_exception_handler",  # then config.errors.api_exception_handler
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": f"{PRODUCT_NAME} API",
    "DESCRIPTION": (
        "WhatsApp middleware for Brazilian ISPs. Authenticate with a company API key "
        "(`X-API-Key: …` or `Authorization: Bearer …`); platform endpoints need a staff token. "
        'Every error is `{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "CompanyStatusEnum": "companies.models.Company.Status",
        "MessageStatusEnum": "conversations.models.Message.Status",
    },
}

# Rates are "<count>/<s|m|h|d>", as django-ratelimit reads them.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
API_RATE_LIMIT_PER_KEY = env.str("API_RATE_LIMIT_PER_KEY", default="600/m")
API_RATE_LIMIT_PER_IP = env.str("API_RATE_LIMIT_PER_IP", default="1200/m")
# Behind a proxy, the client address is in X-Forwarded-For; only trust it when told to.
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
# The proxies (addresses or networks, comma-separated) whose X-Forwarded-For/-Proto the web server applies to
# the client address and scheme; only when TRUST_X_FORWARDED_FOR is set (config.web_server).
FORWARDED_ALLOW_IPS = env.str("FORWARDED_ALLOW_IPS", default="127.0.0.1,::1")
RATELIMIT_IP_META_KEY = "config.ratelimit.client_ip"
# LocMemCache is per process: fine on one machine with embedded defaults, Redis everywhere else.
SILENCED_SYSTEM_CHECKS = [] if REDIS_URL else ["django_ratelimit.E003", "django_ratelimit.W001"]

API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=8 * 1024 * 1024)
# A campaign's CSV (POST /api/v1/campaigns/<id>/recipients) is streamed to disk, never held in memory:
# 100,000 rows with a few columns are about 5 MB.
CAMPAIGN_CSV_MAX_BYTES = env.int("CAMPAIGN_CSV_MAX_BYTES", default=50 * 1024 * 1024)
# The campaign engine runs passes this long, then hands over to a fresh task (notifications.tasks.campaigns).
CAMPAIGN_RUN_SECONDS = env.float("CAMPAIGN_RUN_SECONDS", default=50.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, WEBHOOK_MAX_BODY_BYTES)

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-api-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ("x-request-id",)

# A local-memory cache lives in one process: the web server's invalidation cannot reach the worker's
# copy, so without Redis cached company lookups expire quickly instead.
# Sending engine: how many dispatchers may run at once (across all workers), and for how long each
# runs before handing over to a fresh task.
OUTBOX_DISPATCHERS = env.int("OUTBOX_DISPATCHERS", default=2)
# Processes (inbound) and threads (events, conversation, background) of each kind of worker (config.queues.pools).
INBOUND_WORKER_CONCURRENCY = env.int("INBOUND_WORKER_CONCURRENCY", default=2)
EVENTS_WORKER_CONCURRENCY = env.int("EVENTS_WORKER_CONCURRENCY", default=4)
CONVERSATION_WORKER_CONCURRENCY = env.int("CONVERSATION_WORKER_CONCURRENCY", default=8)
BACKGROUND_WORKER_CONCURRENCY = env.int("BACKGROUND_WORKER_CONCURRENCY", default=4)
OUTBOX_RUN_SECONDS = env.int("OUTBOX_RUN_SECONDS", default=20)
# Added to the Celery worker's nice value at start (config.celery): web requests come first on shared cores.
CELERY_WORKER_NICENESS = env.int("CELERY_WORKER_NICENESS", default=10)
# A drain claims this many stored webhook events at a time and hands over to a fresh task after this long.
WEBHOOK_DRAIN_BATCH = env.int("WEBHOOK_DRAIN_BATCH", default=200)
WEBHOOK_DRAIN_SECONDS = env.float("WEBHOOK_DRAIN_SECONDS", default=20.0)
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=7)
COMPANY_CACHE_TIMEOUT = env.int("COMPANY_CACHE_TIMEOUT", default=300 if REDIS_URL else 5)
CACHE_IS_SHARED = bool(REDIS_URL)
# Company/channel lookups kept in each process in front of Redis (seconds another process may lag
# behind a change). Without Redis the cache is already this process's memory.
COMPANY_LOCAL_CACHE_SECONDS = env.float("COMPANY_LOCAL_CACHE_SECONDS", default=2.0 if REDIS_URL else 0.0)
META_GRAPH_API_VERSION = env.str("META_GRAPH_API_VERSION", default="v25.0")
# How long an ERP's answers (customers, contracts, open invoices) are reused for the same question.
ERP_CACHE_SECONDS = env.int("ERP_CACHE_SECONDS", default=60)
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60

# ------------------------------------------------------------------------------ security (production)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Health probes come from the load balancer over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# ------------------------------------------------------------------------------ logging
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "console")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.logging.RequestIdFilter"},
        "mask": {"()": "config.logging.MaskingFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "mask"],
        },
    },
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler (DEBUG only) would print every django.request line a second
        # time beside the root handler; its records go to the root handler alone, masked.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        # The filesystem broker has no host; kombu warns about it on every connection.
        "kombu.connection": {"level": "ERROR" if CELERY_BROKER_URL.startswith("filesystem://") else "WARNING"},
    },
}
