"""Creates a real Django auth database (SQLite file argv[1]) with users made by Django itself.

Each user is printed as `username<TAB>password` so the test signs in with exactly these.
"""
import sys

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    USE_TZ=True,
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    ],
)
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)
editors = Group.objects.create(name="editors")
alice = User.objects.create_user(
    "alice", "alice@example.com", "alice-password-1", first_name="Alice", last_name="Liddell"
)
alice.groups.add(editors)
User.objects.create_user("bob", "bob@example.com", "bob-password-2", is_staff=True)
dora = User.objects.create_user("dora", "dora@example.com")
dora.password = make_password("dora-password-4", hasher="bcrypt_sha256")
dora.save()
# No usable password (make_password(None)): imported without one.
User.objects.create_user("carol", "carol@example.com", None)
for name, pw in [("alice", "alice-password-1"), ("bob", "bob-password-2"), ("dora", "dora-password-4")]:
    print(f"{name}\t{pw}")
