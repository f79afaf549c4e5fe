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
from billing.selectors.tools import (
    ToolRow,
    ToolUsageReport,
    UnpricedTool,
    tool_cost_by_agent,
    tool_days,
    tool_price_rows,
    tool_usage_exists,
    tool_usage_report,
    unpriced_tools,
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
    "RevenueSummary", "RunRow", "Sums", "TokenRow", "ToolRow", "ToolUsageReport",
    "UnpricedModel", "UnpricedTool", "UsageParams", "UsageReport", "decimal_text",
    "filled_periods", "histogram_percentile", "price_get", "price_table", "revenue_events",
    "revenue_events_page", "revenue_events_rows", "revenue_summary", "tool_cost_by_agent",
    "tool_days", "tool_price_rows", "tool_usage_exists", "tool_usage_report",
    "unpriced_tools", "usage_exists", "usage_report",
]  # fmt: skip
