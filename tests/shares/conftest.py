"""A failed run full of secrets, as support would want to share it."""

import pytest

from tests.conftest import apply_now, ev

RUN_ID = "run_secret"

# Every secret the seeded run holds; none may reach a shared page.
SECRETS = [
    "sk_live_51HabcdefghijKLMNOP",  # the declared STRIPE_API_KEY's value
    "hunter2-horse-battery",  # the declared DB_PASSWORD's value, also said bare later
    "gho_16C7e42F292c6912E7710c838347Ae178B4a",  # the github OAuth connection's token
    "sk-proj-abcdefghijklmnop1234",
    "ghp_abcdefghijklmnopqrstuvwxyz0123",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk",
    "AKIAIOSFODNN7EXAMPLE",
    "alice@example.com",
    "bob@acme.io",
    "s3cr3t-Passw0rd!",
    "pgpass-9876",
    "ACME-123456",  # the project's own pattern
    "xoxb-1234567890-abcdefghij",
]


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/bot.py", line 7, in run\n'
    '    connect(password="s3cr3t-Passw0rd!")\n'
    "KeyError: STRIPE_API_KEY"
)


def secret_run_events(run_id: str = RUN_ID) -> list[dict]:
    return [
        ev("run_start", run_id, at=0, seq=0, environment="cloud",
           inputs={"customer": "alice@example.com", "api_key": "sk-proj-abcdefghijklmnop1234",
                   "note": "call bob@acme.io about order ACME-123456"},
           runtime={"sdk_version": "0.5.2", "python": "3.11.9", "image": "ghcr.io/acme/bot:7",
                    "user_id": "alice@example.com"},
           config={"required_env": ["STRIPE_API_KEY", "DB_PASSWORD"], "oauth": ["github"]}),
        ev("status", run_id, at=0.1, seq=1, status="running",
           message="connecting to postgres://app:pgpass-9876@db.internal/app"),
        ev("log", run_id, at=0.2, seq=2, level="info", stream="stdout",
           message="loaded STRIPE_API_KEY=sk_live_51HabcdefghijKLMNOP from the vault"),
        ev("log", run_id, at=0.3, seq=3, level="debug", stream="stdout",
           message="env: DB_PASSWORD='hunter2-horse-battery'"),
        ev("log", run_id, at=0.4, seq=4, level="warning", stream="stderr",
           message="retrying login with hunter2-horse-battery for alice@example.com"),
        ev("agent_action", run_id, at=0.9, seq=5, tool="search",
           tool_input={"q": "overdue", "token": "ghp_abcdefghijklmnopqrstuvwxyz0123"}),
        ev("tool_start", run_id, at=1, seq=6, tool_name="search", span_id="t1",
           input_str='{"q": "overdue", "token": "ghp_abcdefghijklmnopqrstuvwxyz0123"}'),
        ev("tool_end", run_id, at=2, seq=7, tool_name="search", span_id="t1",
           output={"headers": {"Authorization":
                   "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk"},
                   "slack": "xoxb-1234567890-abcdefghij"}),
        ev("llm_new_token", run_id, at=3.0, seq=8, token="Use AKIAIOSFODNN7EXAMPLE ",
           model="gpt-4o", call_id="c1"),
        ev("llm_new_token", run_id, at=3.1, seq=9, token="and mail bob@acme.io",
           model="gpt-4o", call_id="c1"),
        ev("tool_start", run_id, at=4, seq=10, tool_name="github", span_id="t2",
           input_str="github_token=gho_16C7e42F292c6912E7710c838347Ae178B4a"),
        ev("tool_error", run_id, at=4.5, seq=11, tool_name="github", span_id="t2",
           error={"type": "AuthError",
                  "message": "bad credentials gho_16C7e42F292c6912E7710c838347Ae178B4a"}),
        ev("log", run_id, at=4.8, seq=12, level="error", stream="stderr",
           message="charge failed: STRIPE_API_KEY rejected (sk_live_51HabcdefghijKLMNOP)"),
        ev("error", run_id, at=5, seq=13, error={
            "type": "KeyError",
            "message": "STRIPE_API_KEY sk_live_51HabcdefghijKLMNOP was refused",
            "traceback": TRACEBACK}),
    ]  # fmt: skip


@pytest.fixture
def secret_run(project):
    project.redaction_patterns = r"ACME-\d{6}"
    project.save()
    apply_now(project, secret_run_events())
    return RUN_ID
