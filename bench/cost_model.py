#!/usr/bin/env python3
"""Monthly Azure bill of the lvmbeat external monitor, next to the 0.x Container App.

Why this exists: the external monitor moved from one always-on Azure Container App
replica to an Azure Functions app on the Flex Consumption plan. Whether that is cheaper
depends on a few billing rules that are easy to get wrong (Flex bills a 1,000 ms minimum
per activity period on the *instance* memory size; Container Apps bill allocated vCPU
and memory every second a replica exists). This script turns the workload into meter
quantities, prices them with the list prices below, and prints Markdown tables with
and without the monthly free grants.

Standalone and stdlib only, so it runs anywhere with ``python3 bench/cost_model.py``.
``--markdown docs/cost.md`` rewrites the generated block of that page (the text above
the block is hand-written and kept). Cost does not depend on the machine running this.

Every price and grant is in the tables right below, each with its source and the date it
was read. Prices change and differ by region: override any of them with
``--price KEY=VALUE`` (for example from the Azure Retail Prices API).
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path


READ_ON = "2026-11-24"
"""Day the sources below were read through the search corpus."""

CORPUS = f"as stored in the search corpus, read {READ_ON}"

# Official pages. The azure.microsoft.com pricing pages fill their prices in with
# JavaScript, so their stored copies show "$-": the figures themselves come from the
# Azure Retail Prices API as quoted (with a date) by the stored documents named in each
# entry's ``seen`` field.
URL_FUNCTIONS_PRICING = "https://azure.microsoft.com/pricing/details/functions/"
URL_FLEX_PLAN = (
    "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#billing"
)
URL_FLEX_METERS = (
    "https://learn.microsoft.com/azure/azure-functions/"
    "functions-consumption-costs?tabs=flex-consumption-plan"
)
URL_TABLE_PRICING = "https://azure.microsoft.com/pricing/details/storage/tables/"
URL_BLOB_PRICING = "https://azure.microsoft.com/pricing/details/storage/blobs/"
URL_BLOB_OPS = "https://learn.microsoft.com/azure/storage/blobs/map-rest-apis-transaction-categories"
URL_ACS_PRICING = (
    "https://learn.microsoft.com/azure/communication-services/concepts/pricing"
)
URL_MONITOR_PRICING = "https://azure.microsoft.com/pricing/details/monitor/"
URL_LOGS_COST = "https://learn.microsoft.com/azure/azure-monitor/logs/cost-logs"
URL_ACA_PRICING = "https://azure.microsoft.com/pricing/details/container-apps/"
URL_ACA_BILLING = "https://learn.microsoft.com/azure/container-apps/billing"
URL_ACA_IDLE = (
    "https://techcommunity.microsoft.com/blog/appsonazureblog/"
    "understanding-idle-usage-in-azure-container-apps/4419197"
)
URL_RETAIL_API = "https://prices.azure.com/api/retail/prices"
URL_MODAL_BLOG = "https://modal.com/blog/azure-function-pricing-guide"


def plain(value: float) -> str:
    """A decimal without exponent or trailing zeros: 2.6e-05 -> '0.000026'."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    decimals = len(text.partition(".")[2])
    return f"{value:.2f}" if 0 < decimals < 2 else text


@dataclass(frozen=True)
class Price:
    """A list price: ``usd`` for every ``per`` units of ``unit`` on one meter."""

    usd: float
    per: float
    unit: str
    meter: str
    region: str
    sources: tuple[str, ...]
    seen: str

    @property
    def unit_usd(self) -> float:
        return self.usd / self.per

    def label(self) -> str:
        usd = plain(self.usd)
        if self.per == 1:
            return f"${usd} / {self.unit}"
        return f"${usd} / {self.per:,.0f} {self.unit}"


@dataclass(frozen=True)
class Grant:
    """A monthly free grant of ``amount`` units, shared by everything in ``scope``."""

    amount: float
    unit: str
    scope: str
    sources: tuple[str, ...]
    seen: str


# ---------------------------------------------------------------------------------
# Price table (USD, pay-as-you-go list prices). Key -> price, source, date read.
# ---------------------------------------------------------------------------------
PRICES: dict[str, Price] = {
    "flex_exec_gbs": Price(
        0.000026,
        1,
        "GB-s",
        "Functions Flex Consumption, On Demand Execution Time",
        "East US",
        (URL_FUNCTIONS_PRICING, URL_RETAIL_API, URL_MODAL_BLOG),
        "Retail Prices API (eastus) as quoted by a stored third-party design doc, "
        "'verified live 2026-07-30'; same figure in the modal.com guide dated "
        f"2025-05-22; {CORPUS}",
    ),
    "flex_executions": Price(
        0.40,
        1_000_000,
        "executions",
        "Functions Flex Consumption, On Demand Total Executions ($0.000004 / 10)",
        "East US",
        (URL_FUNCTIONS_PRICING, URL_RETAIL_API),
        f"Retail Prices API (eastus) as quoted, 'verified live 2026-07-30'; {CORPUS}",
    ),
    "table_tx": Price(
        0.00036,
        10_000,
        "transactions",
        "Tables, Standard LRS operations",
        "West US 2",
        (URL_TABLE_PRICING, URL_RETAIL_API),
        f"Retail Prices API as quoted, 'checked April 30, 2026'; {CORPUS}",
    ),
    "table_gb": Price(
        0.045,
        1,
        "GB-month",
        "Tables, Standard LRS Data Stored",
        "West US 2",
        (URL_TABLE_PRICING, URL_RETAIL_API),
        f"Retail Prices API as quoted, 'checked April 30, 2026'; {CORPUS}",
    ),
    "blob_gb": Price(
        0.0184,
        1,
        "GB-month",
        "Block Blob, Hot LRS Data Stored (first 50 TB)",
        "West US 2 / East US 2",
        (URL_BLOB_PRICING, URL_RETAIL_API),
        f"Retail Prices API as quoted, 'checked April 30, 2026'; {CORPUS}",
    ),
    "blob_write": Price(
        0.05,
        10_000,
        "operations",
        "Block Blob, Hot LRS Write Operations",
        "West US 2",
        (URL_BLOB_PRICING, URL_BLOB_OPS, URL_RETAIL_API),
        f"Retail Prices API as quoted, 'checked April 30, 2026'; {CORPUS}",
    ),
    "acs_email": Price(
        0.00025,
        1,
        "email (per recipient)",
        "Communication Services, Email sent",
        "global",
        (URL_ACS_PRICING,),
        "Learn pricing page as quoted by stored docs ('verified against Microsoft "
        f"Learn, August 2026'); {CORPUS}",
    ),
    "acs_mb": Price(
        0.00012,
        1,
        "MB",
        "Communication Services, Email data transferred",
        "global",
        (URL_ACS_PRICING,),
        "Learn pricing page as quoted by stored docs ('verified against Microsoft "
        f"Learn, August 2026'); {CORPUS}",
    ),
    "la_gb": Price(
        2.30,
        1,
        "GB",
        "Log Analytics, Analytics Logs Data Ingestion (pay-as-you-go)",
        "East US / West US 2",
        (URL_MONITOR_PRICING, URL_LOGS_COST, URL_RETAIL_API),
        "Retail Prices API as quoted ('East US, verified 2026-08-09'; West US 2 "
        "'April 30, 2026'); an older eastus2 row quoted $2.76; "
        f"{CORPUS}",
    ),
    "aca_vcpu_active": Price(
        0.000024,
        1,
        "vCPU-s",
        "Container Apps, Standard vCPU Active Usage",
        "Central US",
        (URL_ACA_PRICING, URL_ACA_IDLE),
        "Microsoft Tech Community post dated 2025-05-30; West US 2 retail is "
        f"$0.000034 ('April 30, 2026'); {CORPUS}",
    ),
    "aca_vcpu_idle": Price(
        0.000003,
        1,
        "vCPU-s",
        "Container Apps, Standard vCPU Idle Usage",
        "Central US",
        (URL_ACA_PRICING, URL_ACA_IDLE),
        "Microsoft Tech Community post dated 2025-05-30; West US 2 retail is "
        f"$0.000004; {CORPUS}",
    ),
    "aca_mem": Price(
        0.000003,
        1,
        "GiB-s",
        "Container Apps, Standard Memory Active/Idle Usage",
        "Central US",
        (URL_ACA_PRICING, URL_ACA_IDLE),
        "Microsoft Tech Community post dated 2025-05-30 (memory rate is the same "
        f"active or idle); West US 2 retail is $0.000004; {CORPUS}",
    ),
    "aca_requests": Price(
        0.40,
        1_000_000,
        "requests",
        "Container Apps, Standard Requests",
        "West US 2",
        (URL_ACA_PRICING, URL_RETAIL_API),
        f"Retail Prices API as quoted, 'checked April 30, 2026'; {CORPUS}",
    ),
}

GRANTS: dict[str, Grant] = {
    "flex_gbs": Grant(
        100_000,
        "GB-s",
        "per subscription, on-demand only",
        (URL_FUNCTIONS_PRICING, URL_FLEX_PLAN),
        "Learn billing table (ms.date 05/12/2025) says on-demand has a free grant; "
        "amount from the pricing page / Retail Prices API tiers as quoted by stored "
        f"docs; {CORPUS}",
    ),
    "flex_executions": Grant(
        250_000,
        "executions",
        "per subscription, on-demand only",
        (URL_FUNCTIONS_PRICING, URL_FLEX_PLAN),
        f"as flex_gbs; {CORPUS}",
    ),
    "la_gb": Grant(
        5,
        "GB",
        "per billing account (Analytics Logs ingestion)",
        (URL_MONITOR_PRICING, URL_LOGS_COST),
        f"Retail Prices API tier 'first 5 GB' at $0 as quoted by stored docs; {CORPUS}",
    ),
    "aca_vcpu": Grant(
        180_000,
        "vCPU-s",
        "per subscription",
        (URL_ACA_BILLING,),
        f"Learn 'Billing in Azure Container Apps'; {CORPUS}",
    ),
    "aca_mem": Grant(
        360_000,
        "GiB-s",
        "per subscription",
        (URL_ACA_BILLING,),
        f"Learn 'Billing in Azure Container Apps'; {CORPUS}",
    ),
    "aca_requests": Grant(
        2_000_000,
        "requests",
        "per subscription",
        (URL_ACA_BILLING,),
        f"Learn 'Billing in Azure Container Apps'; {CORPUS}",
    ),
}

# Documented billing rules the model applies (Flex Consumption, Learn page above).
FLEX_MIN_BILLED_MS = 1_000  # "minimum billable execution period ... is 1,000 ms"
FLEX_ROUND_MS = 100  # "rounded up to the nearest 100 ms"
FLEX_MEMORY_SIZES_MB = (512, 2048, 4096)  # 2,048 MB is the default
MB_PER_GB_FLEX = 1024  # OnDemandFunctionExecutionUnits (MB-ms) / 1,024,000 = GB-s
BYTES_PER_GB_LOGS = 1e9  # Log Analytics bills GB = 10^9 bytes


@dataclass(frozen=True)
class Workload:
    """Everything the bill depends on, with the production defaults."""

    month_hours: float = 730  # Azure pricing pages' month
    heartbeat_interval_s: float = 15
    check_interval_s: float = 30
    memory_mb: int = 512  # infra/main.bicep instanceMemoryMB
    heartbeat_ms: float = 30
    check_ms: float = 50
    writes_per_heartbeat: float = 1
    reads_per_heartbeat: float = 0
    reads_per_check: float = 1
    writes_per_check: float = 0
    emails_per_month: float = 10
    email_recipients: float = 1
    email_kb: float = 5
    table_writes_per_email: float = 2  # ETag claim + confirm
    other_calls_per_month: float = 10  # /email-test, /status, /enable by hand
    telemetry_kb: float = 1.5  # per invocation, Application Insights -> Log Analytics
    table_kb: float = 4
    package_mb: float = 50
    host_blob_ops_per_hour: float = 720
    old_vcpu: float = 0.25
    old_memory_gib: float = 0.5
    old_active_fraction: float = 1.0
    old_check_interval_s: float = 120

    @property
    def month_s(self) -> float:
        return self.month_hours * 3600

    @property
    def heartbeats(self) -> float:
        return self.month_s / self.heartbeat_interval_s

    @property
    def checks(self) -> float:
        return self.month_s / self.check_interval_s


@dataclass(frozen=True)
class LineItem:
    """One meter of one monitor: how much of it a month uses, and at which price."""

    label: str
    quantity: float
    price_key: str
    grant_key: str | None = None
    assumption: bool = False


@dataclass(frozen=True)
class Costed:
    item: LineItem
    price: Price
    grant_used: float
    list_usd: float
    billed_usd: float


def flex_billed_seconds(duration_ms: float) -> float:
    """Billed length of one activity period that runs ``duration_ms`` of code."""
    rounded = math.ceil(duration_ms / FLEX_ROUND_MS) * FLEX_ROUND_MS
    return max(FLEX_MIN_BILLED_MS, rounded) / 1000


def new_monitor_items(w: Workload) -> list[LineItem]:
    """Meters of the Flex Consumption monitor for one month.

    Each heartbeat and each check is its own activity period: they are 15 s / 30 s
    apart and last tens of milliseconds, and HTTP and timer functions scale in separate
    groups, so no two ever overlap on one instance and each bills the minimum.
    """
    gb = w.memory_mb / MB_PER_GB_FLEX
    calls = w.heartbeats + w.other_calls_per_month
    gbs = (
        calls * flex_billed_seconds(w.heartbeat_ms)
        + w.checks * flex_billed_seconds(w.check_ms)
    ) * gb
    table_tx = (
        w.heartbeats * (w.writes_per_heartbeat + w.reads_per_heartbeat)
        + w.checks * (w.reads_per_check + w.writes_per_check)
        + w.emails_per_month * w.table_writes_per_email
    )
    sent = w.emails_per_month * w.email_recipients
    telemetry_bytes = (calls + w.checks) * w.telemetry_kb * 1000
    return [
        LineItem(
            f"Flex on-demand execution time ({w.memory_mb} MB instance, "
            f"{flex_billed_seconds(w.heartbeat_ms):g} s billed per heartbeat, "
            f"{flex_billed_seconds(w.check_ms):g} s per check)",
            gbs,
            "flex_exec_gbs",
            "flex_gbs",
        ),
        LineItem(
            "Flex on-demand executions (heartbeats + checks + manual calls)",
            calls + w.checks,
            "flex_executions",
            "flex_executions",
        ),
        LineItem(
            f"Table Storage transactions ({w.writes_per_heartbeat:g} write/heartbeat, "
            f"{w.reads_per_check:g} read + {w.writes_per_check:g} write/check)",
            table_tx,
            "table_tx",
        ),
        LineItem(
            f"Table Storage capacity ({w.table_kb:g} KB)",
            w.table_kb / 1024**2,
            "table_gb",
        ),
        LineItem(
            f"Blob Storage, deployment package ({w.package_mb:g} MB, hot LRS)",
            w.package_mb / 1024,
            "blob_gb",
        ),
        LineItem(
            f"Blob Storage, Functions host bookkeeping "
            f"({w.host_blob_ops_per_hour:g} ops/h, priced as writes)",
            w.host_blob_ops_per_hour * w.month_hours,
            "blob_write",
            assumption=True,
        ),
        LineItem(
            f"ACS Email, messages ({w.emails_per_month:g} x "
            f"{w.email_recipients:g} recipient(s))",
            sent,
            "acs_email",
        ),
        LineItem(
            f"ACS Email, data ({w.email_kb:g} KB each)",
            sent * w.email_kb / 1000,
            "acs_mb",
        ),
        LineItem(
            f"App Insights -> Log Analytics ingestion "
            f"({w.telemetry_kb:g} KB/invocation)",
            telemetry_bytes / BYTES_PER_GB_LOGS,
            "la_gb",
            "la_gb",
            assumption=True,
        ),
    ]


def old_monitor_items(w: Workload) -> list[LineItem]:
    """Meters of the 0.x monitor: one Container App replica that never scales in."""
    vcpu_s = w.old_vcpu * w.month_s
    old_checks = w.month_s / w.old_check_interval_s
    requests = w.heartbeats + w.other_calls_per_month
    logs_bytes = (requests + old_checks) * w.telemetry_kb * 1000
    return [
        LineItem(
            f"Container App vCPU, active rate ({w.old_vcpu:g} vCPU x "
            f"{w.old_active_fraction:.0%} of the month)",
            vcpu_s * w.old_active_fraction,
            "aca_vcpu_active",
            "aca_vcpu",
            assumption=w.old_active_fraction > 0,
        ),
        LineItem(
            f"Container App vCPU, idle rate ({w.old_vcpu:g} vCPU x "
            f"{1 - w.old_active_fraction:.0%} of the month)",
            vcpu_s * (1 - w.old_active_fraction),
            "aca_vcpu_idle",
            "aca_vcpu",
        ),
        LineItem(
            f"Container App memory ({w.old_memory_gib:g} GiB, 24x7)",
            w.old_memory_gib * w.month_s,
            "aca_mem",
            "aca_mem",
        ),
        LineItem(
            "Container App HTTP requests (heartbeats + manual calls)",
            requests,
            "aca_requests",
            "aca_requests",
        ),
        LineItem(
            f"Console logs -> Log Analytics ({w.telemetry_kb:g} KB per request/check)",
            logs_bytes / BYTES_PER_GB_LOGS,
            "la_gb",
            "la_gb",
            assumption=True,
        ),
    ]


def price_items(
    items: Sequence[LineItem], prices: dict[str, Price], grants: dict[str, Grant]
) -> list[Costed]:
    """Price each item; a grant is used up by the items that share it, in order."""
    left = {key: grant.amount for key, grant in grants.items()}
    costed = []
    for item in items:
        price = prices[item.price_key]
        used = 0.0
        if item.grant_key is not None:
            used = min(item.quantity, left[item.grant_key])
            left[item.grant_key] -= used
        costed.append(
            Costed(
                item=item,
                price=price,
                grant_used=used,
                list_usd=item.quantity * price.unit_usd,
                billed_usd=(item.quantity - used) * price.unit_usd,
            )
        )
    return costed


def totals(costed: Sequence[Costed]) -> tuple[float, float]:
    return sum(c.list_usd for c in costed), sum(c.billed_usd for c in costed)


def money(usd: float) -> str:
    if usd == 0:
        return "$0.00"
    if abs(usd) < 0.0001:
        return "< $0.0001"
    if abs(usd) < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def amount(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    return plain(float(f"{value:.3g}"))


def unit_of(c: Costed) -> str:
    return c.price.unit.split(" (")[0]


def cost_table(title: str, costed: Sequence[Costed]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| Line item | Quantity / month | Unit price | Free grant used "
        "| Without free grants | With free grants |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in costed:
        mark = " **(assumption)**" if c.item.assumption else ""
        grant = amount(c.grant_used) if c.item.grant_key else "n/a"
        lines.append(
            f"| {c.item.label}{mark} | {amount(c.item.quantity)} {unit_of(c)} "
            f"| {c.price.label()} | {grant} | {money(c.list_usd)} "
            f"| {money(c.billed_usd)} |"
        )
    list_usd, billed_usd = totals(costed)
    lines.append(
        f"| **Total** | | | | **{money(list_usd)}** | **{money(billed_usd)}** |"
    )
    return lines


def sensitivity(
    w: Workload, prices: dict[str, Price], grants: dict[str, Grant]
) -> list[str]:
    """New-monitor totals (with grants) over the two inputs that move the bill most."""
    kbs = (w.telemetry_kb, 5.0, 20.0)
    kbs = tuple(dict.fromkeys(kbs))
    header = " | ".join(f"{kb:g} KB/invocation" for kb in kbs)
    lines = [
        "### Sensitivity: new monitor total with free grants",
        "",
        f"| Instance memory | {header} |",
        "|---|" + "---:|" * len(kbs),
    ]
    for mb in FLEX_MEMORY_SIZES_MB:
        cells = []
        for kb in kbs:
            variant = replace(w, memory_mb=mb, telemetry_kb=kb)
            cells.append(
                money(
                    totals(price_items(new_monitor_items(variant), prices, grants))[1]
                )
            )
        lines.append(f"| {mb} MB | " + " | ".join(cells) + " |")
    no_host = [
        money(totals(price_items(new_monitor_items(v), prices, grants))[1])
        for v in (
            replace(w, host_blob_ops_per_hour=0, memory_mb=mb)
            for mb in (512, w.memory_mb)
        )
    ]
    idle = replace(w, old_active_fraction=0.0)
    _, idle_billed = totals(price_items(old_monitor_items(idle), prices, grants))
    lines += [
        "",
        f"New monitor with no Functions host bookkeeping blob operations: {no_host[0]} "
        f"at 512 MB, {no_host[1]} at {w.memory_mb} MB "
        f"({w.telemetry_kb:g} KB/invocation).",
        "",
        f"First monitor if its replica were billed at the idle vCPU rate all month "
        f"(lower bound): {money(idle_billed)} with free grants.",
    ]
    return lines


def price_table(prices: dict[str, Price], grants: dict[str, Grant]) -> list[str]:
    lines = [
        "### Prices and free grants used",
        "",
        "| Key | Value | Meter / scope | Region | Sources | Read |",
        "|---|---:|---|---|---|---|",
    ]
    for key, p in prices.items():
        links = " ".join(f"<{url}>" for url in p.sources)
        lines.append(
            f"| `{key}` | {p.label()} | {p.meter} | {p.region} | {links} | {p.seen} |"
        )
    for key, g in grants.items():
        links = " ".join(f"<{url}>" for url in g.sources)
        lines.append(
            f"| `grant:{key}` | {g.amount:,.0f} {g.unit} / month | {g.scope} | all "
            f"| {links} | {g.seen} |"
        )
    return lines


def assumptions(w: Workload) -> list[str]:
    return [
        "### Assumptions (explicit, not measured unless stated)",
        "",
        f"- A month is {w.month_hours:g} hours, as on the Azure pricing pages; "
        f"{w.heartbeats:,.0f} heartbeats and {w.checks:,.0f} checks.",
        "- Flex: each heartbeat and each check is its own activity period (they are "
        "seconds apart, last tens of ms, and HTTP and timer functions scale in "
        "separate groups), so each bills the documented 1,000 ms minimum at the "
        "instance memory size. Cold starts and warm idle time are not billed in "
        "on-demand mode (billing counts only time 'actively executing functions').",
        f"- Execution time per invocation: heartbeat {w.heartbeat_ms:g} ms, check "
        f"{w.check_ms:g} ms (pass measured values with --heartbeat-ms / --check-ms; "
        "anything under 1 s bills the same).",
        f"- Functions host bookkeeping in AzureWebJobsStorage (host lock lease, timer "
        f"singleton lease, timer status blob): {w.host_blob_ops_per_hour:g} blob "
        "operations per hour, priced at the write rate as an upper bound (lease "
        "operations may bill as the cheaper 'other' class). Not documented; measure "
        "with the storage account's Transactions metric split by API name.",
        f"- Telemetry: {w.telemetry_kb:g} KB billed per invocation in Log Analytics "
        "(request + a few trace rows); the 5 GB/month grant is per billing account and "
        "assumed unused by anything else.",
        "- All free grants are assumed available to this app alone (no other Flex, "
        "Container Apps or Log Analytics use in the subscription / billing account).",
        f"- First monitor: one replica, {w.old_vcpu:g} vCPU / "
        f"{w.old_memory_gib:g} GiB, "
        f"min replicas 1, {w.old_active_fraction:.0%} of the month at the active vCPU "
        "rate: Container Apps bills the idle rate only while a replica serves no HTTP "
        "request, uses < 0.01 vCPU and receives < 1,000 B/s, and a heartbeat arrives "
        "every 15 s. Its image registry, if not free, is not counted.",
        "- Regions differ: prices are the regions named in the price table (Container "
        "Apps in West US 2 is about 40% dearer for vCPU). Taxes, support plans and "
        "egress (a few KB per heartbeat) are not counted.",
    ]


def render(
    w: Workload,
    prices: dict[str, Price],
    grants: dict[str, Grant],
    command: str,
    today: str,
) -> str:
    new = price_items(new_monitor_items(w), prices, grants)
    old = price_items(old_monitor_items(w), prices, grants)
    new_list, new_billed = totals(new)
    old_list, old_billed = totals(old)
    lines = [
        f"Generated on {today} by `{command}`. The bill does not depend on the machine "
        "that runs the script, so no machine facts are recorded.",
        "",
        "### Summary (USD per month)",
        "",
        "| Monitor | Without free grants | With free grants |",
        "|---|---:|---:|",
        f"| New: Azure Functions, Flex Consumption ({w.memory_mb} MB) "
        f"| {money(new_list)} | {money(new_billed)} |",
        f"| First (0.x): Container App, {w.old_vcpu:g} vCPU / {w.old_memory_gib:g} GiB "
        f"24x7 | {money(old_list)} | {money(old_billed)} |",
        "",
        *cost_table(
            f"New monitor: Azure Functions Flex Consumption (FC1), {w.memory_mb} MB",
            new,
        ),
        "",
        *cost_table(
            f"First monitor (0.x): Container App, {w.old_vcpu:g} vCPU / "
            f"{w.old_memory_gib:g} GiB, always on",
            old,
        ),
        "",
        *sensitivity(w, prices, grants),
        "",
        *price_table(prices, grants),
        "",
        *assumptions(w),
    ]
    return "\n".join(lines) + "\n"


BEGIN = "<!-- BEGIN GENERATED by bench/cost_model.py: edit above this line only -->"
END = "<!-- END GENERATED by bench/cost_model.py -->"


def update_markdown(path: Path, generated: str) -> None:
    """Replace the generated block of ``path``; keep the hand-written text around it."""
    block = f"{BEGIN}\n{generated}{END}\n"
    if not path.exists():
        path.write_text(f"# Cost of the external monitor\n\n{block}")
        return
    text = path.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(head + block.rstrip("\n") + tail)
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + block)


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def parse_override(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), non_negative(value)


def apply_overrides(
    overrides: Sequence[tuple[str, float]],
) -> tuple[dict[str, Price], dict[str, Grant]]:
    """New price/grant tables with ``KEY=VALUE`` applied (``grant:KEY`` for grants)."""
    prices, grants = dict(PRICES), dict(GRANTS)
    for key, value in overrides:
        if key.startswith("grant:") and key[6:] in grants:
            grants[key[6:]] = replace(
                grants[key[6:]], amount=value, seen="overridden on the command line"
            )
        elif key in prices:
            prices[key] = replace(
                prices[key], usd=value, seen="overridden on the command line"
            )
        else:
            known = ", ".join([*prices, *(f"grant:{k}" for k in grants)])
            raise SystemExit(
                f"cost_model: unknown price key {key!r}; use one of: {known}"
            )
    return prices, grants


def build_parser() -> argparse.ArgumentParser:
    d = Workload()
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = p.add_argument
    add(
        "--heartbeat-interval",
        type=positive,
        default=d.heartbeat_interval_s,
        help="seconds between heartbeats from LCO",
    )
    add(
        "--check-interval",
        type=positive,
        default=d.check_interval_s,
        help="seconds between timer checks",
    )
    add(
        "--memory-mb",
        type=int,
        choices=FLEX_MEMORY_SIZES_MB,
        default=d.memory_mb,
        help="Flex instance memory size",
    )
    add(
        "--heartbeat-ms",
        type=positive,
        default=d.heartbeat_ms,
        help="measured execution time of one heartbeat",
    )
    add(
        "--check-ms",
        type=positive,
        default=d.check_ms,
        help="measured execution time of one quiet check",
    )
    add("--writes-per-heartbeat", type=non_negative, default=d.writes_per_heartbeat)
    add("--reads-per-heartbeat", type=non_negative, default=d.reads_per_heartbeat)
    add("--reads-per-check", type=non_negative, default=d.reads_per_check)
    add("--writes-per-check", type=non_negative, default=d.writes_per_check)
    add(
        "--emails-per-month",
        type=non_negative,
        default=d.emails_per_month,
        help="alerts + all-clears + tests",
    )
    add(
        "--email-recipients",
        type=positive,
        default=d.email_recipients,
        help="ACS bills each recipient",
    )
    add("--email-kb", type=non_negative, default=d.email_kb)
    add(
        "--other-calls-per-month",
        type=non_negative,
        default=d.other_calls_per_month,
        help="manual HTTP calls (/status, /email-test, ...)",
    )
    add(
        "--telemetry-kb",
        type=non_negative,
        default=d.telemetry_kb,
        help="Log Analytics KB billed per invocation",
    )
    add("--table-kb", type=non_negative, default=d.table_kb)
    add("--package-mb", type=non_negative, default=d.package_mb)
    add(
        "--host-blob-ops-per-hour",
        type=non_negative,
        default=d.host_blob_ops_per_hour,
        help="assumed Functions host lease/status blob operations",
    )
    add("--old-vcpu", type=positive, default=d.old_vcpu)
    add("--old-memory-gib", type=positive, default=d.old_memory_gib)
    add(
        "--old-active-fraction",
        type=fraction,
        default=d.old_active_fraction,
        help="share of the month the 0.x replica bills the active vCPU rate",
    )
    add(
        "--old-check-interval",
        type=positive,
        default=d.old_check_interval_s,
        help="seconds between the 0.x in-process checks (for its log volume)",
    )
    add("--month-hours", type=positive, default=d.month_hours)
    add(
        "--price",
        type=parse_override,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a price (in its published unit) or a grant (grant:KEY)",
    )
    add(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also rewrite the generated block of this Markdown file",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    w = Workload(
        month_hours=args.month_hours,
        heartbeat_interval_s=args.heartbeat_interval,
        check_interval_s=args.check_interval,
        memory_mb=args.memory_mb,
        heartbeat_ms=args.heartbeat_ms,
        check_ms=args.check_ms,
        writes_per_heartbeat=args.writes_per_heartbeat,
        reads_per_heartbeat=args.reads_per_heartbeat,
        reads_per_check=args.reads_per_check,
        writes_per_check=args.writes_per_check,
        emails_per_month=args.emails_per_month,
        email_recipients=args.email_recipients,
        email_kb=args.email_kb,
        other_calls_per_month=args.other_calls_per_month,
        telemetry_kb=args.telemetry_kb,
        table_kb=args.table_kb,
        package_mb=args.package_mb,
        host_blob_ops_per_hour=args.host_blob_ops_per_hour,
        old_vcpu=args.old_vcpu,
        old_memory_gib=args.old_memory_gib,
        old_active_fraction=args.old_active_fraction,
        old_check_interval_s=args.old_check_interval,
    )
    prices, grants = apply_overrides(args.price)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python3", "bench/cost_model.py", *argv_used])
    today = datetime.now(UTC).date().isoformat()
    generated = render(w, prices, grants, command, today)
    sys.stdout.write(generated)
    if args.markdown is not None:
        update_markdown(args.markdown, generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
