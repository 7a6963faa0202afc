from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from portal.roles import APPROVER, PREPARER, VIEWER

DEMO_PASSWORD = "demo"
# username, first name, last name, group (None: superuser)
DEMO_USERS = [
    ("viewer", "Vera", "Viewer", VIEWER),
    ("preparer", "Priya", "Preparer", PREPARER),
    ("approver", "Alex", "Approver", APPROVER),
    ("approver2", "Amara", "Second-Approver", APPROVER),
    ("admin", "Ada", "Admin", None),
]


class Command(BaseCommand):
    help = "Create the demo users (password 'demo'). Development only; safe to run twice."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates users with a known password and only runs with DJANGO_DEBUG=on."
            )
        User = get_user_model()
        for username, first_name, last_name, group_name in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first_name,
                    "last_name": last_name,
                    "email": f"{username}@example.com",
                },
            )
            user.set_password(DEMO_PASSWORD)
            user.is_superuser = user.is_staff = group_name is None
            user.save()
            if group_name:
                user.groups.set([Group.objects.get(name=group_name)])
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb} {username} ({group_name or 'Administrator'})")
