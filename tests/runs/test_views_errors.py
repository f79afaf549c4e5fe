"""Error pages: the group list with trends, one group's page, isolation, escaping."""

import re

import pytest
from django.utils import timezone

from runs.models import ErrorGroup
from runs.views import errors as errors_view
from runs.views.errors import traceback_lines
from tests.conftest import T0, apply_now, ev, login

URL = "/errors/"
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/errors/"}
TRACEBACK = """Traceback (most recent call last):
  File "/usr/lib/python3.12/site-packages/charm/agent.py", line 131, in ainvoke
    return await self._loop(inputs)
  File "/app/invoice_bot/billing.py", line 42, in charge
    client = stripe.StripeClient(os.environ["STRIPE_API_KEY"])
KeyError: 'STRIPE_API_KEY'"""


def ago(seconds: float) -> float:
    return (timezone.now() - T0).total_seconds() - seconds


def crash(run_id: str, *, error_type: str = "KeyError", message: str = "'STRIPE_API_KEY'",
          agent: str = "invoice-bot", started: float = 3600, traceback: str | None = None,
          ) -> list[dict]:  # fmt: skip
    """A run that starts and crashes with this error."""
    at = ago(started)
    error = {"type": error_type, "message": message}
    if traceback:
        error["traceback"] = traceback
    return [
        ev("run_start", run_id, at=at, agent=agent, inputs={"n": run_id}),
        ev("error", run_id, at=at + 5, agent=agent, error=error),
    ]


def tool_failure(run_id: str, *, error_type: str = "TimeoutError", times: int = 1,
                 agent: str = "invoice-bot", started: float = 3600) -> list[dict]:  # fmt: skip
    """A run whose search tool fails `times` times, then succeeds."""
    at = ago(started)
    error = {"type": error_type, "message": "search timed out after 30 s"}
    events = [ev("run_start", run_id, at=at, agent=agent, inputs={"n": run_id})]
    events += [
        ev("tool_error", run_id, at=at + 1 + n, agent=agent, tool_name="search", error=error)
        for n in range(times)
    ]
    return [*events, ev("run_end", run_id, at=at + 10 + times, agent=agent)]


def group_ids(response) -> list[int]:
    return [
        int(n)
        for n in re.findall(r'<tr data-row data-href="/errors/(\d+)/"', response.content.decode())
    ]


def run_ids(response) -> list[str]:
    return re.findall(r'<tr data-row data-href="/runs/([^/"]+)/"', response.content.decode())


@pytest.fixture
def client(owner):
    return login(owner)


def group(project, error_type: str) -> ErrorGroup:
    return ErrorGroup.objects.get(project=project, error_type=error_type)


# The list --------------------------------------------------------------------------------


def test_a_project_without_errors_is_told_what_will_show_here(client, project):
    body = client.get(URL).content.decode()
    assert "No errors" in body and "tool_error" in body


def test_a_group_shows_its_counts_kind_agents_and_last_seen(client, project):
    apply_now(project, crash("run_1") + crash("run_2", agent="data-sync"))
    response = client.get(URL)
    body = response.content.decode()
    assert group_ids(response) == [group(project, "KeyError").pk]
    assert 'KeyError</span><span class="muted">: &#x27;STRIPE_API_KEY&#x27;' in body
    assert "run crash" in body
    assert '<span class="tag">invoice-bot</span>' in body
    assert '<span class="tag">data-sync</span>' in body
    assert '<td class="num">2</td>' in body  # events and runs
    assert "data-relative" in body


def test_the_trend_counts_events_per_day_over_14_days(client, project):
    apply_now(
        project,
        crash("run_today")
        + crash("run_earlier", started=3 * 86400)
        + crash("run_old", started=20 * 86400),
    )
    body = client.get(URL).content.decode()
    assert 'aria-label="2 events in the last 14 days"' in body
    assert body.count("<rect ") == 14
    assert body.count('class="is-zero"') == 12


def test_groups_can_be_filtered_by_kind(client, project):
    apply_now(project, crash("run_1") + tool_failure("run_2"))
    crashes = client.get(URL, {"kind": "run"})
    tools = client.get(URL, {"kind": "tool"})
    assert group_ids(crashes) == [group(project, "KeyError").pk]
    assert group_ids(tools) == [group(project, "TimeoutError").pk]
    assert "tool error" in tools.content.decode()


def test_groups_can_be_filtered_by_agent_and_searched(client, project):
    apply_now(
        project,
        crash("run_1", agent="invoice-bot")
        + crash("run_2", agent="data-sync", error_type="ValueError", message="bad json"),
    )
    assert group_ids(client.get(URL, {"agent": "data-sync"})) == [group(project, "ValueError").pk]
    assert group_ids(client.get(URL, {"q": "stripe"})) == [group(project, "KeyError").pk]
    empty = client.get(URL, {"q": "nothing"}).content.decode()
    assert "No error groups match these filters" in empty


def test_groups_sort_by_last_seen_or_by_count(client, project):
    apply_now(
        project,
        tool_failure("run_many", times=5, started=7200) + crash("run_recent", started=60),
    )
    key, timeout = group(project, "KeyError").pk, group(project, "TimeoutError").pk
    assert group_ids(client.get(URL)) == [key, timeout]
    assert group_ids(client.get(URL, {"sort": "count"})) == [timeout, key]


def test_load_more_pages_through_every_group_once(client, project, monkeypatch):
    monkeypatch.setattr(errors_view, "PAGE_SIZE", 2)
    events = []
    for n in range(5):
        events += crash(f"run_{n}", error_type=f"Error{n}", started=1000 - n)
    apply_now(project, events)
    first = client.get(URL)
    seen = group_ids(first)
    body = first.content.decode()
    while match := re.search(r'hx-get="([^"]*cursor=[^"]*)"', body):
        page = client.get(match.group(1).replace("&amp;", "&"), headers=HTMX)
        body = page.content.decode()
        assert "<html" not in body
        seen += group_ids(page)
    expected = list(
        ErrorGroup.objects.filter(project=project)
        .order_by("-last_seen")
        .values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 5


def test_htmx_filters_return_the_partial_and_push_the_url(client, project):
    apply_now(project, crash("run_1") + tool_failure("run_2"))
    response = client.get(URL, {"kind": "tool", "agent": "", "q": ""}, headers=HTMX)
    assert "<html" not in response.content.decode()
    assert response["HX-Push-Url"] == "/errors/?kind=tool"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "explosion"}, "kind: use run or tool"),
        ({"sort": "random"}, "sort: use last_seen or count"),
        ({"cursor": "###"}, "cursor: not a cursor"),
    ],
)
def test_bad_filter_values_explain_themselves(client, project, params, message):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_makes_a_fixed_number_of_queries(
    client, project, count, django_assert_max_num_queries
):
    events = []
    for n in range(count):
        events += crash(f"run_{n}", error_type=f"Error{n}", started=60 * n + 60)
    apply_now(project, events)
    client.get(URL)
    # Session, user, membership, projects; then the groups, their trends, the agents.
    with django_assert_max_num_queries(7):
        response = client.get(URL)
    assert len(group_ids(response)) == count


# One group -------------------------------------------------------------------------------


def test_a_group_page_shows_title_traceback_counts_chart_and_runs(client, project):
    apply_now(
        project,
        crash("run_old", started=7200, traceback=TRACEBACK)
        + crash("run_new", started=60, traceback=TRACEBACK),
    )
    key = group(project, "KeyError")
    response = client.get(f"/errors/{key.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<span class="error-head__type">KeyError</span>: &#x27;STRIPE_API_KEY&#x27;' in body
    assert '<pre id="traceback" class="traceback">' in body
    assert '<span class="tb-frame--lib">  File &quot;/usr/lib/python3.12/site-packages' in body
    assert '<span class="tb-frame">  File &quot;/app/invoice_bot/billing.py' in body
    assert "Hide library frames" in body
    assert '<script id="error-chart-data" type="application/json">' in body
    assert run_ids(response) == ["run_new", "run_old"]
    assert 'href="/runs/run_new/"' in body


def test_a_run_that_hit_the_error_many_times_is_listed_once_with_its_count(client, project):
    apply_now(project, tool_failure("run_flaky", times=3) + tool_failure("run_once", started=60))
    timeout = group(project, "TimeoutError")
    response = client.get(f"/errors/{timeout.pk}/")
    assert run_ids(response) == ["run_once", "run_flaky"]
    assert "×3" in response.content.decode()


def test_the_group_page_pages_through_its_runs(client, project, monkeypatch):
    monkeypatch.setattr(errors_view, "RUNS_PER_PAGE", 2)
    events = []
    for n in range(5):
        events += crash(f"run_{n}", started=1000 - n)
    apply_now(project, events)
    key = group(project, "KeyError")
    first = client.get(f"/errors/{key.pk}/")
    seen = run_ids(first)
    body = first.content.decode()
    while match := re.search(r'hx-get="([^"]*cursor=[^"]*)"', body):
        page = client.get(match.group(1).replace("&amp;", "&"), headers=HTMX)
        body = page.content.decode()
        seen += run_ids(page)
    assert seen == ["run_4", "run_3", "run_2", "run_1", "run_0"]


@pytest.mark.parametrize("count", [1, 30])
def test_the_group_page_makes_a_fixed_number_of_queries(
    client, project, count, django_assert_max_num_queries
):
    events = []
    for n in range(count):
        events += crash(f"run_{n}", started=60 * n + 60, traceback=TRACEBACK)
    apply_now(project, events)
    key = group(project, "KeyError")
    client.get(URL)
    # Session, user, membership, projects; then the group, its runs, its days.
    with django_assert_max_num_queries(7):
        response = client.get(f"/errors/{key.pk}/")
    assert len(run_ids(response)) == count


# Who sees what ---------------------------------------------------------------------------


def test_another_organizations_group_is_not_found(client, project, other_project, outsider):
    apply_now(other_project, crash("their_run"))
    theirs = group(other_project, "KeyError")
    assert client.get(f"/errors/{theirs.pk}/").status_code == 404
    assert client.get(f"/errors/{theirs.pk + 100000}/").status_code == 404
    assert login(outsider).get(f"/errors/{theirs.pk}/").status_code == 200


def test_the_list_never_includes_another_organizations_groups(client, project, other_project):
    apply_now(project, crash("our_run"))
    apply_now(other_project, crash("their_run", error_type="GlobexError", agent="globex-agent"))
    body = client.get(URL).content.decode()
    assert "GlobexError" not in body and "globex-agent" not in body
    assert group_ids(client.get(URL, {"q": "globex"})) == []


def test_a_viewer_can_see_errors(project, make_member):
    apply_now(project, crash("run_1"))
    viewer = login(make_member("viewer"))
    assert viewer.get(URL).status_code == 200
    assert viewer.get(f"/errors/{group(project, 'KeyError').pk}/").status_code == 200


def test_error_text_and_agent_names_are_escaped(client, project):
    script = "<script>alert(1)</script>"
    apply_now(
        project,
        crash("run_x", message=script, agent=f"bot{script}", traceback=f"Traceback\n{script}"),
    )
    key = ErrorGroup.objects.get(project=project)
    for url in (URL, f"/errors/{key.pk}/"):
        body = client.get(url).content.decode()
        assert "<script>alert(1)" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# The traceback ---------------------------------------------------------------------------


def test_traceback_lines_tell_library_frames_from_the_apps_own():
    kinds = [line.kind for line in traceback_lines(TRACEBACK)]
    assert kinds == ["head", "frame--lib", "code--lib", "frame", "code", "error"]


def test_a_traceback_in_another_format_comes_back_line_by_line():
    lines = traceback_lines("Error: boom\n    at main (index.js:3:9)")
    assert [line.text for line in lines] == ["Error: boom", "    at main (index.js:3:9)"]


# Charts ----------------------------------------------------------------------------------


def test_spark_bars_scale_to_the_busiest_day_and_keep_a_tick_for_empty_days():
    from runs.charts import spark_bars

    bars = spark_bars([0, 5, 10], labels=["a", "b", "c"], width=32, height=20, gap=1)
    assert [bar.height for bar in bars] == [1.0, 10.0, 20.0]
    assert [bar.y for bar in bars] == [19.0, 10.0, 0.0]
    assert [bar.x for bar in bars] == [0, 11.0, 22.0]
    assert bars[2].label == "c" and spark_bars([]) == []


def test_a_daily_figure_counts_in_whole_numbers_and_uses_theme_colours():
    from datetime import date

    from runs.charts import daily_bar_figure

    figure = daily_bar_figure([date(2026, 11, 24), date(2026, 11, 25)], [0, 2], name="events")
    assert figure["data"][0]["x"] == ["2026-11-24", "2026-11-25"]
    assert figure["layout"]["yaxis"]["dtick"] == 1
    assert figure["data"][0]["marker"]["color"] == "var(--accent)"
