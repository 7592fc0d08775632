"""The project's settings with one more URL, ``/echo``: what the web server tests run the real servers on."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.integration.echo_urls"
