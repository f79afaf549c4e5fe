"""The run detail page: header, timeline, side pane, logs, errors, escaping, and a
bounded cost (queries and bytes) whatever the number of events."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import ModelPrice
from runs.models import Run
from runs.selectors.detail import ROW_CAP
from tests.conftest import apply_now, ev, login

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/usr/local/lib/python3.12/site-packages/charm/runner.py", line 214, in run\n'
    "    result = await agent.ainvoke(inputs)\n"
    '  File "/app/invoice_bot/charge.py", line 31, in charge\n'
    '    key = os.environ["STRIPE_API_KEY"]\n'
    "KeyError: 'STRIPE_API_KEY'"
)


def a_failed_run(run_id: str = "run_1") -> list[dict]:
    """Start, an action and its tool call, an LLM call streamed in 3 tokens (sent out
    of order) with usage, a status change, two logs, a failed tool call and a crash."""
    return [
        ev("run_start", run_id, at=0, seq=0, inputs={"invoice": 42}, environment="docker",
           runtime={"sdk_version": "0.15.1", "python": "3.12.7", "image": "ghcr.io/acme/bot:7",
                    "region": "eu-west-1"}),
        ev("status", run_id, at=0.1, seq=1, status="running", message="picked up"),
        ev("agent_action", run_id, at=0.9, seq=2, tool="search", tool_input={"q": "overdue"}),
        ev("tool_start", run_id, at=1, seq=3, tool_name="search", input_str='{"q": "overdue"}',
           span_id="t1"),
        ev("tool_end", run_id, at=2, seq=4, tool_name="search", output=["inv-42"], span_id="t1"),
        ev("llm_new_token", run_id, at=3.7, seq=7, token="there", model="gpt-4o", call_id="c1"),
        ev("llm_new_token", run_id, at=3.5, seq=5, token="Hel", model="gpt-4o", call_id="c1"),
        ev("llm_new_token", run_id, at=3.6, seq=6, token="lo ", model="gpt-4o", call_id="c1"),
        ev("usage", run_id, at=3.8, seq=8, model="gpt-4o", input_tokens=100_000,
           output_tokens=20_000, cache_read_tokens=40_000, call_id="c1"),
        ev("log", run_id, at=4, seq=9, message="charging card", level="info", stream="stdout"),
        ev("log", run_id, at=4.2, seq=10, message="stripe key missing", level="warning",
           stream="stderr"),
        ev("tool_start", run_id, at=4.5, seq=11, tool_name="charge", input_str="inv-42",
           span_id="t2"),
        ev("tool_error", run_id, at=4.7, seq=12, tool_name="charge", span_id="t2",
           error={"type": "KeyError", "message": "'STRIPE_API_KEY'"}),
        ev("error", run_id, at=5, seq=13,
           error={"type": "KeyError", "message": "'STRIPE_API_KEY'", "traceback": TRACEBACK}),
        ev("revenue", run_id, at=5, seq=14, kind="charge", amount="12.50", currency="EUR",
           customer="cus_1", external_id="ch_1"),
    ]  # fmt: skip


def event_ids(run: Run, type_: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM runs_event WHERE run_pk = %s AND type = %s ORDER BY ts",
            [run.pk, type_],
        )
        return [row[0] for row in cursor.fetchall()]


def pane(client, run_id: str, item: str) -> str:
    response = client.get(
        f"/runs/{run_id}/",
        {"item": item},
        headers={"HX-Request": "true", "HX-Target": "detail-pane"},
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(autouse=True)
def gpt4o_price(org):
    """Our own price row: the shipped defaults can be flushed by transactional tests."""
    return ModelPrice.objects.create(
        organization=org, model_pattern="gpt-4o", match="exact", effective_from=date(2024, 1, 1),
        input_per_m=Decimal("2.5"), output_per_m=Decimal("10"), cache_read_per_m=Decimal("1.25"),
        cache_write_per_m=Decimal("2.5"),
    )  # fmt: skip


@pytest.fixture
def failed_run(project):
    apply_now(project, a_failed_run())
    return Run.objects.get(project=project, run_id="run_1")


# ── Header ─────────────────────────────────────────────────────────────────────


def test_header_shows_status_agent_environment_duration_tokens_cost_revenue_runtime(
    owner_client, failed_run
):
    html = owner_client.get("/runs/run_1/").content.decode()
    assert 'class="badge badge--failed"' in html
    assert "invoice-bot" in html and "@1.4.0" in html
    assert ">docker<" in html
    assert "5 s" in html  # run_start at 0 to the crash at 5 s
    assert "100,000" in html and "20,000" in html and "40,000" in html
    assert "0.50 USD" in html  # gpt-4o: 0.25 input + 0.20 output + 0.05 cache read
    assert "12.50 EUR" in html
    for value in ("0.15.1", "3.12.7", "ghcr.io/acme/bot:7", "eu-west-1"):
        assert value in html
    assert 'data-copy="run_1"' in html


def test_cost_says_unpriced_when_a_call_had_no_price(owner_client, project):
    apply_now(project, [
        ev("run_start", "run_u", at=0),
        ev("usage", "run_u", at=1, model="home-made-llm", input_tokens=10, output_tokens=5),
    ])  # fmt: skip
    html = owner_client.get("/runs/run_u/").content.decode()
    assert "unpriced" in html
    assert "0.00 USD" not in html


def test_inputs_and_outputs_are_pretty_printed_in_collapsible_blocks(owner_client, project):
    apply_now(project, [
        ev("run_start", "run_io", at=0, inputs={"invoice": 42, "customer": "acme"}),
        ev("run_end", "run_io", at=1, outputs={"paid": True}),
    ])  # fmt: skip
    html = owner_client.get("/runs/run_io/").content.decode()
    assert '<details class="card rd-json"' in html
    assert "&quot;invoice&quot;: 42,\n  &quot;customer&quot;: &quot;acme&quot;" in html
    assert "&quot;paid&quot;: true" in html


# ── Timeline ───────────────────────────────────────────────────────────────────


def test_timeline_has_a_row_for_each_kind_and_log_markers(owner_client, failed_run):
    html = owner_client.get("/runs/run_1/").content.decode()
    rows = re.findall(r'data-key="([^"]+)"', html)
    kinds = {key.split(":")[0] for key in rows if ":" in key}
    assert kinds == {"status", "action", "tool", "llm", "error"}
    assert "tool:t1" in rows and "tool:t2" in rows and "llm:c1" in rows
    assert 'id="log-lane"' in html
    assert html.count('class="rd-logmark') == 2
    assert "waterfall__tick" in html
    assert 'data-dur="1 s"' in html  # the search call lasted from 1 s to 2 s


def test_the_tool_call_nests_under_the_action_that_asked_for_it(owner_client, failed_run):
    html = owner_client.get("/runs/run_1/").content.decode()
    action = html.index(f'data-key="action:{event_ids(failed_run, "agent_action")[0]}"')
    span = html.index('data-key="tool:t1"')
    assert action < span
    assert "--depth:1" in html[span : span + 900]


def test_a_failed_run_preselects_its_error_and_shows_it_in_the_pane(owner_client, failed_run):
    html = owner_client.get("/runs/run_1/").content.decode()
    error_id = event_ids(failed_run, "error")[0]
    row = re.search(rf'<div class="waterfall__row[^"]*"[^>]*data-key="error:{error_id}"', html)
    assert row and "is-selected" in row.group(0) and "is-error" in row.group(0)
    failed_tool = re.search(r'<div class="waterfall__row[^"]*"[^>]*data-key="tool:t2"', html)
    assert "is-error" in failed_tool.group(0)
    pane_html = html[html.index('id="detail-pane"') :]
    assert "KeyError" in pane_html and "charge.py" in pane_html


def test_a_succeeded_run_selects_nothing_until_asked(owner_client, project):
    apply_now(project, [ev("run_start", "run_ok", at=0), ev("run_end", "run_ok", at=1)])
    html = owner_client.get("/runs/run_ok/").content.decode()
    assert "is-selected" not in html
    assert "Select a row" in html


def test_the_selected_item_comes_from_the_url(owner_client, failed_run):
    html = owner_client.get("/runs/run_1/?item=tool:t1").content.decode()
    row = re.search(r'<div class="waterfall__row[^"]*"[^>]*data-key="tool:t1"', html)
    assert "is-selected" in row.group(0)
    assert "&quot;overdue&quot;" in html[html.index('id="detail-pane"') :]


def test_rows_past_the_cap_come_with_a_show_more_button(owner_client, project, monkeypatch):
    monkeypatch.setattr("runs.selectors.detail.ROW_CAP", 3)
    apply_now(project, a_failed_run())
    html = owner_client.get("/runs/run_1/").content.decode()
    assert 'id="rows-more"' in html and "?rows=2" in html
    more = owner_client.get(
        "/runs/run_1/?rows=2", headers={"HX-Request": "true", "HX-Target": "rows-more"}
    ).content.decode()
    assert more.count("data-row data-key") == 3
    assert "<html" not in more


# ── The side pane, one kind at a time ──────────────────────────────────────────


def test_pane_for_a_tool_call_shows_input_output_and_duration(owner_client, failed_run):
    html = pane(owner_client, "run_1", "tool:t1")
    assert "<html" not in html
    assert "&quot;q&quot;: &quot;overdue&quot;" in html  # input_str is JSON: indented
    assert "inv-42" in html and "1 s" in html


def test_pane_for_a_failed_tool_call_shows_its_error(owner_client, failed_run):
    html = pane(owner_client, "run_1", "tool:t2")
    assert "badge--failed" in html and "KeyError" in html and "STRIPE_API_KEY" in html


def test_pane_for_an_llm_call_assembles_the_text_in_order_with_its_timing(owner_client, failed_run):
    html = pane(owner_client, "run_1", "llm:c1")
    assert '<pre class="rd-stream">Hello there</pre>' in html
    # Time to first token: from the tool end at 2 s (the latest event before the
    # first token) to the first token at 3.5 s.
    assert re.search(r"Time to first token</dt><dd>1.5 s</dd>", html)
    assert re.search(r"Tokens / s</dt><dd>10.0</dd>", html)  # 2 gaps in 0.2 s
    assert re.search(r"Streamed tokens</dt><dd>3</dd>", html)
    assert "gpt-4o" in html and "0.50 USD" in html
    assert html.count('class="rd-strip__tick"') == 3


def test_pane_for_an_llm_call_marks_stalls_on_its_token_strip(owner_client, project):
    tokens = [
        ev("llm_new_token", "run_s", at=1 + n * 0.05, seq=n, token=f"t{n} ", call_id="c")
        for n in range(10)
    ] + [ev("llm_new_token", "run_s", at=5, seq=10, token="late", call_id="c")]
    apply_now(project, [ev("run_start", "run_s", at=0), *tokens])
    html = pane(owner_client, "run_s", "llm:c")
    assert html.count('class="rd-strip__stall"') == 1
    assert "1 stall" in html and "3.55 s" in html


def test_pane_for_an_action_status_error_and_log(owner_client, failed_run):
    action = pane(owner_client, "run_1", f"action:{event_ids(failed_run, 'agent_action')[0]}")
    assert "&quot;q&quot;: &quot;overdue&quot;" in action and "tool:t1" in action
    status = pane(owner_client, "run_1", f"status:{event_ids(failed_run, 'status')[0]}")
    assert "badge--running" in status and "picked up" in status
    error = pane(owner_client, "run_1", f"error:{event_ids(failed_run, 'error')[0]}")
    assert "charge.py" in error and "KeyError: &#x27;STRIPE_API_KEY&#x27;" in error
    log = pane(owner_client, "run_1", f"log:{event_ids(failed_run, 'log')[1]}")
    assert "stripe key missing" in log and "#L2" in log


def test_pane_for_an_unknown_item_says_so(owner_client, failed_run):
    assert "Not in this run" in pane(owner_client, "run_1", "tool:nope")
    assert "Select a row" in pane(owner_client, "run_1", "bogus")


# ── Errors ─────────────────────────────────────────────────────────────────────


def test_the_error_card_shows_type_message_and_traceback_frames(owner_client, failed_run):
    html = owner_client.get("/runs/run_1/").content.decode()
    card = html[html.index('id="error"') : html.index("</section>", html.index('id="error"'))]
    assert "KeyError" in card and "&#x27;STRIPE_API_KEY&#x27;" in card
    assert card.count('class="rd-tb__frame') == 2
    assert 'class="rd-tb__frame is-lib"' in card  # site-packages frames are dimmed
    assert "Jump to the failure in logs" in card and "#L2" in card


def test_a_long_traceback_folds_its_middle_frames(owner_client, project):
    frames = "".join(
        f'  File "/app/bot/step{n}.py", line {n}, in step{n}\n    step{n + 1}()\n'
        for n in range(12)
    )
    traceback = f"Traceback (most recent call last):\n{frames}RecursionError: too deep"
    apply_now(project, [
        ev("run_start", "run_tb", at=0),
        ev("error", "run_tb", at=1, error={"type": "RecursionError", "message": "too deep",
                                           "traceback": traceback}),
    ])  # fmt: skip
    html = owner_client.get("/runs/run_tb/").content.decode()
    assert "8 more frames" in html
    assert '<details class="rd-tb__fold">' in html


# ── Logs ───────────────────────────────────────────────────────────────────────


@pytest.fixture
def chatty_run(project):
    levels = ["debug", "info", "info", "warning", "error"]
    logs = [
        ev("log", "run_log", at=1 + n * 0.01, seq=n + 1, level=levels[n % 5],
           message=f"line {n + 1} {'Stripe timeout' if n % 50 == 7 else 'ok'}")
        for n in range(450)
    ]  # fmt: skip
    crash = ev("error", "run_log", at=3.05, seq=999, error={"type": "TimeoutError",
                                                            "message": "stripe"})  # fmt: skip
    apply_now(project, [ev("run_start", "run_log", at=0, seq=0), *logs, crash])
    return Run.objects.get(project=project, run_id="run_log")


def logs(client, **params) -> str:
    response = client.get(
        "/runs/run_log/", {"tab": "logs", **params}, headers={"HX-Request": "true",
                                                            "HX-Target": "logs"}
    )  # fmt: skip
    assert response.status_code == 200
    return response.content.decode()


def test_logs_are_paged_with_line_numbers_that_are_anchors(owner_client, chatty_run):
    html = owner_client.get("/runs/run_log/?tab=logs").content.decode()
    assert html.count('class="log-line ') == 200
    assert 'id="L1"' in html and 'id="L200"' in html and 'id="L201"' not in html
    assert 'href="?tab=logs&amp;page=1#L7"' in html
    assert "page 1 of 3" in html
    last = logs(owner_client, page=3)
    assert last.count('class="log-line ') == 50 and 'id="L450"' in last


def test_log_levels_filter_keeps_the_original_line_numbers(owner_client, chatty_run):
    html = logs(owner_client, level="error")
    assert html.count('class="log-line ') == 90
    assert 'id="L5"' in html and 'id="L10"' in html and 'id="L4"' not in html
    assert "log-line--error" in html and "log-line--info" not in html
    both = logs(owner_client, level=["warning", "error"])
    assert both.count('class="log-line ') == 180


def test_log_search_highlights_matches_case_insensitively(owner_client, chatty_run):
    html = logs(owner_client, q="stripe TIMEOUT")
    assert html.count('class="log-line ') == 9
    assert "<mark>Stripe timeout</mark>" in html
    assert "9 matching lines" in html


def test_log_search_treats_like_wildcards_as_text(owner_client, chatty_run):
    assert logs(owner_client, q="%").count('class="log-line ') == 0


def test_jump_to_the_failure_links_to_the_log_lines_around_the_error(owner_client, chatty_run):
    html = owner_client.get("/runs/run_log/?tab=logs").content.decode()
    # The crash at 3.05 s: the last line at or before it is line 206 (at 3.05 s), page 2.
    assert 'href="?tab=logs&amp;page=2#L206"' in html
    page2 = logs(owner_client, page=2)
    assert re.search(r'class="log-line log-line--\w+ is-target" id="L206"', page2)


# ── Access and escaping ────────────────────────────────────────────────────────


def test_another_organizations_run_is_not_found(failed_run, outsider, other_project):
    client = login(outsider)
    assert client.get("/runs/run_1/").status_code == 404
    assert client.get("/runs/run_1/?item=tool:t1", headers={
        "HX-Request": "true", "HX-Target": "detail-pane"}).status_code == 404  # fmt: skip


def test_an_unknown_run_id_is_not_found(owner_client, failed_run):
    assert owner_client.get("/runs/run_nope/").status_code == 404


def test_signed_out_visitors_are_sent_to_the_login(client, failed_run):
    response = client.get("/runs/run_1/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_user_content_is_escaped_everywhere(owner_client, project):
    script = "<script>alert(1)</script>"
    apply_now(project, [
        ev("run_start", "run_x", at=0, seq=0, inputs={"q": script}),
        ev("tool_start", "run_x", at=1, seq=1, tool_name=f"t{script}", input_str=script,
           span_id="s"),
        ev("tool_end", "run_x", at=2, seq=2, tool_name=f"t{script}", output=script, span_id="s"),
        ev("llm_new_token", "run_x", at=3, seq=3, token=script, call_id="c"),
        ev("log", "run_x", at=4, seq=4, message=script, level="error"),
        ev("error", "run_x", at=5, seq=5, error={"type": script, "message": script,
                                                  "traceback": f"Traceback:\n{script}"}),
    ])  # fmt: skip
    pages = [
        owner_client.get("/runs/run_x/").content.decode(),
        owner_client.get("/runs/run_x/?tab=logs&q=script").content.decode(),
        pane(owner_client, "run_x", "tool:s"),
        pane(owner_client, "run_x", "llm:c"),
    ]
    for html in pages:
        assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;<mark>script</mark>&gt;" in pages[1]
    assert "&lt;script&gt;" in pages[2] and "&lt;script&gt;" in pages[3]


# ── Cost: queries and bytes ────────────────────────────────────────────────────


def a_run_with(n: int, run_id: str) -> list[dict]:
    events = [ev("run_start", run_id, at=0, seq=0)]
    for k in range(n // 5):
        t = 1 + k
        events += [
            ev("agent_action", run_id, at=t, seq=5 * k + 1, tool="search", tool_input={"k": k}),
            ev("tool_start", run_id, at=t + 0.1, seq=5 * k + 2, tool_name="search",
               input_str=str(k), span_id=f"s{k}"),
            ev("tool_end", run_id, at=t + 0.3, seq=5 * k + 3, tool_name="search", output=k,
               span_id=f"s{k}"),
            ev("llm_new_token", run_id, at=t + 0.5, seq=5 * k + 4, token="x", call_id=f"c{k}"),
            ev("log", run_id, at=t + 0.6, seq=5 * k + 5, message=f"step {k}", level="info"),
        ]  # fmt: skip
    events.append(ev("error", run_id, at=n, error={"type": "E", "message": "m"}))
    return events


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_makes_the_same_few_queries_for_ten_or_a_thousand_events(
    owner_client, project, django_assert_max_num_queries
):
    apply_now(project, a_run_with(10, "run_small"))
    apply_now(project, a_run_with(1000, "run_big"))
    for tab in ("", "?tab=logs"):
        small = count_queries(owner_client, f"/runs/run_small/{tab}")
        big = count_queries(owner_client, f"/runs/run_big/{tab}")
        assert small == big
    with django_assert_max_num_queries(14):
        owner_client.get("/runs/run_big/")
    with django_assert_max_num_queries(12):
        owner_client.get("/runs/run_big/?tab=logs")


def test_a_run_with_ten_thousand_log_lines_stays_a_small_page(owner_client, project):
    logs = [
        ev("log", "run_huge", at=n * 0.01, seq=n, level="info",
           message=f"processing record {n} of 10000 " + "x" * 60)
        for n in range(10_000)
    ]  # fmt: skip
    apply_now(project, [ev("run_start", "run_huge", at=0, seq=-1 + 1), *logs])
    timeline = owner_client.get("/runs/run_huge/").content
    log_tab = owner_client.get("/runs/run_huge/?tab=logs").content
    assert len(timeline) < 150_000
    assert len(log_tab) < 500_000
    assert log_tab.decode().count('class="log-line ') == 200
    assert b"10,000" in timeline  # the log lane counts every line


def test_a_run_with_more_rows_than_the_cap_shows_a_page_of_them_in_under_500_kb(
    owner_client, project
):
    events = [ev("run_start", "run_wide", at=0, seq=0)]
    for k in range(900):
        events += [
            ev("agent_action", "run_wide", at=1 + k, seq=3 * k + 1, tool="lookup",
               tool_input={"customer": f"cus_{k:06}", "fields": ["email", "plan"]}),
            ev("tool_start", "run_wide", at=1.1 + k, seq=3 * k + 2, tool_name="lookup",
               input_str=f'{{"customer": "cus_{k:06}"}}', span_id=f"s{k}"),
            ev("tool_end", "run_wide", at=1.5 + k, seq=3 * k + 3, tool_name="lookup",
               output={"plan": "pro"}, span_id=f"s{k}"),
        ]  # fmt: skip
    apply_now(project, events)
    html = owner_client.get("/runs/run_wide/").content
    assert len(html) < 500_000
    assert html.count(b"data-row data-key") == ROW_CAP
    assert b'id="rows-more"' in html
