"""The runs list page: filters, counts, pages, live refresh, isolation, escaping."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Run
from runs.views import runs as runs_view
from tests.conftest import T0, apply_now, ev, login

URL = "/runs/"
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/runs/"}


def ago(seconds: float) -> float:
    """`at` for ev(): this many seconds before now."""
    return (timezone.now() - T0).total_seconds() - seconds


def run_events(
    run_id: str,
    *,
    status: str = "succeeded",
    agent: str = "invoice-bot",
    environment: str = "cloud",
    started: float = 3600,
    duration: float = 10,
    inputs: dict | None = None,
    error: dict | None = None,
) -> list[dict]:
    """Events for one run that started `started` seconds ago and ended as `status`."""
    at = ago(started)
    events = [
        ev(
            "run_start",
            run_id,
            at=at,
            agent=agent,
            inputs=inputs if inputs is not None else {"invoice": run_id},
            environment=environment,
        )
    ]
    end = at + duration
    if status == "succeeded":
        events.append(ev("run_end", run_id, at=end, agent=agent))
    elif status == "failed":
        error = error or {"type": "ValueError", "message": "bad total"}
        events.append(ev("error", run_id, at=end, agent=agent, error=error))
    elif status != "running":
        events.append(ev("status", run_id, at=end, agent=agent, status=status))
    return events


def make_runs(project, *specs: dict) -> None:
    apply_now(project, [event for spec in specs for event in run_events(**spec)])


def shown_run_ids(response) -> list[str]:
    return re.findall(r'<tr data-row data-href="/runs/([^/"]+)/"', response.content.decode())


@pytest.fixture
def client(owner):
    return login(owner)


# Empty states ----------------------------------------------------------------------------


def test_new_project_is_shown_how_to_send_its_first_events(client, project):
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "No runs yet" in body
    assert "/api/v1/ingest" in body
    assert "Settings → API keys" in body
    assert "application/x-ndjson" in body


def test_a_project_without_runs_points_to_ingest_health(client, project):
    body = client.get(URL).content.decode()
    assert "Sent events but see nothing?" in body
    assert '<a href="/runs/health/">Check ingest health</a>' in body
    assert "refused events and pending batches show there" in body


def test_filters_that_match_nothing_say_so_and_offer_to_clear_them(client, project):
    make_runs(project, {"run_id": "run_a"})
    response = client.get(URL, {"status": "failed"})
    body = response.content.decode()
    assert "No runs match these filters" in body
    assert 'href="/runs/">Clear all filters' in body
    assert "No runs yet" not in body


# The rows --------------------------------------------------------------------------------


def test_a_run_shows_status_agent_environment_and_links_to_its_page(client, project):
    make_runs(project, {"run_id": "run_a", "agent": "invoice-bot", "environment": "docker"})
    response = client.get(URL)
    body = response.content.decode()
    assert shown_run_ids(response) == ["run_a"]
    assert 'class="badge badge--succeeded">succeeded<' in body
    assert "invoice-bot" in body and "1.4.0" in body
    assert '<span class="tag">docker</span>' in body
    assert 'href="/runs/run_a/"' in body
    assert "data-relative" in body and ">10 s<" in body


def test_a_failed_run_shows_its_error(client, project):
    error = {"type": "KeyError", "message": "'STRIPE_API_KEY'\nmore lines"}
    make_runs(project, {"run_id": "run_a", "status": "failed", "error": error})
    body = client.get(URL).content.decode()
    assert "KeyError: &#x27;STRIPE_API_KEY&#x27;" in body


# Links to ingest health and compare -------------------------------------------------------


def test_the_page_header_links_to_ingest_health(client, project):
    make_runs(project, {"run_id": "run_a"})
    body = client.get(URL).content.decode()
    header = body.split('<div class="page-header__actions">')[1].split("</div>")[0]
    assert 'href="/runs/health/"' in header and ">Ingest health</a>" in header


def test_each_row_has_a_compare_checkbox_and_the_compare_bar_waits_for_ticks(client, project):
    make_runs(project, {"run_id": "run_a"}, {"run_id": "run_b", "started": 60})
    response = client.get(URL)
    body = response.content.decode()
    boxes = re.findall(r'<input type="checkbox" value="([^"]+)" data-compare-pick', body)
    assert boxes == shown_run_ids(response) == ["run_b", "run_a"]
    assert 'aria-label="Tick run_a to compare"' in body
    assert re.search(r'data-compare-bar data-compare-url="/runs/compare/"[^>]*hidden>', body)
    # Without JavaScript the Compare button still reaches the compare page.
    assert '<a class="btn btn--small" href="/runs/compare/" data-compare-go>Compare</a>' in body


def test_rows_loaded_by_htmx_have_their_compare_checkbox_too(client, project):
    make_runs(project, {"run_id": "run_a", "status": "failed"})
    partial = client.get(URL, {"status": "failed"}, headers=HTMX).content.decode()
    assert '<input type="checkbox" value="run_a" data-compare-pick' in partial
    assert "data-compare-bar" not in partial  # the bar stays outside the swapped results


def test_a_run_id_in_the_compare_checkbox_is_escaped(client, project):
    make_runs(project, {"run_id": 'run_"><b>x'})
    body = client.get(URL).content.decode()
    assert 'value="run_&quot;&gt;&lt;b&gt;x" data-compare-pick' in body
    assert "<b>x" not in body


# Filters ---------------------------------------------------------------------------------


def test_status_filter_shows_only_runs_with_that_status(client, project):
    make_runs(
        project,
        {"run_id": "run_ok", "status": "succeeded"},
        {"run_id": "run_bad", "status": "failed"},
        {"run_id": "run_late", "status": "timed_out"},
    )
    assert shown_run_ids(client.get(URL, {"status": "failed"})) == ["run_bad"]
    both = client.get(URL, {"status": "failed,timed_out"})
    assert sorted(shown_run_ids(both)) == ["run_bad", "run_late"]


def test_stalled_filter_shows_only_stalled_runs_and_its_chip_counts_them(client, project):
    make_runs(
        project,
        {"run_id": "run_hung", "status": "running"},
        {"run_id": "run_busy", "status": "running"},
        {"run_id": "run_ok"},
    )
    Run.objects.filter(run_id="run_hung").update(stalled=True)
    response = client.get(URL, {"status": "stalled"})
    assert shown_run_ids(response) == ["run_hung"]
    body = response.content.decode()
    assert re.search(r'data-status="stalled" data-count="1"', body)
    assert re.search(r'data-status="running" data-count="2"', body)
    assert 'class="badge badge--stalled"' in body


def test_status_chips_count_every_status_over_the_other_filters(client, project):
    make_runs(
        project,
        {"run_id": "r1", "agent": "invoice-bot", "status": "failed"},
        {"run_id": "r2", "agent": "invoice-bot", "status": "failed"},
        {"run_id": "r3", "agent": "invoice-bot"},
        {"run_id": "r4", "agent": "support-triage", "status": "failed"},
    )
    body = client.get(URL, {"agent": "invoice-bot", "status": "succeeded"}).content.decode()
    assert 'data-status="failed" data-count="2"' in body
    assert 'data-status="succeeded" data-count="1"' in body
    assert re.search(r'All <span class="chip__count">3</span>', body)


def test_counts_cover_the_last_7_days_when_no_range_is_chosen(client, project):
    make_runs(
        project,
        {"run_id": "run_new", "started": 3600},
        {"run_id": "run_old", "started": 20 * 86400},
    )
    response = client.get(URL)
    body = response.content.decode()
    assert shown_run_ids(response) == ["run_new", "run_old"]  # the table is not bounded
    assert 'data-status="succeeded" data-count="1"' in body
    assert "7d" in body and "last 7 days" in body
    body_30d = client.get(URL, {"range": "30d"}).content.decode()
    assert 'data-status="succeeded" data-count="2"' in body_30d


def test_agent_filter_shows_that_agents_runs_and_lists_the_projects_agents(client, project):
    make_runs(
        project,
        {"run_id": "run_a", "agent": "invoice-bot"},
        {"run_id": "run_b", "agent": "data-sync"},
    )
    response = client.get(URL, {"agent": "data-sync"})
    assert shown_run_ids(response) == ["run_b"]
    body = response.content.decode()
    assert '<option value="data-sync" selected>data-sync</option>' in body
    assert '<option value="invoice-bot">invoice-bot</option>' in body


def test_environment_filter(client, project):
    make_runs(
        project,
        {"run_id": "run_local", "environment": "local"},
        {"run_id": "run_cloud", "environment": "cloud"},
    )
    assert shown_run_ids(client.get(URL, {"environment": "local"})) == ["run_local"]


def test_time_range_presets_and_custom_since_until(client, project):
    make_runs(
        project,
        {"run_id": "run_hour", "started": 30 * 60},
        {"run_id": "run_day", "started": 5 * 3600},
        {"run_id": "run_week", "started": 3 * 86400},
    )
    assert shown_run_ids(client.get(URL, {"range": "1h"})) == ["run_hour"]
    assert shown_run_ids(client.get(URL, {"range": "24h"})) == ["run_hour", "run_day"]
    now = timezone.now()
    since = (now - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    until = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    custom = client.get(URL, {"range": "custom", "since": since, "until": until})
    assert shown_run_ids(custom) == ["run_day", "run_week"]
    # An API-style since without a range is a custom range too.
    assert shown_run_ids(client.get(URL, {"since": since, "until": until})) == [
        "run_day",
        "run_week",
    ]


def test_search_finds_runs_by_run_id_input_text_and_error_message(client, project):
    make_runs(
        project,
        {"run_id": "run_alpha", "inputs": {"customer": "Globex"}},
        {"run_id": "run_beta", "inputs": {"customer": "Initech"}},
        {
            "run_id": "run_gamma",
            "status": "failed",
            "error": {"type": "TimeoutError", "message": "quickbooks timed out"},
        },
    )
    assert shown_run_ids(client.get(URL, {"q": "run_alpha"})) == ["run_alpha"]
    assert shown_run_ids(client.get(URL, {"q": "initech"})) == ["run_beta"]
    assert shown_run_ids(client.get(URL, {"q": "quickbooks"})) == ["run_gamma"]
    assert shown_run_ids(client.get(URL, {"q": "nothing-like-this"})) == []


def test_sort_by_duration_lists_the_longest_runs_first(client, project):
    make_runs(
        project,
        {"run_id": "run_short", "duration": 2, "started": 100},
        {"run_id": "run_long", "duration": 90, "started": 300},
        {"run_id": "run_mid", "duration": 30, "started": 200},
    )
    assert shown_run_ids(client.get(URL)) == ["run_short", "run_mid", "run_long"]
    assert shown_run_ids(client.get(URL, {"sort": "duration"})) == [
        "run_long",
        "run_mid",
        "run_short",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "exploded"}, "status: unknown status"),
        ({"since": "last tuesday"}, "since: expected an RFC 3339 time"),
        ({"range": "2y"}, "range: use one of"),
        ({"environment": "mars"}, "environment: use one of"),
        ({"sort": "cost"}, "sort: must be one of"),
        ({"cursor": "not-a-cursor"}, "cursor: not a cursor"),
        (
            {"since": "2026-11-20T10:00", "until": "2026-11-20T09:00"},
            "until: must be later than since",
        ),
    ],
)
def test_bad_filter_values_explain_themselves_on_the_page(client, project, params, message):
    response = client.get(URL, params)
    assert response.status_code == 400
    body = response.content.decode()
    assert "These filters can" in body and message in body
    assert 'href="/runs/">Clear all filters' in body


def test_a_bad_filter_from_htmx_gets_the_message_in_the_partial(client, project):
    response = client.get(URL, {"range": "forever"}, headers=HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert "range: use one of" in body
    assert "<html" not in body


# htmx: partials, URL, pages, live --------------------------------------------------------


def test_htmx_filter_returns_the_results_partial_and_pushes_a_clean_url(client, project):
    make_runs(project, {"run_id": "run_a", "status": "failed"}, {"run_id": "run_b"})
    response = client.get(
        URL, {"q": "", "agent": "", "environment": "", "range": "", "status": "failed"},
        headers=HTMX,
    )  # fmt: skip
    body = response.content.decode()
    assert "<html" not in body and 'id="run-filters"' not in body
    assert shown_run_ids(response) == ["run_a"]
    assert response["HX-Push-Url"] == "/runs/?status=failed"
    assert "HX-Request" in response["Vary"]


def test_htmx_request_for_the_url_already_shown_does_not_push_it_again(client, project):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/runs/?status=failed"}
    response = client.get(URL, {"status": "failed"}, headers=headers)
    assert "HX-Push-Url" not in response


def test_load_more_pages_are_stable_when_new_runs_arrive(client, project, monkeypatch):
    monkeypatch.setattr(runs_view, "PAGE_SIZE", 2)
    make_runs(project, *({"run_id": f"run_{n}", "started": 1000 - n} for n in range(5)))
    first = client.get(URL)
    assert shown_run_ids(first) == ["run_4", "run_3"]
    next_url = re.search(r'hx-get="([^"]*cursor=[^"]*)"', first.content.decode()).group(1)
    make_runs(project, *({"run_id": f"new_{n}", "started": 10 - n} for n in range(3)))
    seen = shown_run_ids(first)
    while next_url:
        page = client.get(next_url.replace("&amp;", "&"), headers=HTMX)
        body = page.content.decode()
        assert "<html" not in body
        seen += shown_run_ids(page)
        match = re.search(r'hx-get="([^"]*cursor=[^"]*)"', body)
        next_url = match.group(1) if match else None
    assert seen == ["run_4", "run_3", "run_2", "run_1", "run_0"]


def test_load_more_appends_rows_and_stops_live_refresh(client, project, monkeypatch):
    monkeypatch.setattr(runs_view, "PAGE_SIZE", 1)
    make_runs(project, {"run_id": "run_a", "status": "running"}, {"run_id": "run_b"})
    first = client.get(URL).content.decode()
    next_url = re.search(r'hx-get="([^"]*cursor=[^"]*)"', first).group(1).replace("&amp;", "&")
    more = client.get(next_url, headers=HTMX).content.decode()
    assert more.startswith("<tbody>")
    assert '<tbody id="runs-poll" hx-swap-oob="true"></tbody>' in more


def test_the_first_page_polls_only_while_it_shows_running_runs(client, project):
    make_runs(project, {"run_id": "run_done"})
    assert 'hx-trigger="every 5s' not in client.get(URL).content.decode()
    make_runs(project, {"run_id": "run_live", "status": "running", "started": 5})
    body = client.get(URL).content.decode()
    assert 'hx-trigger="every 5s' in body
    assert 'class="runs-live"' in body
    poll = client.get(URL, headers={**HTMX, "HX-Trigger": "runs-poll"})
    assert "HX-Push-Url" not in poll
    assert shown_run_ids(poll) == ["run_live", "run_done"]


# Who sees what ---------------------------------------------------------------------------


def test_lists_never_include_another_organizations_runs(client, project, other_project, outsider):
    make_runs(project, {"run_id": "run_acme", "agent": "invoice-bot"})
    make_runs(other_project, {"run_id": "run_globex", "agent": "globex-agent"})
    response = client.get(URL)
    assert shown_run_ids(response) == ["run_acme"]
    assert "globex-agent" not in response.content.decode()  # not even in the agent select
    assert shown_run_ids(client.get(URL, {"q": "run_globex"})) == []
    assert shown_run_ids(client.get(URL, {"agent": "globex-agent"})) == []
    assert shown_run_ids(login(outsider).get(URL)) == ["run_globex"]


def test_a_viewer_can_see_runs(project, make_member):
    make_runs(project, {"run_id": "run_a"})
    response = login(make_member("viewer")).get(URL)
    assert response.status_code == 200
    assert shown_run_ids(response) == ["run_a"]


def test_anonymous_visitors_are_sent_to_log_in(db):
    from django.test import Client

    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_user_content_is_escaped(client, project):
    script = "<script>alert(1)</script>"
    make_runs(
        project,
        {
            "run_id": "run_x",
            "agent": f"agent{script}",
            "inputs": {"text": script},
            "status": "failed",
            "error": {"type": "ValueError", "message": script},
        },
    )
    body = client.get(URL).content.decode()
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    # In the agent select and filter values too.
    body = client.get(URL, {"agent": f"agent{script}", "q": script}).content.decode()
    assert "<script>alert(1)" not in body


# Queries ---------------------------------------------------------------------------------


def _many(count: int) -> list[dict]:
    statuses = ["succeeded", "failed", "running", "timed_out"]
    return [
        {
            "run_id": f"run_{n}",
            "status": statuses[n % 4],
            "agent": f"agent-{n % 3}",
            "started": 60 * (n + 1),
        }
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [1, 30])
def test_the_page_makes_a_fixed_number_of_queries(
    client, project, count, django_assert_max_num_queries
):
    make_runs(project, *_many(count))
    client.get(URL)  # warm the session
    # Session, user, membership, projects; then the rows, the status counts, the agents.
    with django_assert_max_num_queries(7):
        response = client.get(URL, {"range": "30d"})
    assert len(shown_run_ids(response)) == count
    with django_assert_max_num_queries(6):
        partial = client.get(URL, {"status": "failed", "q": "run"}, headers=HTMX)
    assert partial.status_code == 200


def test_both_ways_of_counting_statuses_agree(project):
    from runs.selectors.runs import RunFilters, run_status_counts

    make_runs(
        project,
        {"run_id": "r1", "status": "failed"},
        {"run_id": "r2", "status": "running"},
        {"run_id": "r3", "status": "running"},
        {"run_id": "r4"},
        {"run_id": "r5", "status": "cancelled", "started": 2 * 86400},
        {"run_id": "r6", "started": 9 * 86400},
    )
    Run.objects.filter(run_id="r2").update(stalled=True)
    by_index = run_status_counts(project=project, filters=RunFilters())
    grouped = run_status_counts(project=project, filters=RunFilters(environment="cloud"))
    expected = {"failed": 1, "running": 2, "succeeded": 1, "cancelled": 1}
    assert by_index.by_status == grouped.by_status == expected
    assert by_index.stalled == grouped.stalled == 1
    assert by_index.total == 5
