"""Load the shipped model prices (editable afterwards in Settings and the admin)."""

from django.db import migrations


def load(apps, schema_editor):
    from billing.prices import default_prices_create

    default_prices_create(apps.get_model("billing", "ModelPrice"))


def unload(apps, schema_editor):
    apps.get_model("billing", "ModelPrice").objects.filter(organization=None).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_initial")]

    operations = [migrations.RunPython(load, unload)]
