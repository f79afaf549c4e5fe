"""Reads for the usage, revenue and price pages.

Every function takes the project (or organization) it reads for, so no query reaches
another organization's rows. Usage and revenue summaries read the rollups only, so a
page costs the same whatever the number of events behind it.
"""

from billing.selectors.prices import PriceTable, UnpricedModel, price_get, price_table
from billing.selectors.revenue import (
    CSV_HEADER,
    PERIODS,
    REVENUE_KINDS,
    REVENUE_RANGES,
    CurrencySection,
    EventPage,
    FilterError,
    RevenueFilters,
    RevenueSummary,
    Sums,
    decimal_text,
    filled_periods,
    revenue_events,
    revenue_events_page,
    revenue_events_rows,
    revenue_summary,
)
from billing.selectors.usage import (
    USAGE_GROUPS,
    USAGE_RANGES,
    RunRow,
    TokenRow,
    UsageParams,
    UsageReport,
    histogram_percentile,
    usage_exists,
    usage_report,
)

__all__ = [
    "CSV_HEADER", "PERIODS", "REVENUE_KINDS", "REVENUE_RANGES", "USAGE_GROUPS", "USAGE_RANGES",
    "CurrencySection", "EventPage", "FilterError", "PriceTable", "RevenueFilters",
    "RevenueSummary", "RunRow", "Sums", "TokenRow", "UnpricedModel", "UsageParams",
    "UsageReport", "decimal_text", "filled_periods", "histogram_percentile", "price_get",
    "price_table", "revenue_events", "revenue_events_page", "revenue_events_rows",
    "revenue_summary", "usage_exists", "usage_report",
]  # fmt: skip
