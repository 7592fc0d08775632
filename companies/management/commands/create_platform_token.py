"""Create a platform (staff) token from the command line, e.g. for provisioning scripts."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from companies import services


class Command(BaseCommand):
    help = "Create a platform token for a staff user and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="CLI token")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError(f"No active staff user named {username!r}.")
        _, plaintext = services.create_platform_token(user=user, name=name)
        self.stdout.write(plaintext)
