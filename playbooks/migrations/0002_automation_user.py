"""Create the account that runs, tasks and automated changes are recorded under."""

from django.db import migrations

USERNAME = "exec-automation"


def create_automation_user(apps, schema_editor):
    user_model = apps.get_model("auth", "User")
    # Inactive with no usable password: nobody can log in as the automation.
    user_model.objects.get_or_create(
        username=USERNAME,
        defaults={"is_active": False, "password": "!", "first_name": "Exec automation"},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("playbooks", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_automation_user, migrations.RunPython.noop)
    ]
