"""Playing a planned run forward in time, and the protocol-v1 events it emits."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from runs.demo.agents import _validation_message
from runs.demo.crashes import _TRANSIENT_ERRORS, _Crash
from runs.demo.helpers import _CENT, _format_ts, _hex, _money, _stripe_id, _tokenize, _uuid4
from runs.demo.plans import _Plan
from runs.demo.revenue import _SUBSCRIPTION_PRICE, _Charge, _Ledger
from runs.demo.steps import Billing, LLMCall, LogLine, Step, ToolCall, _step_key

# ---------------------------------------------------------------------------
# Playing a run: the events it emits, in time
# ---------------------------------------------------------------------------

PROTOCOL_VERSION = 1

Event = dict[str, Any]

_STDERR_LEVELS = frozenset({"warning", "error", "critical"})
_CANCELLED_BY = (
    "maria.k@charm.dev",
    "dev.patel@charm.dev",
    "sam.okafor@charm.dev",
    "the scheduler (newer run started)",
)
_TOKEN_GAP_MS = (10.0, 60.0)
_STALL_MS = (2000.0, 5000.0)
_STALL_CHANCE = 0.002
_FLAKY_RUN_CHANCE = 0.13


class _Simulator:
    """Plays one planned run forward in time and records the events it emits."""

    def __init__(self, plan: _Plan, ledger: _Ledger | None) -> None:
        self.plan = plan
        self.ledger = ledger
        self.rng = random.Random(plan.run_seed)
        self.clock = plan.start
        self.events: list[Event] = []
        self.with_span_ids = self.rng.random() < 0.85
        self.script = plan.agent.make_script(random.Random(plan.script_seed + 1), plan.inputs)

    # -- primitives ---------------------------------------------------------

    def wait(self, low_ms: float, high_ms: float) -> None:
        self.clock += timedelta(milliseconds=self.rng.uniform(low_ms, high_ms))

    def emit(
        self, type_: str, data: dict[str, Any], gap_ms: tuple[float, float] = (1.0, 15.0)
    ) -> None:
        """Record an event ``gap_ms`` after the previous one (the first is at the start)."""
        if self.events:
            self.wait(*gap_ms)
        self.events.append(
            {
                "v": PROTOCOL_VERSION,
                "event_id": _uuid4(self.rng),
                "run_id": self.plan.run_id,
                "seq": len(self.events),
                "ts": self.clock,
                "type": type_,
                "agent": {"name": self.plan.agent.name, "version": self.plan.version},
                "data": data,
            }
        )

    def log(self, level: str, message: str, logger: str | None = None) -> None:
        stream = "stderr" if level in _STDERR_LEVELS else "stdout"
        data = {"message": message, "level": level, "stream": stream}
        if logger:
            data["logger"] = logger
        self.emit("log", data, gap_ms=(1.0, 40.0))

    def log_line(self, line: LogLine) -> None:
        self.log(line.level, line.message, line.logger)

    def status(self, status: str, message: str | None = None) -> None:
        data = {"status": status}
        if message:
            data["message"] = message
        self.emit("status", data, gap_ms=(2.0, 30.0))

    # -- steps --------------------------------------------------------------

    def llm(self, call: LLMCall) -> None:
        """Stream the answer token by token, then report its usage."""
        call_id = "call_" + _hex(self.rng, 16)
        tokens = _tokenize(call.text)
        if not call.streamed:
            self._whole_llm_call(call, call_id, len(tokens))
            return
        self.wait(250, 900 + call.input_tokens / 15)  # time to first token grows with the prompt
        for index, token in enumerate(tokens):
            gap = _TOKEN_GAP_MS
            if index and self.rng.random() < _STALL_CHANCE:
                gap = _STALL_MS
            data = {"token": token, "model": call.model, "call_id": call_id}
            self.emit("llm_new_token", data, gap_ms=gap)
        self.emit("usage", self._usage(call, call_id, len(tokens)), gap_ms=(5.0, 40.0))

    def _whole_llm_call(self, call: LLMCall, call_id: str, output_tokens: int) -> None:
        """One `llm_call` when the answer is done: what was sent, the answer, its usage."""
        self.wait(1.0, 15.0)
        started_at = self.clock
        self.wait(400 + call.input_tokens / 15, 900 + call.input_tokens / 10 + output_tokens * 20)
        data = self._usage(call, call_id, output_tokens)
        data["started_at"] = _format_ts(started_at)
        data["input"] = [
            {"role": "system", "content": f"You are {self.plan.agent.name}. Task: {call.purpose}."},
            {"role": "user", "content": json.dumps(self.plan.inputs, default=str)},
        ]
        data["output"] = call.text
        data["attributes"] = {"llm.invocation_parameters": {"temperature": 0, "stream": False}}
        self.emit("llm_call", data, gap_ms=(0.0, 0.0))

    def _usage(self, call: LLMCall, call_id: str, output_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"model": call.model, "call_id": call_id}
        prompt = call.input_tokens + self.rng.randint(-40, 40)
        cached = written = 0
        caching = call.model.startswith("claude") or call.model == "gpt-4o"
        if caching and self.rng.random() < 0.5:
            cached = int(prompt * self.rng.uniform(0.35, 0.85))
        elif call.model.startswith("claude") and self.rng.random() < 0.3:
            written = int(prompt * self.rng.uniform(0.3, 0.6))
        usage["input_tokens"] = prompt - cached - written
        usage["output_tokens"] = output_tokens
        if cached:
            usage["cache_read_tokens"] = cached
        if written:
            usage["cache_write_tokens"] = written
        return usage

    def open_tool(self, name: str, tool_input: Any) -> str | None:
        """``agent_action`` then ``tool_start``; returns the span id, if this run uses them."""
        self.emit("agent_action", {"tool": name, "tool_input": tool_input}, gap_ms=(20.0, 400.0))
        return self._tool_start(name, tool_input)

    def _tool_start(self, name: str, tool_input: Any) -> str | None:
        span_id = "sp_" + _hex(self.rng, 12) if self.with_span_ids else None
        input_str = tool_input if isinstance(tool_input, str) else json.dumps(tool_input)
        self._tool_event("tool_start", name, span_id, input_str=input_str, gap_ms=(1.0, 8.0))
        return span_id

    def _tool_event(
        self,
        type_: str,
        name: str,
        span_id: str | None,
        *,
        gap_ms: tuple[float, float] = (1.0, 8.0),
        **fields: Any,
    ) -> None:
        data = {"tool_name": name, **fields}
        if span_id:
            data["span_id"] = span_id
        self.emit(type_, data, gap_ms=gap_ms)

    def tool(self, call: ToolCall, *, flaky: bool = False) -> None:
        """A tool call that ends well, after one failed attempt if ``flaky``."""
        span_id = self.open_tool(call.tool, call.tool_input)
        if flaky:
            span_id = self._fail_and_retry(call.tool, call.tool_input, span_id)
        duration = self.rng.uniform(*call.duration_ms)
        for line in call.logs:
            self.wait(0.7 * duration / len(call.logs), 0.75 * duration / len(call.logs))
            self.log_line(line)
        remaining = duration * (0.3 if call.logs else 1.0)
        self._tool_event(
            "tool_end", call.tool, span_id, output=call.output, gap_ms=(remaining, remaining * 1.05)
        )
        self.emit("tool_usage", {"tool": call.tool, "count": 1}, gap_ms=(0.1, 1.0))
        if self.rng.random() < 0.3:
            self.log("debug", f"tool {call.tool} finished in {duration:.0f} ms", "charm.tools")

    def _fail_and_retry(self, name: str, tool_input: Any, span_id: str | None) -> str | None:
        error_type, template = self.rng.choice(_TRANSIENT_ERRORS)
        error = {"type": error_type, "message": template.format(n=self.rng.randint(1, 5))}
        self._tool_event("tool_error", name, span_id, error=error, gap_ms=(150.0, 2500.0))
        delay = self.rng.choice([1.0, 2.0, 4.0])
        self.log(
            "warning",
            f"{name} failed with {error_type}; retrying in {delay:.1f} s (attempt 2 of 3)",
            "charm.tools",
        )
        self.wait(delay * 1000, delay * 1000 + 30)
        return self._tool_start(name, tool_input)

    def billing(self, billing: Billing) -> None:
        """Charge through Stripe; live (cloud) runs also record revenue."""
        ledger = self.ledger if self.plan.environment == "cloud" else None
        live = ledger is not None
        charge_id = _stripe_id(self.rng, "ch")
        cents = int(billing.amount * 100)
        output = {
            "id": charge_id,
            "object": "charge",
            "amount": cents,
            "currency": billing.currency.lower(),
            "status": "succeeded",
            "livemode": live,
        }
        self.tool(ToolCall(billing.tool, _billing_input(billing), json.dumps(output), (250, 900)))
        if ledger is None:
            return
        self.revenue(
            "charge",
            billing.amount,
            billing.currency,
            billing.customer,
            charge_id,
            metadata={"description": billing.description},
        )
        ledger.charges.append(
            _Charge(charge_id, billing.customer, billing.currency, billing.amount, self.clock)
        )
        self._maybe_subscription(ledger, billing.customer, billing.currency)
        self._maybe_refund(ledger, billing.customer)
        self._maybe_credit(billing.customer, billing.currency)

    def revenue(
        self,
        kind: str,
        amount: Decimal,
        currency: str,
        customer: str,
        external_id: str,
        **extra: Any,
    ) -> None:
        data = {
            "kind": kind,
            "amount": _money(amount),
            "currency": currency,
            "customer": customer,
            "external_id": external_id,
            **extra,
        }
        self.emit("revenue", data, gap_ms=(5.0, 60.0))

    def _maybe_subscription(self, ledger: _Ledger, customer: str, currency: str) -> None:
        """Now and then, the customer's monthly plan renews (at most once in 30 days)."""
        last = ledger.last_subscription.get(customer)
        if (last and self.clock - last < timedelta(days=30)) or self.rng.random() >= 0.35:
            return
        ledger.last_subscription[customer] = self.clock
        self.log(
            "info",
            f"renewing the monthly team plan for {customer}",
            f"{self.plan.agent.logger}.billing",
        )
        metadata = {"plan": "team", "interval": "month"}
        self.revenue(
            "subscription",
            _SUBSCRIPTION_PRICE[currency],
            currency,
            customer,
            _stripe_id(self.rng, "in"),
            metadata=metadata,
        )

    def _maybe_refund(self, ledger: _Ledger, customer: str) -> None:
        """Now and then, refund (fully or half) an earlier charge of the same customer."""
        candidates = ledger.refundable(customer, before=self.clock)
        if not candidates or self.rng.random() >= 0.12:
            return
        charge = self.rng.choice(candidates)
        full = self.rng.random() < 0.7
        amount = charge.amount if full else (charge.amount / 2).quantize(_CENT)
        reason = self.rng.choice(["duplicate", "requested_by_customer", "requested_by_customer"])
        refund_id = _stripe_id(self.rng, "re")
        tool_input = {"charge": charge.external_id, "amount": _money(amount), "reason": reason}
        self.tool(
            ToolCall(
                "stripe.create_refund",
                tool_input,
                json.dumps({"id": refund_id, "status": "succeeded"}),
                (250, 800),
            )
        )
        ledger.refunded.add(charge.external_id)
        self.revenue(
            "refund",
            amount,
            charge.currency,
            customer,
            refund_id,
            refund_of=charge.external_id,
            metadata={"reason": reason},
        )

    def _maybe_credit(self, customer: str, currency: str) -> None:
        """Rarely, a service credit after an incident."""
        if self.rng.random() >= 0.04:
            return
        amount = Decimal("25.00") if currency == "USD" else Decimal("20.00")
        incident = f"INC-{self.rng.randint(1000, 2999)}"
        self.log(
            "info",
            f"issuing a service credit to {customer} for incident {incident}",
            f"{self.plan.agent.logger}.billing",
        )
        self.revenue(
            "credit",
            amount,
            currency,
            customer,
            _stripe_id(self.rng, "cn"),
            metadata={"reason": f"SLA credit for {incident}"},
        )

    def step(self, step: Step, *, flaky: bool = False) -> None:
        if isinstance(step, LogLine):
            self.log_line(step)
        elif isinstance(step, LLMCall):
            self.llm(step)
        elif isinstance(step, ToolCall):
            self.tool(step, flaky=flaky)
        else:
            self.billing(step)

    def play(self, steps: Sequence[Step]) -> None:
        """Play ``steps``; in some runs one tool fails once and is retried."""
        tools = [i for i, step in enumerate(steps) if isinstance(step, ToolCall)]
        flaky = -1
        if tools and self.rng.random() < _FLAKY_RUN_CHANCE:
            flaky = self.rng.choice(tools)
        for index, step in enumerate(steps):
            self.wait(30, 400)  # the agent thinks between steps
            self.step(step, flaky=index == flaky)

    # -- phases -------------------------------------------------------------

    def simulate(self) -> list[Event]:
        """Play the whole run, ending the way its plan says."""
        self.start()
        if self.plan.ending == "validation_failed":
            self.fail_validation()
            return self.events
        self.begin()
        steps = self.script.steps
        if self.plan.ending == "crashed":
            self.crash(steps)
        elif self.plan.ending == "cancelled":
            self.cancel(steps)
        elif self.plan.ending == "timed_out":
            self.time_out(steps)
        else:
            self.play(steps)
            self.succeed()
        return self.events

    def start(self) -> None:
        plan = self.plan
        data = {
            "inputs": json.loads(json.dumps(plan.inputs)),
            "environment": plan.environment,
            "runtime": dict(plan.runtime),
            "config": plan.agent.config(),
        }
        self.emit("run_start", data)
        in_cloud = plan.environment == "cloud"
        if in_cloud and self.rng.random() < 0.45:
            self.status("queued")
            long_queue = self.rng.random() < 0.1
            self.wait(*((30_000, 120_000) if long_queue else (300, 15_000)))
        if plan.ending == "validation_failed" or (in_cloud and self.rng.random() < 0.3):
            self.status("validating")
            self.wait(600, 2500)

    def fail_validation(self) -> None:
        message = _validation_message(self.rng, self.plan.agent)
        self.log("error", f"charm validate failed: {message}", "charm.validate")
        self.status("validation_failed", message)

    def begin(self) -> None:
        plan, runtime = self.plan, self.plan.runtime
        self.status("running")
        self.log(
            "info",
            f"starting {plan.agent.name} {plan.version} (charm-sdk {runtime['sdk_version']}, "
            f"Python {runtime['python']}, {plan.environment})",
            "charm.runtime",
        )
        tools = ", ".join(sorted(plan.agent.tools))
        self.log(
            "debug",
            f"loaded {len(plan.agent.tools)} tools from charm.yaml: {tools}",
            "charm.runtime",
        )
        if plan.crash and plan.crash.warning:
            self.log_line(plan.crash.warning)

    def succeed(self) -> None:
        elapsed = (self.clock - self.plan.start).total_seconds()
        self.log("info", f"run finished in {elapsed:.1f} s", "charm.runtime")
        if self.plan.agent.name == "research-assistant":
            report = f"report-{self.plan.run_id[-8:]}.md"
            artifact = {"name": report, "url": f"https://files.example.com/{report}"}
            self.emit("artifact", {**artifact, "mime": "text/markdown"}, gap_ms=(5.0, 40.0))
        self.emit("state_update", {"state": {"steps": len(self.script.steps)}}, gap_ms=(1, 5))
        self.emit("run_end", {"outputs": self.script.outputs})
        self.status("succeeded")
        self.end_process(0)

    def end_process(self, exit_code: int) -> None:
        """Cloud runs end with the runner's exit report; local ones with the pipe's end."""
        if self.plan.environment == "cloud":
            duration_ms = round((self.clock - self.plan.start).total_seconds() * 1000)
            data = {"exit_code": exit_code, "duration_ms": duration_ms}
            self.emit("process_exit", data, gap_ms=(20.0, 200.0))
        elif self.plan.environment == "local":
            self.emit("stream_end", {"lines": len(self.events)}, gap_ms=(1.0, 5.0))

    def crash(self, steps: Sequence[Step]) -> None:
        """Play up to the step where the plan's crash strikes, then fail there."""
        crash = self.plan.crash
        assert crash is not None
        matching = [i for i, step in enumerate(steps) if _step_key(step) == crash.at]
        index = self.rng.choice(matching) if matching else len(steps) - 1
        self.play(steps[:index])
        failing = steps[index]
        step_input = _tool_of(failing)[1] if isinstance(failing, ToolCall | Billing) else None
        python = self.plan.runtime["python"].rsplit(".", 1)[0]
        message, traceback = crash.render(self.rng, self.plan.inputs, step_input, python)
        if isinstance(failing, LLMCall):
            self.llm(failing)
        else:
            self._fail_tool(crash, failing, message)
        self.log("error", f"run failed with an unhandled exception\n{traceback}", "charm.runtime")
        self.emit(
            "error",
            {"error": {"type": crash.error_type, "message": message, "traceback": traceback}},
        )
        self.status("failed", f"{crash.error_type}: {message}")
        self.end_process(137 if crash.error_type == "MemoryError" else 0)

    def _fail_tool(self, crash: _Crash, failing: Step, message: str) -> None:
        name, tool_input = _tool_of(failing)
        span_id = self.open_tool(name, tool_input)
        attempts = crash.retries + 1
        for attempt in range(1, attempts):
            self.wait(*crash.delay_ms)
            self.log(
                "warning",
                f"{name}: attempt {attempt} of {attempts} timed out; retrying",
                "charm.http",
            )
        self.wait(*crash.delay_ms)
        error = {"type": crash.error_type, "message": message}
        self._tool_event("tool_error", name, span_id, error=error)

    def cancel(self, steps: Sequence[Step]) -> None:
        """Stop partway, sometimes leaving a tool call open (it shows as abandoned)."""
        index = self.rng.randint(1, max(1, len(steps) - 1))
        self.play(steps[:index])
        if isinstance(steps[index], ToolCall) and self.rng.random() < 0.4:
            self.open_tool(*_tool_of(steps[index]))
        self.wait(500, 20_000)
        who = self.rng.choice(_CANCELLED_BY)
        self.log("warning", "received SIGTERM: cancel requested, stopping the run", "charm.runtime")
        self.status("cancelled", f"cancelled by {who}")

    def time_out(self, steps: Sequence[Step]) -> None:
        """Hang in a tool call until the agent's timeout kills the run."""
        tools = [i for i, step in enumerate(steps) if isinstance(step, ToolCall)]
        index = self.rng.choice(tools)
        self.play(steps[:index])
        self.open_tool(*_tool_of(steps[index]))
        timeout = self.plan.agent.timeout_s
        self.clock = max(self.clock, self.plan.start + timedelta(seconds=timeout))
        self.log(
            "error",
            f"run exceeded its timeout of {timeout} s; killing the agent process",
            "charm.runner",
        )
        self.status("timed_out", f"run exceeded its {timeout} s timeout")


def _billing_input(billing: Billing) -> dict[str, Any]:
    return {
        "customer": billing.customer,
        "amount": _money(billing.amount),
        "currency": billing.currency.lower(),
        "description": billing.description,
    }


def _tool_of(step: Step) -> tuple[str, Any]:
    """The tool name and input of a tool or billing step."""
    if isinstance(step, Billing):
        return step.tool, _billing_input(step)
    assert isinstance(step, ToolCall)
    return step.tool, step.tool_input
