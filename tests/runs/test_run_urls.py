"""Any run id the API accepts opens its pages and API answers from the links Studio gives:
`/`, `%`, spaces, `?`, `#`, dot segments and ids that look like other routes."""

import html
import re
from urllib.parse import quote, unquote

import pytest
from django.test import Client
from django.urls import reverse

from runs.converters import RunIdConverter
from studio.apikeys import apikey_create
from tests.conftest import apply_now, ev, login
from tests.runs.test_views_run_list import run_events

AWKWARD_IDS = [
    "team-a/nightly/7",
    "50% off",
    "50%41",
    "nightly run 7",
    "what?now",
    "tag#1",
    "x/checklist",
    "checklist",
    "compare",
    "health/batches/1/retry",
    "x/share",
    "..",
    "a/./b",
    "/leading//double/",
    "ジョブ/1",
]


@pytest.fixture
def runs(project):
    apply_now(
        project,
        [e for n, run_id in enumerate(AWKWARD_IDS) for e in run_events(run_id, status="failed",
                                                                       started=600 - n)],
    )  # fmt: skip


@pytest.fixture
def reader(project) -> Client:
    key = apikey_create(project=project, scopes=["read"])[1]
    return Client(headers={"Authorization": f"Bearer {key}"})


def list_links(client: Client) -> dict[str, str]:
    """Run id → the href of its row in the runs list."""
    body = client.get("/runs/").content.decode()
    rows = re.findall(r'<a class="mono truncate" href="([^"]+)" title="([^"]*)">', body)
    return {html.unescape(run_id): html.unescape(href) for href, run_id in rows}


def attribute(body: str, name: str) -> str:
    return html.unescape(re.search(rf'{name}="([^"]+)"', body).group(1))


@pytest.mark.parametrize("run_id", AWKWARD_IDS)
def test_a_run_opens_its_page_checklist_and_live_view_from_the_runs_list(owner, runs, run_id):
    client = login(owner)
    href = list_links(client)[run_id]

    detail = client.get(href)
    assert detail.status_code == 200
    body = detail.content.decode()
    assert attribute(body, "data-run-id") == run_id

    checklist = client.get(attribute(body, 'id="checklist" class="rd-checklist" hx-get'))
    assert checklist.status_code == 200
    assert attribute(checklist.content.decode(), "data-copy") == run_id

    live = client.get(attribute(body, "data-live-url"))
    assert live.status_code == 200
    assert live["Content-Type"].startswith("text/event-stream")


@pytest.mark.parametrize("run_id", ["team-a/nightly/7", "x/share", "share"])
def test_a_run_page_offers_a_share_link_that_makes_a_link_to_that_run(owner, project, run_id):
    from shares.models import ShareLink

    apply_now(project, run_events(run_id, status="failed", started=600))
    client = login(owner)
    body = client.get(list_links(client)[run_id]).content.decode()
    action = html.unescape(re.search(r'<form[^>]+action="([^"]*/share/)"', body).group(1))

    answer = client.post(action, {"hours": "24"})

    assert answer.status_code in (200, 302), answer.status_code
    assert ShareLink.objects.filter(run__run_id=run_id).count() == 1


@pytest.mark.parametrize("run_id", AWKWARD_IDS)
def test_the_api_finds_a_run_by_its_id_sent_as_is_or_percent_encoded(reader, runs, run_id):
    for path in (reverse("runs:api_run", args=[run_id]), f"/api/v1/runs/{quote(run_id, safe='')}"):
        response = reader.get(path)
        assert response.status_code == 200, path
        assert response.json()["run_id"] == run_id

    events = reader.get(reverse("runs:api_run_events", args=[run_id]))
    assert events.status_code == 200
    assert events.json()["events"][0]["type"] == "run_start"


def test_a_run_whose_id_ends_in_events_is_found_by_the_api(reader, project):
    apply_now(project, run_events("nightly/events"))

    response = reader.get("/api/v1/runs/nightly/events")

    assert response.status_code == 200
    assert response.json()["run_id"] == "nightly/events"


def test_the_events_of_a_run_win_over_a_run_named_like_them(reader, project):
    apply_now(project, run_events("nightly") + run_events("nightly/events"))

    response = reader.get("/api/v1/runs/nightly/events")

    assert response.json()["events"][0]["run_id"] == "nightly"


def test_links_made_before_the_escaping_still_open_their_run(owner, runs):
    # Earlier links quoted the whole id: `/runs/team-a%2Fnightly%2F7/`.
    response = login(owner).get(f"/runs/{quote('team-a/nightly/7', safe='')}/")

    assert response.status_code == 200
    assert attribute(response.content.decode(), "data-run-id") == "team-a/nightly/7"


def test_a_revenue_event_links_to_its_run(owner, project):
    run_id = "shop/order 7%"
    charge = ev("revenue", run_id, kind="charge", amount="5.00", currency="EUR")
    apply_now(project, [*run_events(run_id), charge])
    client = login(owner)
    body = client.get("/revenue/?range=all").content.decode()

    run_page = client.get(attribute(body, '<tr data-row data-event="[^"]+" data-href'))
    assert attribute(run_page.content.decode(), "data-run-id") == run_id


@pytest.mark.parametrize("run_id", AWKWARD_IDS)
def test_every_id_comes_back_whole_from_its_url_segment(run_id):
    converter = RunIdConverter()
    # What the server hands the pattern: reverse()'s encoding, decoded once.
    sent = reverse("runs:detail", args=[run_id])
    assert converter.to_python(unquote(sent).removeprefix("/runs/").removesuffix("/")) == run_id
