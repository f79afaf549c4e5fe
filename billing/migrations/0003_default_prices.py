"""Load the shipped model prices (editable afterwards in Settings and the admin)."""

from django.db import migrations


def load(apps, schema_editor):
    from billing.pricing import DEFAULT_PRICES

    model_price = apps.get_model("billing", "ModelPrice")
    model_price.objects.bulk_create(
        model_price(
            organization=None,
            model_pattern=p.model_pattern,
            match=p.match,
            effective_from=p.effective_from,
            input_per_m=p.input_per_m,
            output_per_m=p.output_per_m,
            cache_read_per_m=p.cache_read_per_m,
            cache_write_per_m=p.cache_write_per_m,
            currency=p.currency,
        )
        for p in DEFAULT_PRICES
    )


def unload(apps, schema_editor):
    apps.get_model("billing", "ModelPrice").objects.filter(organization=None).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_initial")]

    operations = [migrations.RunPython(load, unload)]
