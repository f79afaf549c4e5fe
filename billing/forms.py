"""The price row form: text in, Decimal out (never through float)."""

from decimal import Decimal

from django import forms

from billing.models import ModelPrice
from billing.selectors import decimal_text
from billing.services import PriceData, PriceError

RATE_FIELDS = ("input_per_m", "output_per_m", "cache_read_per_m", "cache_write_per_m")


def _rate(label: str, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        required=required,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}
        ),
    )


class PriceForm(forms.Form):
    model_pattern = forms.CharField(
        label="Model",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. in-house-7b", "autocomplete": "off"}),
    )
    match = forms.ChoiceField(label="Match", choices=ModelPrice.Match.choices, initial="prefix")
    effective_from = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    input_per_m = _rate("Input")
    output_per_m = _rate("Output")
    cache_read_per_m = _rate("Cache read", required=False)
    cache_write_per_m = _rate("Cache write", required=False)

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            try:
                self.price_data().check()
            except PriceError as error:
                raise forms.ValidationError(str(error).capitalize() + ".") from None
        return data

    def price_data(self) -> PriceData:
        data = self.cleaned_data
        return PriceData(
            model_pattern=data["model_pattern"].strip(),
            match=data["match"],
            effective_from=data["effective_from"],
            input_per_m=data["input_per_m"],
            output_per_m=data["output_per_m"],
            cache_read_per_m=data.get("cache_read_per_m") or Decimal(0),
            cache_write_per_m=data.get("cache_write_per_m") or Decimal(0),
        )

    @staticmethod
    def initial_from(price: ModelPrice) -> dict:
        """Form values copied from a row (to edit it, or to override a default)."""
        return {
            "model_pattern": price.model_pattern,
            "match": price.match,
            "effective_from": price.effective_from,
            **{name: decimal_text(getattr(price, name)) for name in RATE_FIELDS},
        }
