# One image for the three roles of docker-compose.yml: web (gunicorn running uvicorn workers on the
# ASGI app), Celery worker and Celery beat. Configuration comes from the environment (see README.md).
FROM python:3.12-slim

# gunicorn reads WEB_CONCURRENCY as its number of worker processes.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    WEB_CONCURRENCY=2

WORKDIR /app

RUN groupadd --system --gid 10001 ponte \
    && useradd --system --uid 10001 --gid ponte --home-dir /app --no-create-home --shell /usr/sbin/nologin ponte

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# collectstatic runs with the production settings because they pick WhiteNoise's compressed manifest
# storage: files collected under development settings have no manifest, and every page that links a
# static file (the admin, /api/docs/) would fail at run time. The secrets below are throwaway values
# that exist only during this step; the real ones come from the environment when the container runs.
RUN DJANGO_ENV=production \
    VAR_DIR=/tmp/build-var \
    ALLOWED_HOSTS=build \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    FIELD_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-var \
    && mkdir -p /app/var \
    && chown ponte:ponte /app/var \
    && chmod 0755 docker/entrypoint.sh

USER 10001:10001

EXPOSE 8000

# No curl in the slim image. The Host header must be one Django accepts (the first usable entry of
# ALLOWED_HOSTS); /healthz is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host = next((h.strip().lstrip('.') for h in os.environ.get('ALLOWED_HOSTS', '').split(',') if h.strip() and '*' not in h), 'localhost'); urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8000/healthz', headers={'Host': host}), timeout=4)"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
# The project's uvicorn worker applies X-Forwarded-For only when TRUST_X_FORWARDED_FOR says so (config/web_server.py);
# uvicorn_worker.UvicornWorker would apply it for any peer in FORWARDED_ALLOW_IPS.
CMD ["gunicorn", "config.asgi:application", "--worker-class", "config.web_server.UvicornWorker", "--bind", "0.0.0.0:8000"]
