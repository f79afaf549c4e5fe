"""The read API: GET /api/v1/runs, /api/v1/runs/<run_id> and its /events, with a key."""

from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone

from runs.maintenance import runs_flag_stalled
from studio.apikeys import apikey_create, apikey_revoke
from tests.conftest import T0, apply_now, ev

RUNS = "/api/v1/runs"


def key_client(project, scopes=("read",)) -> Client:
    raw_key = apikey_create(project=project, scopes=list(scopes))[1]
    return Client(headers={"Authorization": f"Bearer {raw_key}"})


@pytest.fixture
def reader(project) -> Client:
    return key_client(project)


def a_run(
    run_id: str,
    *,
    at: float,
    seconds: float | None,
    agent: str = "invoice-bot",
    environment: str = "cloud",
    ending: str = "run_end",
    inputs: dict | None = None,
) -> list[dict]:
    """A run started `at` seconds after T0 that ends `seconds` later (None: still running)."""
    events = [
        ev("run_start", run_id, at=at, seq=0, agent=agent, environment=environment,
           inputs=inputs or {"n": run_id}),
    ]  # fmt: skip
    if seconds is None:
        return events
    end = at + seconds
    if ending == "run_end":
        events.append(ev("run_end", run_id, at=end, seq=1, agent=agent, outputs={"ok": True}))
    elif ending == "error":
        events.append(
            ev("error", run_id, at=end, seq=1, agent=agent,
               error={"type": "TimeoutError", "message": "upstream took 30s"}),
        )  # fmt: skip
    else:
        events.append(ev("status", run_id, at=end, seq=1, agent=agent, status=ending))
    return events


def seconds_ago(seconds: float) -> float:
    """`at` for `ev`: this many seconds before now."""
    return (timezone.now() - T0).total_seconds() - seconds


@pytest.fixture
def fleet(project) -> dict[str, list[dict]]:
    """Six runs, oldest first: every filter selects a different subset."""
    runs = {
        "ok-cloud": a_run("ok-cloud", at=0, seconds=5, inputs={"customer": "globex"}),
        "fail-cloud": a_run("fail-cloud", at=100, seconds=30, ending="error"),
        "ok-local": a_run("ok-local", at=200, seconds=2, agent="support-triage",
                          environment="local"),
        "cancelled": a_run("cancelled", at=300, seconds=60, agent="support-triage",
                           environment="docker", ending="cancelled"),
        "hung": a_run("hung", at=400, seconds=None),
        "recent": a_run("recent", at=seconds_ago(3600), seconds=1, agent="data-sync"),
    }  # fmt: skip
    apply_now(project, [e for events in runs.values() for e in events])
    runs_flag_stalled()  # "hung" has been silent for days
    return runs


def listed(client: Client, query: str = "") -> list[str]:
    response = client.get(f"{RUNS}?{query}")
    assert response.status_code == 200, response.content
    return [r["run_id"] for r in response.json()["runs"]]


def all_pages(client: Client, query: str, between_pages=None) -> list[str]:
    run_ids, cursor, pages = [], None, 0
    while True:
        body = client.get(f"{RUNS}?{query}" + (f"&cursor={cursor}" if cursor else "")).json()
        run_ids += [r["run_id"] for r in body["runs"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            return run_ids
        assert pages < 50
        if between_pages:
            between_pages(pages)


# Runs list ----------------------------------------------------------------------------------


def test_runs_are_listed_newest_first(reader, fleet):
    assert listed(reader) == ["recent", "hung", "cancelled", "ok-local", "fail-cloud", "ok-cloud"]


def test_a_listed_run_carries_its_summary(reader, fleet):
    run = reader.get(RUNS).json()["runs"][-1]

    assert run["run_id"] == "ok-cloud"
    assert run["agent"] == {"name": "invoice-bot", "version": "1.4.0"}
    assert (run["status"], run["environment"], run["duration_ms"]) == ("succeeded", "cloud", 5000)
    assert run["started_at"] == "2026-11-20T09:00:00Z"
    assert run["ended_at"] == "2026-11-20T09:00:05Z"
    assert run["events"] == 2
    assert run["error"] is None


def test_status_filter_takes_a_comma_separated_list(reader, fleet):
    assert listed(reader, "status=failed,cancelled") == ["cancelled", "fail-cloud"]
    assert listed(reader, "status=failed&status=cancelled") == ["cancelled", "fail-cloud"]


def test_stalled_selects_hung_runs_and_combines_with_statuses(reader, fleet):
    assert listed(reader, "status=stalled") == ["hung"]
    assert listed(reader, "status=failed,stalled") == ["hung", "fail-cloud"]


def test_a_failed_run_names_its_error(reader, fleet):
    (run,) = reader.get(f"{RUNS}?status=failed").json()["runs"]

    assert run["error"] == {"type": "TimeoutError", "message": "upstream took 30s"}
    assert run["status_message"] == "TimeoutError: upstream took 30s"


def test_agent_filter_is_exact(reader, fleet):
    assert listed(reader, "agent=support-triage") == ["cancelled", "ok-local"]
    assert listed(reader, "agent=support") == []


def test_environment_filter(reader, fleet):
    assert listed(reader, "environment=local") == ["ok-local"]
    assert listed(reader, "environment=docker") == ["cancelled"]


def test_since_and_until_take_rfc_3339_times(reader, fleet):
    middle = "2026-11-20T09:02:30Z"  # T0 + 150 s

    assert listed(reader, f"since={middle}") == ["recent", "hung", "cancelled", "ok-local"]
    assert listed(reader, f"until={middle}") == ["fail-cloud", "ok-cloud"]
    # since is inclusive, until exclusive; an offset other than Z works too
    window = "since=2026-11-20T10:01:40%2B01:00&until=2026-11-20T09:05:00Z"
    assert listed(reader, window) == ["ok-local", "fail-cloud"]
    assert listed(reader, "since=2026-11-20T09:05:00Z") == ["recent", "hung", "cancelled"]


def test_since_and_until_take_ages(reader, fleet):
    assert listed(reader, "since=24h") == ["recent"]
    assert listed(reader, "since=90m") == ["recent"]
    assert listed(reader, "since=30m") == []
    assert listed(reader, "until=1d") == ["hung", "cancelled", "ok-local", "fail-cloud", "ok-cloud"]
    # The fleet is dated at T0; how many days ago that is moves with the calendar.
    days_since_t0 = (timezone.now() - T0).days + 1
    assert len(listed(reader, f"since={days_since_t0}d")) == 6


def test_search_matches_inputs_error_types_and_run_ids_by_prefix(reader, fleet):
    assert listed(reader, "q=globex") == ["ok-cloud"]
    assert listed(reader, "q=timeout") == ["fail-cloud"]
    assert listed(reader, "q=canc") == ["cancelled"]
    assert listed(reader, "q=support+local") == ["ok-local"]
    assert listed(reader, "q=nothing-like-this") == []


def test_filters_combine(reader, fleet):
    assert listed(reader, "agent=invoice-bot&status=succeeded,failed&environment=cloud") == [
        "fail-cloud",
        "ok-cloud",
    ]


def test_sort_by_duration_lists_finished_runs_longest_first(reader, fleet):
    runs = reader.get(f"{RUNS}?sort=duration").json()["runs"]

    longest_first = ["cancelled", "fail-cloud", "ok-cloud", "ok-local", "recent"]
    assert [r["run_id"] for r in runs] == longest_first
    assert [r["duration_ms"] for r in runs] == [60000, 30000, 5000, 2000, 1000]


def test_pages_follow_one_another_without_duplicates_or_gaps(reader, fleet):
    assert all_pages(reader, "limit=2") == listed(reader)
    assert all_pages(reader, "limit=1&sort=duration") == listed(reader, "sort=duration")
    assert all_pages(reader, "limit=4&agent=invoice-bot") == ["hung", "fail-cloud", "ok-cloud"]


def test_runs_arriving_between_pages_neither_repeat_nor_push_out_listed_runs(
    reader, fleet, project
):
    def new_runs_arrive(page: int) -> None:
        apply_now(
            project,
            a_run(f"newest-{page}", at=seconds_ago(60), seconds=1)  # above the cursor
            + a_run(f"older-{page}", at=-1000 - page, seconds=1),  # below it: still to come
        )

    run_ids = all_pages(reader, "limit=2", between_pages=new_runs_arrive)

    assert len(run_ids) == len(set(run_ids))
    original = ["recent", "hung", "cancelled", "ok-local", "fail-cloud", "ok-cloud"]
    assert [r for r in run_ids if r in original] == original
    arrived_below = [r for r in run_ids if r.startswith("older")]
    assert arrived_below == [f"older-{n}" for n in range(1, len(arrived_below) + 1)]
    assert len(arrived_below) >= 3
    assert not [r for r in run_ids if r.startswith("newest")]


def test_runs_sharing_a_start_time_or_a_duration_page_without_loss(reader, project):
    apply_now(project, [e for n in range(7) for e in a_run(f"twin-{n}", at=10, seconds=3)])

    by_start = all_pages(reader, "limit=3")
    by_duration = all_pages(reader, "limit=2&sort=duration")

    assert sorted(by_start) == sorted(by_duration) == [f"twin-{n}" for n in range(7)]
    assert by_start == listed(reader)


def test_the_page_size_defaults_to_50_and_is_capped_by_limit(reader, project):
    apply_now(project, [e for n in range(55) for e in a_run(f"r{n:02}", at=n, seconds=1)])

    first = reader.get(RUNS).json()
    assert len(first["runs"]) == 50
    assert first["next_cursor"]
    assert len(reader.get(f"{RUNS}?limit=200").json()["runs"]) == 55
    assert reader.get(f"{RUNS}?limit=55").json()["next_cursor"] is None


def test_the_runs_list_costs_the_same_queries_for_many_runs(
    reader, project, django_assert_max_num_queries
):
    apply_now(project, [e for n in range(40) for e in a_run(f"r{n:02}", at=n, seconds=1)])
    reader.get(RUNS)  # the key's last-used time is written once a minute at most

    with django_assert_max_num_queries(2):
        assert len(reader.get(f"{RUNS}?limit=40").json()["runs"]) == 40


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=done", "status"),
        ("status=failed,nope", "status"),
        ("sort=fastest", "sort"),
        ("since=yesterday", "since"),
        ("until=25-11-2026", "until"),
        ("since=2026-13-45T00:00:00Z", "since"),
        ("until=2026-11-25T25:00:00Z", "until"),
        ("since=99999999999d", "since"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("limit=-5", "limit"),
        ("limit=%C2%B2", "limit"),  # "²" is a digit to str.isdigit, not to int()
        ("cursor=garbage", "cursor"),
        ("cursor=WzEsIDJd", "cursor"),  # base64 of [1, 2]: not a start time
        ("cursor=WyIyMDI2LTExLTIwVDA5OjAwOjAwKzAwOjAwIiwgMWUzMF0", "cursor"),  # pk 1e30
        (
            "cursor=WyIyMDI2LTExLTIwVDA5OjAwOjAwKzAwOjAwIiwgMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ",
            "cursor",
        ),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(reader, query, parameter):
    response = reader.get(f"{RUNS}?{query}")

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{parameter}:")


def test_a_cursor_from_another_sort_is_a_400(reader, fleet):
    cursor = reader.get(f"{RUNS}?limit=1").json()["next_cursor"]

    response = reader.get(f"{RUNS}?sort=duration&cursor={cursor}")

    assert response.status_code == 400
    assert "cursor" in response.json()["error"]


# Run detail ---------------------------------------------------------------------------------


def a_detailed_run(run_id: str = "run_detail") -> list[dict]:
    """A run that passes through validating, calls tools (one fails, one never ends),
    streams an LLM answer that stalls, bills in two currencies and then crashes."""
    tokens = ["The ", "invoice ", "is ", "overdue", "."]
    token_times = [3.0, 3.1, 3.2, 8.2, 8.3]  # 5 s silence after "is "
    return [
        ev("run_start", run_id, at=0, seq=0, inputs={"invoice": 42}, environment="cloud",
           runtime={"python": "3.12.7"}, config={"required_env": ["STRIPE_API_KEY"]}),
        ev("status", run_id, at=0.5, seq=1, status="validating", message="checking config"),
        ev("status", run_id, at=1, seq=2, status="running"),
        ev("tool_start", run_id, at=1.5, seq=3, tool_name="search", input_str="overdue",
           span_id="t1"),
        ev("tool_end", run_id, at=2, seq=4, tool_name="search", output=["inv-42"], span_id="t1"),
        ev("tool_start", run_id, at=2.1, seq=5, tool_name="charge", input_str="inv-42",
           span_id="t2"),
        ev("tool_error", run_id, at=2.6, seq=6, tool_name="charge", span_id="t2",
           error={"type": "CardDeclined", "message": "card 4242 declined"}),
        *[ev("llm_new_token", run_id, at=at, seq=7 + n, token=text, model="gpt-4o",
             call_id="c1") for n, (text, at) in enumerate(zip(tokens, token_times, strict=True))],
        ev("usage", run_id, at=8.4, seq=12, model="gpt-4o", input_tokens=1000,
           output_tokens=200, cache_read_tokens=4000, call_id="c1"),
        ev("tool_start", run_id, at=8.5, seq=13, tool_name="email", input_str="remind",
           span_id="t3"),
        ev("revenue", run_id, at=8.6, seq=14, kind="charge", amount="12.50", currency="usd",
           customer="globex", external_id="ch_1"),
        ev("revenue", run_id, at=8.7, seq=15, kind="refund", amount="2.50", currency="USD",
           refund_of="ch_1", external_id="re_1"),
        ev("revenue", run_id, at=8.8, seq=16, kind="subscription", amount="3.00",
           currency="EUR", external_id="sub_1"),
        ev("log", run_id, at=9, seq=17, message="sending reminder"),
        ev("error", run_id, at=10, seq=18,
           error={"type": "KeyError", "message": "'SENDGRID_API_KEY'", "traceback": "Trace"}),
    ]  # fmt: skip


@pytest.fixture
def detailed(project) -> dict:
    apply_now(project, a_detailed_run())
    return key_client(project).get(f"{RUNS}/run_detail").json()


def test_run_detail_gives_the_status_history_in_order(detailed):
    history = [(h["type"], h["status"], h["message"]) for h in detailed["status_history"]]

    assert history == [
        ("run_start", "running", ""),
        ("status", "validating", "checking config"),
        ("status", "running", ""),
        ("error", "failed", "KeyError: 'SENDGRID_API_KEY'"),
    ]
    times = [datetime.fromisoformat(h["ts"]) for h in detailed["status_history"]]
    assert times == sorted(times)
    assert detailed["status"] == "failed"


def test_run_detail_gives_inputs_runtime_and_config(detailed):
    assert detailed["inputs"] == {"invoice": 42}
    assert detailed["outputs"] is None
    assert detailed["runtime"] == {"python": "3.12.7"}
    assert detailed["config"] == {"required_env": ["STRIPE_API_KEY"], "oauth": []}
    assert detailed["duration_ms"] == 10000


def test_run_detail_gives_tool_spans_with_their_outcome(detailed):
    spans = {s["tool_name"]: s for s in detailed["tool_spans"]}

    assert [s["tool_name"] for s in detailed["tool_spans"]] == ["search", "charge", "email"]
    assert (spans["search"]["status"], spans["search"]["duration_ms"]) == ("ok", 500)
    assert spans["search"]["output"] == ["inv-42"]
    assert spans["charge"]["status"] == "error"
    assert spans["charge"]["error"]["type"] == "CardDeclined"
    assert spans["email"]["status"] == "abandoned"  # never ended, and the run is over
    assert spans["email"]["ended_at"] is None
    assert (detailed["tool_calls"], detailed["tool_errors"]) == (3, 1)


def test_run_detail_gives_llm_calls_with_tokens_speed_and_stalls(detailed):
    (call,) = detailed["llm_calls"]

    assert call["text"] == "The invoice is overdue."
    assert call["token_count"] == 5
    assert call["model"] == "gpt-4o"
    assert call["tokens_per_second"] == round(4 / 5.3, 2)
    assert call["stalls"] == [{"after_index": 2, "gap_ms": 5000}]
    assert call["first_token_at"] == "2026-11-20T09:00:03Z"
    assert call["usage"] == {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 4000,
        "cache_write_tokens": 0,
    }
    assert call["priced"] is True
    assert Decimal(call["cost"]) == Decimal("0.0095")


def test_run_detail_gives_cost_as_a_decimal_string(detailed):
    cost = detailed["cost"]

    assert cost["currency"] == "USD"
    assert isinstance(cost["amount"], str)
    assert Decimal(cost["amount"]) == Decimal("0.0095")
    assert cost["unpriced_calls"] == 0
    assert detailed["tokens"] == {
        "streamed": 5,
        "input": 1000,
        "output": 200,
        "cache_read": 4000,
        "cache_write": 0,
    }


def test_a_run_that_cost_nothing_says_zero_in_plain_digits(reader, project):
    apply_now(project, a_run("free", at=0, seconds=1))

    amount = reader.get(f"{RUNS}/free").json()["cost"]["amount"]

    assert Decimal(amount) == 0
    assert "E" not in amount.upper()  # not "0E-10"


def test_an_unpriced_model_is_counted_and_its_cost_is_null(reader, project):
    apply_now(
        project,
        [
            *a_run("home-made", at=0, seconds=5),
            ev("usage", "home-made", at=1, model="our-own-llm", input_tokens=10,
               output_tokens=5, call_id="c9"),
        ],
    )  # fmt: skip

    run = reader.get(f"{RUNS}/home-made").json()

    assert run["cost"]["unpriced_calls"] == 1
    assert run["llm_calls"][0]["cost"] is None
    assert run["llm_calls"][0]["priced"] is False


def test_run_detail_gives_net_revenue_per_currency(detailed):
    assert detailed["revenue"] == {"USD": "10.00", "EUR": "3.00"}


def test_run_detail_lists_the_errors_with_their_groups(detailed):
    errors = detailed["errors"]

    assert [e["type"] for e in errors] == ["CardDeclined", "KeyError"]
    assert all(e["group_fingerprint"] for e in errors)
    assert detailed["error"] == {"type": "KeyError", "message": "'SENDGRID_API_KEY'"}


def test_an_unknown_run_is_a_404(reader, fleet):
    response = reader.get(f"{RUNS}/no-such-run")

    assert response.status_code == 404
    assert "no-such-run" in response.json()["error"]


def test_run_ids_with_slashes_are_found(reader, project):
    apply_now(project, a_run("team-a/nightly/7", at=0, seconds=1))

    assert reader.get(f"{RUNS}/team-a/nightly/7").json()["run_id"] == "team-a/nightly/7"
    assert reader.get(f"{RUNS}/team-a/nightly/7/events").json()["events"][0]["type"] == (
        "run_start"
    )


@pytest.mark.parametrize("run_id", ["line one\nline two", "tab\there", "50% off?#x"])
def test_run_ids_with_any_character_are_found(reader, project, run_id):
    apply_now(project, a_run(run_id, at=0, seconds=1))
    path = quote(run_id, safe="")

    assert reader.get(f"{RUNS}/{path}").json()["run_id"] == run_id
    assert reader.get(f"{RUNS}/{path}/events").json()["events"][0]["type"] == "run_start"


# Events ---------------------------------------------------------------------------------------


def events_of(client: Client, run_id: str, query: str = "") -> dict:
    response = client.get(f"{RUNS}/{run_id}/events?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_events_come_in_time_order_without_the_streamed_tokens(reader, project):
    apply_now(project, a_detailed_run())

    events = events_of(reader, "run_detail")["events"]

    assert [e["seq"] for e in events] == [*range(7), *range(12, 19)]
    assert "llm_new_token" not in {e["type"] for e in events}
    times = [datetime.fromisoformat(e["ts"]) for e in events]
    assert times == sorted(times)


def test_events_sharing_a_time_are_ordered_by_seq_then_event_id(reader, project):
    apply_now(
        project,
        [
            ev("run_start", "same-ts", at=0, seq=0, event_id="start"),
            ev("log", "same-ts", at=1, seq=9, event_id="a-nine", message="9"),
            ev("log", "same-ts", at=1, seq=2, event_id="z-two", message="2"),
            ev("log", "same-ts", at=1, event_id="b-none", message="none"),
            ev("log", "same-ts", at=1, event_id="a-none", message="none"),
        ],
    )

    ids = [e["event_id"] for e in events_of(reader, "same-ts")["events"]]

    assert ids == ["start", "a-none", "b-none", "z-two", "a-nine"]


def test_an_event_comes_back_as_sent_with_its_agent_and_normalized_data(reader, project):
    apply_now(project, a_detailed_run())

    log = events_of(reader, "run_detail", "type=log")["events"][0]

    assert log["run_id"] == "run_detail"
    assert log["ts"] == "2026-11-20T09:00:09Z"
    assert log["agent"] == {"name": "invoice-bot", "version": "1.4.0"}
    assert log["data"] == {
        "message": "sending reminder",
        "level": "info",
        "stream": "stdout",
        "logger": None,
    }


def test_events_page_by_cursor_without_duplicates_or_gaps(reader, project):
    apply_now(project, a_detailed_run())
    everything = [e["event_id"] for e in events_of(reader, "run_detail")["events"]]

    paged, cursor = [], None
    for _ in range(10):
        page = events_of(reader, "run_detail", "limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["events"]) <= 3
        paged += [e["event_id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert paged == everything
    assert len(everything) == 14


def test_events_are_filtered_by_type(reader, project):
    apply_now(project, a_detailed_run())

    types = [e["type"] for e in events_of(reader, "run_detail", "type=error,tool_error")["events"]]
    revenue = events_of(reader, "run_detail", "type=revenue&limit=2")

    assert types == ["tool_error", "error"]
    assert [e["data"]["kind"] for e in revenue["events"]] == ["charge", "refund"]
    more = events_of(reader, "run_detail", f"type=revenue&cursor={revenue['next_cursor']}")
    assert [e["data"]["kind"] for e in more["events"]] == ["subscription"]
    assert more["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("limit=many", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=WzEsMiwzXQ", "cursor"),  # base64 of [1,2,3]: not a time
    ],
)
def test_bad_events_parameters_are_a_400_naming_them(reader, project, query, parameter):
    apply_now(project, a_run("r1", at=0, seconds=1))

    response = reader.get(f"{RUNS}/r1/events?{query}")

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{parameter}:")


def test_events_of_an_unknown_run_are_a_404(reader, project):
    response = reader.get(f"{RUNS}/nope/events")

    assert response.status_code == 404


# Keys: scopes and isolation ---------------------------------------------------------------


def test_another_projects_key_cannot_see_our_runs(fleet, other_project):
    theirs = key_client(other_project)

    assert theirs.get(f"{RUNS}/ok-cloud").status_code == 404
    assert theirs.get(f"{RUNS}/ok-cloud/events").status_code == 404
    assert theirs.get(RUNS).json()["runs"] == []
    assert theirs.get(f"{RUNS}?q=globex").json()["runs"] == []


def test_the_same_run_id_in_two_projects_stays_apart(reader, project, other_project):
    apply_now(project, a_run("shared-id", at=0, seconds=1, agent="ours"))
    apply_now(other_project, a_run("shared-id", at=0, seconds=9, agent="theirs"))

    ours = reader.get(f"{RUNS}/shared-id").json()
    theirs = key_client(other_project).get(f"{RUNS}/shared-id").json()

    assert (ours["agent"]["name"], ours["duration_ms"]) == ("ours", 1000)
    assert (theirs["agent"]["name"], theirs["duration_ms"]) == ("theirs", 9000)
    assert [e["data"].get("outputs") for e in events_of(reader, "shared-id")["events"]] == [
        None,
        {"ok": True},
    ]


@pytest.mark.parametrize("url", [RUNS, f"{RUNS}/ok-cloud", f"{RUNS}/ok-cloud/events"])
def test_reading_needs_the_read_scope(fleet, project, url):
    response = key_client(project, scopes=("ingest",)).get(url)

    assert response.status_code == 403
    assert "'read' scope" in response.json()["error"]


@pytest.mark.parametrize("url", [RUNS, f"{RUNS}/ok-cloud", f"{RUNS}/ok-cloud/events"])
def test_reading_without_a_valid_key_is_a_401(fleet, project, url):
    key, raw = apikey_create(project=project, scopes=["read"])
    apikey_revoke(key=key)

    assert Client().get(url).status_code == 401
    assert Client(headers={"Authorization": "Bearer chs_nope"}).get(url).status_code == 401
    assert Client(headers={"Authorization": f"Basic {raw}"}).get(url).status_code == 401
    revoked = Client(headers={"Authorization": f"Bearer {raw}"}).get(url)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]


def test_a_session_login_does_not_open_the_api(owner_client, fleet):
    assert owner_client.get(RUNS).status_code == 401


def test_the_read_api_only_answers_get(reader, fleet):
    assert reader.post(RUNS).status_code == 405
    assert reader.post(f"{RUNS}/ok-cloud").status_code == 405
