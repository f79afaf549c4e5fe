"""Each debug checklist item as a pure function: ✓ (pass), ✗ (fail), – (skip)."""

from datetime import UTC, datetime, timedelta

from runs.checklist import (
    ErrorText,
    LogLine,
    LogWindow,
    RunBrief,
    StatusEvent,
    check_env_and_oauth,
    check_logs,
    check_runtime,
    check_same_input_locally,
    check_validation,
    local_reference,
)

T0 = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def brief(run_id: str, status: str = "succeeded", *, environment: str = "local", **runtime):
    return RunBrief(run_id, environment, status, at(0), runtime=runtime)


# ── 1. Same input locally ────────────────────────────────────────────────────


def test_never_run_locally_with_this_input_is_a_problem_with_the_command_to_try():
    check = check_same_input_locally(
        environment="cloud", has_inputs=True, local_runs=[], reference=None
    )

    assert check.state == "fail"
    assert check.evidence == "Never run locally with this input."
    assert "`charm run --local`" in check.hint


def test_succeeded_locally_means_the_difference_is_environmental_and_links_the_comparison():
    local = [brief("run_local")]
    check = check_same_input_locally(
        environment="cloud",
        has_inputs=True,
        local_runs=local,
        reference=local_reference(local),
        divergence="Where they diverge: at step 4, local called `search` → ok; …",
    )

    assert check.state == "pass"
    assert "succeeded locally" in check.evidence
    assert "environmental" in check.evidence
    assert check.link.page == "compare"
    assert check.link.other_run_id == "run_local"
    assert check.notes == ("Where they diverge: at step 4, local called `search` → ok; …",)


def test_the_latest_local_success_is_compared_even_when_a_newer_local_run_failed():
    local = [brief("run_new", "failed"), brief("run_old", "succeeded")]

    assert local_reference(local).run_id == "run_old"


def test_failing_locally_too_is_a_problem_that_is_not_environmental():
    local = [brief("run_l2", "failed"), brief("run_l1", "timed_out")]
    check = check_same_input_locally(
        environment="cloud", has_inputs=True, local_runs=local, reference=local_reference(local)
    )

    assert check.state == "fail"
    assert check.evidence.startswith("It fails locally too: none of the 2 local runs")
    assert "`run_l2`" in check.evidence


def test_a_local_run_still_running_is_not_yet_evidence():
    local = [brief("run_l", "running")]
    check = check_same_input_locally(
        environment="cloud", has_inputs=True, local_runs=local, reference=local_reference(local)
    )

    assert check.state == "skip"


def test_a_local_run_itself_has_no_local_run_to_compare_with():
    check = check_same_input_locally(
        environment="local", has_inputs=True, local_runs=[], reference=None
    )

    assert check.state == "skip"


def test_a_run_whose_inputs_never_arrived_cannot_be_matched():
    check = check_same_input_locally(
        environment="cloud", has_inputs=False, local_runs=[], reference=None
    )

    assert check.state == "skip"
    assert "no run_start" in check.evidence


# ── 2. Validation ────────────────────────────────────────────────────────────


def test_failed_validation_is_a_problem_with_its_message():
    check = check_validation(
        run_status="validation_failed",
        status_message="",
        history=[
            StatusEvent("queued", "", at(0), "e1"),
            StatusEvent("validating", "", at(1), "e2"),
            StatusEvent("validation_failed", "exporter 'otel' not found", at(2), "e3"),
        ],
    )

    assert check.state == "fail"
    assert check.evidence == "Validation failed: exporter 'otel' not found"
    assert check.link.item == "status:e3"


def test_validating_then_running_passed_validation():
    check = check_validation(
        run_status="failed",
        status_message="KeyError",
        history=[StatusEvent("validating", "", at(1), "e1"), StatusEvent("running", "", at(2))],
    )

    assert check.state == "pass"
    assert "passed validation" in check.evidence


def test_no_validation_status_is_not_applicable_and_suggests_charm_validate():
    check = check_validation(
        run_status="failed", status_message="", history=[StatusEvent("running", "", at(0))]
    )

    assert check.state == "skip"
    assert check.evidence == "No validation status was reported for this run."
    assert "`charm validate`" in check.hint


def test_validation_that_never_reached_running_is_a_problem_stated_as_observed():
    check = check_validation(
        run_status="timed_out",
        status_message="",
        history=[StatusEvent("running", "", at(0)), StatusEvent("validating", "", at(1))],
    )

    assert check.state == "fail"
    assert check.evidence == (
        "Validation never finished: the run reported `validating`, then ended `timed_out` "
        "without reporting `running`."
    )


# ── 3. Logs ──────────────────────────────────────────────────────────────────


def line(number: int, level: str = "info", message: str = "ok", logger: str = "app") -> LogLine:
    return LogLine(number, at(number), level, message, logger)


def test_no_log_lines_is_not_applicable():
    check = check_logs(window=LogWindow(total=0, failure_at=at(10)))

    assert check.state == "skip"


def test_an_error_line_before_the_failure_is_a_problem_linked_to_its_line():
    error = line(7, "error", "stripe: no API key provided\nTraceback …", "charm.runtime")
    check = check_logs(
        window=LogWindow(
            total=40,
            failure_at=at(8),
            lines=(line(5), line(6, "warning"), error, line(8), line(9)),
            first_error=error,
            last_before=8,
        )
    )

    assert check.state == "fail"
    assert check.evidence == (
        "Line 7 is the first error line before the failure: charm.runtime: stripe: no API key "
        "provided"
    )
    assert (check.link.tab, check.link.line) == ("logs", 7)


def test_logs_without_errors_pass_and_link_the_line_at_the_failure():
    check = check_logs(
        window=LogWindow(total=12, failure_at=at(8), lines=(line(7), line(8)), last_before=8)
    )

    assert check.state == "pass"
    assert check.evidence == "12 log lines, none at error or critical level before the failure."
    assert check.link.line == 8


# ── 4. Environment variables and OAuth connections ───────────────────────────

CONFIG = {"required_env": ["STRIPE_API_KEY", "OPENAI_API_KEY"], "oauth": ["quickbooks"]}


def crash(message: str, traceback: str = "", type_: str = "KeyError") -> ErrorText:
    return ErrorText("the run's error", type_, message, traceback, item="error:e9")


def test_a_declared_variable_the_error_says_is_missing_must_be_set_in_the_environment():
    check = check_env_and_oauth(
        environment="cloud", config=CONFIG, errors=[crash("'STRIPE_API_KEY'")]
    )

    assert check.state == "fail"
    assert check.evidence == (
        "`STRIPE_API_KEY` is declared in config.required_env and the error says it is missing "
        "— set it in the cloud environment"
    )
    assert check.link.item == "error:e9"


def test_a_missing_variable_nobody_declared_says_so():
    check = check_env_and_oauth(
        environment="cloud",
        config=CONFIG,
        errors=[crash("environment variable SENDGRID_API_KEY is not set", type_="RuntimeError")],
    )

    assert check.state == "fail"
    assert check.evidence.startswith("`SENDGRID_API_KEY` is missing and not declared in charm.yaml")


def test_a_declared_oauth_connection_reported_missing_must_be_connected():
    check = check_env_and_oauth(
        environment="cloud",
        config=CONFIG,
        errors=[crash("OAuth connection 'quickbooks' is not connected", type_="OAuthError")],
    )

    assert check.state == "fail"
    assert check.evidence.startswith("OAuth connection `quickbooks` is declared in config.oauth")


def test_pydantic_settings_field_names_match_declared_names_whatever_their_case():
    traceback = "1 validation error for Settings\nstripe_api_key\n  Field required [type=missing"
    check = check_env_and_oauth(
        environment="docker",
        config=CONFIG,
        errors=[crash("1 validation error", traceback, "ValidationError")],
    )

    assert check.state == "fail"
    assert "set it in the docker environment" in check.evidence


def test_nothing_missing_with_names_declared_passes_and_lists_them():
    check = check_env_and_oauth(
        environment="cloud", config=CONFIG, errors=[crash("upstream timed out", type_="Timeout")]
    )

    assert check.state == "pass"
    assert "STRIPE_API_KEY, OPENAI_API_KEY" in check.evidence
    assert "quickbooks" in check.evidence


def test_nothing_declared_and_nothing_missing_is_not_applicable():
    check = check_env_and_oauth(
        environment="cloud",
        config={},
        errors=[crash("division by zero", type_="ZeroDivisionError")],
    )

    assert check.state == "skip"


def test_without_any_error_text_there_is_nothing_to_check():
    check = check_env_and_oauth(environment="cloud", config=CONFIG, errors=[])

    assert check.state == "skip"


def test_a_tool_error_naming_a_missing_variable_counts_too():
    tool_error = ErrorText("tool `charge`", "KeyError", "'STRIPE_API_KEY'", item="tool:t1")
    check = check_env_and_oauth(
        environment="cloud",
        config=CONFIG,
        errors=[crash("run failed", type_="RuntimeError"), tool_error],
    )

    assert check.state == "fail"
    assert check.link.item == "tool:t1"
    assert check.notes == ("`STRIPE_API_KEY`: said by tool `charge` `KeyError: 'STRIPE_API_KEY'`",)


# ── 5. Runtime ───────────────────────────────────────────────────────────────

CLOUD = {
    "python": "3.12.7",
    "sdk_version": "0.15.0",
    "image": "ghcr.io/charm/runner:0.15",
    "region": "us-east-1",
}


def test_a_different_python_locally_is_a_problem_with_the_docker_hint():
    local = brief("run_l", python="3.11.9", sdk_version="0.15.0")

    check = check_runtime(runtime=CLOUD, reference=local)

    assert check.state == "fail"
    assert check.evidence == "python 3.12.7 here vs 3.11.9 locally."
    assert check.hint == "Test in Docker with the cloud image: `ghcr.io/charm/runner:0.15`"
    assert check.notes == (
        "Not compared: image (not reported locally), region (not reported locally).",
    )


def test_the_same_runtime_passes():
    local = brief("run_l", python="3.12.7", sdk_version="0.15.0")

    check = check_runtime(runtime=CLOUD, reference=local)

    assert check.state == "pass"
    assert check.evidence == "Same python 3.12.7, sdk_version 0.15.0 here and locally."


def test_without_a_run_to_compare_with_runtime_is_not_applicable():
    check = check_runtime(runtime=CLOUD, reference=None, agent_name="invoice-bot")

    assert check.state == "skip"


def test_keys_only_one_run_reported_are_not_differences():
    local = brief("run_l", os="macOS")

    check = check_runtime(runtime=CLOUD, reference=local)

    assert check.state == "skip"


def test_a_cloud_reference_run_is_named_as_such():
    cloud = brief("run_ok", environment="cloud", **{**CLOUD, "sdk_version": "0.14.3"})

    check = check_runtime(runtime=CLOUD, reference=cloud, agent_name="invoice-bot")

    assert check.state == "fail"
    assert check.evidence == "Against `run_ok`: sdk_version 0.15.0 here vs 0.14.3."
    assert "latest succeeded cloud run of `invoice-bot`" in check.notes[0]
