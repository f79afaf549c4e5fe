"""The model and tool price forms: text in, Decimal out (never through float)."""

from decimal import Decimal

from django import forms

from billing.currencies import minor_units
from billing.models import ModelPrice
from billing.selectors import decimal_text
from billing.services import PriceData, PriceError, ToolPriceData
from billing.tool_pricing import normalize_currency

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


class ToolPriceForm(forms.Form):
    """A price per use of one tool (Charm's `tool_usage`), from a day on. The hidden
    `form` field tells the prices page which of its forms was sent."""

    form = forms.CharField(widget=forms.HiddenInput, initial="tool_price", required=False)
    tool = forms.CharField(
        label="Tool",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. get_weather", "autocomplete": "off"}),
    )
    unit_price = forms.DecimalField(
        label="Price per use",
        min_value=Decimal(0),
        max_digits=20,
        decimal_places=10,
        error_messages={
            "min_value": "0 or more.",
            "max_decimal_places": "At most 10 decimal places.",
            "max_whole_digits": "At most 10 digits before the point.",
        },
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.002"}
        ),
    )
    currency = forms.CharField(
        label="Currency",
        initial="USD",
        max_length=3,
        min_length=3,
        error_messages={"min_length": "3 letters.", "max_length": "3 letters."},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "USD", "spellcheck": "false"}
        ),
    )
    effective_from = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean_currency(self) -> str:
        try:
            code = normalize_currency(self.cleaned_data["currency"])
        except ValueError:
            raise forms.ValidationError("3 letters, like USD.") from None
        if minor_units(code) is None:
            raise forms.ValidationError(f"{code} is not an ISO 4217 currency; like USD or EUR.")
        return code

    def tool_price_data(self) -> ToolPriceData:
        data = self.cleaned_data
        return ToolPriceData(
            tool=data["tool"],
            unit_price=data["unit_price"],
            currency=data["currency"],
            effective_from=data["effective_from"],
        )
