#!/bin/sh
# Container entry point for web, worker and beat (one image, three roles).
# With RUN_MIGRATIONS=1 (docker-compose.yml sets it on the web service only) the database schema and
# the periodic jobs of config/celery.py are brought up to date before the command starts; worker and
# beat wait for web to be healthy, so they never see an old schema.
set -eu

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    python manage.py migrate --noinput
    python manage.py sync_periodic_tasks
fi

exec "$@"
