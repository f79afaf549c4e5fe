"""Every main page under the Content-Security-Policy, in a real browser: charts drawn,
htmx panes loaded, and not one CSP violation or script error on the way."""

import time

import pytest

from runs.models import ErrorGroup, Run
from shares.services import share_path, sharelink_create
from tests.billing.test_views_billing import hours_ago, recent_run
from tests.conftest import apply_now, ev, log_in
from tests.runs.test_views_run_detail import a_failed_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The page's own listener sees violations the console may word differently per version.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => {
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                    " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture
def studio_data(project):
    at = hours_ago(3)
    apply_now(
        project,
        a_failed_run("run_1")
        + recent_run("r2", agent="support-triage", model="gpt-4o", hours=2)
        + [ev("run_start", "live_1", at=hours_ago(0.01), seq=0)]  # still running: polled
        + [
            ev("revenue", "r2", at=at, kind="charge", amount="19.99", currency="USD",
               agent="support-triage", customer_id="cus_a"),
            ev("revenue", "r2", at=at + 1, kind="refund", amount="5.00", currency="USD",
               agent="support-triage", customer_id="cus_a"),
        ],
    )  # fmt: skip


@pytest.fixture
def watched_page(page):
    """The page, recording CSP violations and uncaught script errors."""
    problems: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.problems = problems
    return page


def _visit(page, url: str, ready: str) -> None:
    page.goto(url)
    page.wait_for_selector(ready)
    time.sleep(0.3)  # late injected styles and deferred scripts
    page.problems.extend(f"{url}: {v}" for v in page.evaluate("window.__csp"))


def test_no_page_breaks_the_content_security_policy(
    studio_data, owner, project, live_server, watched_page
):
    page, base = watched_page, live_server.url
    group = ErrorGroup.objects.filter(project=project).first()
    run = Run.objects.get(project=project, run_id="run_1")
    _, token = sharelink_create(run=run, created_by=owner)
    log_in(page, base, owner.username)

    policy = page.request.get(f"{base}/runs/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy

    with page.expect_request(lambda r: "hx-request" in r.headers, timeout=10_000) as poll:
        _visit(page, f"{base}/runs/", "[data-row]")  # live, so it polls every 5 s
    assert poll.value.headers.get("hx-trigger") == "runs-poll"
    page.fill("#runs-q", "support")  # an htmx partial through the filters
    page.wait_for_function("() => document.querySelectorAll('[data-row]').length === 1")

    _visit(page, f"{base}/runs/run_1/", "#run-detail .waterfall__row")
    page.locator(".waterfall__row[data-key^='tool']").first.click()  # an htmx pane
    page.wait_for_url("**item=tool**")
    page.wait_for_selector("#detail-pane .rd-pane__head")
    _visit(page, f"{base}/runs/run_1/checklist/", "main")
    _visit(page, f"{base}/runs/compare/?a=run_1&b=r2", "main")
    _visit(page, f"{base}/runs/health/", "main")
    _visit(page, f"{base}/errors/", "[data-row]")
    _visit(page, f"{base}/errors/{group.pk}/", "#error-chart .main-svg")
    _visit(page, f"{base}/usage/?range=24h", "#cost-chart .main-svg")
    _visit(page, f"{base}/revenue/?range=all", ".js-plotly-plot .main-svg")
    _visit(page, f"{base}/settings/", "#audit")
    _visit(page, f"{base}/settings/prices/", "main")
    _visit(page, f"{base}/alerts/", "main")
    _visit(page, f"{base}{share_path(token)}", "main")

    assert page.problems == []


def test_the_live_runs_list_polls_only_while_the_tab_is_visible(
    studio_data, owner, live_server, page
):
    # A headless tab is always visible; overriding the property studio.js reads stands
    # in for switching tabs.
    page.add_init_script(
        "Object.defineProperty(document, 'visibilityState', "
        "{get: () => window.__hidden ? 'hidden' : 'visible'});"
    )
    polls: list[str] = []
    page.on(
        "request",
        lambda r: polls.append(r.url) if r.headers.get("hx-trigger") == "runs-poll" else None,
    )
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/runs/")
    page.wait_for_selector("#runs-poll[data-poll-visible]", state="attached")

    page.evaluate("window.__hidden = true")
    polls.clear()
    page.wait_for_timeout(6_000)  # more than one 5 s period
    assert polls == []

    page.evaluate("window.__hidden = false")
    with page.expect_request(lambda r: r.headers.get("hx-trigger") == "runs-poll", timeout=8_000):
        pass
