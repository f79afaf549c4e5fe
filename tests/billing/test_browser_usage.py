"""The usage page in a real browser: log in, switch the group-by, and the chart follows."""

from pathlib import Path

import pytest

from tests.billing.test_views_billing import recent_run
from tests.conftest import apply_now, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/ui/billing")  # screenshots stay out of the repo

LEGEND = "els => els.map(e => e.textContent)"


@pytest.fixture
def two_agents_two_models(transactional_db, project):
    apply_now(
        project,
        recent_run("r1", agent="invoice-bot", model="gpt-4o", hours=3)
        + recent_run("r2", agent="support-triage", model="claude-sonnet-4-5", hours=2)
        + recent_run("r3", agent="support-triage", model="gpt-4o", hours=1),
    )


def legend(page, chart: str) -> set[str]:
    page.wait_for_selector(f"#{chart} .legendtext")
    return set(page.eval_on_selector_all(f"#{chart} .legendtext", LEGEND))


def test_switching_group_by_turns_the_legend_from_models_to_agents(
    two_agents_two_models, owner, live_server, page
):
    log_in(page, live_server.url, owner.username)
    page.goto(f"{live_server.url}/usage/?range=24h&group=model")
    assert legend(page, "cost-chart") == {"gpt-4o", "claude-sonnet-4-5"}

    page.click("a[data-group=agent]")
    page.wait_for_url("**group=agent**")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#cost-chart .legendtext')]"
        ".some(e => e.textContent === 'invoice-bot')"
    )

    assert legend(page, "cost-chart") == {"invoice-bot", "support-triage"}
    assert page.inner_text("#token-table thead th:first-child") == "Agent"
    assert page.get_attribute("a[data-group=agent]", "aria-current") == "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "browser-usage-by-agent.png"), full_page=True)

    page.go_back()  # the URL held the state: back is the model view again
    page.wait_for_url("**group=model**")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#cost-chart .legendtext')]"
        ".some(e => e.textContent === 'gpt-4o')"
    )
