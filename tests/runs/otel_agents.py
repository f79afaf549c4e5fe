"""Agents traced by the real OpenTelemetry SDK, and what its OTLP exporter sends.

`traced(agent)` runs an agent under a TracerProvider of its own and returns the
finished spans; `otlp_protobuf(spans)` is the body `OTLPSpanExporter` posts (its own
encoder), and `otlp_json(spans)` the same request in OTLP JSON: protobuf's JSON
mapping with trace and span ids in hex, the one change the OTLP spec makes to it.
"""

import contextlib
import json
import time

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

ANSWER = "It is 18°C and sunny in Paris."


def provider(service: str, exporter) -> TracerProvider:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def traced(agent, service: str = "weather-agent", **kwargs) -> list:
    exporter = InMemorySpanExporter()
    tracer_provider = provider(service, exporter)
    agent(tracer_provider.get_tracer("tests.otel_agents"), **kwargs)
    tracer_provider.shutdown()
    return list(exporter.get_finished_spans())


def otlp_protobuf(spans) -> bytes:
    return encode_spans(spans).SerializeToString()


def otlp_json(spans) -> bytes:
    document = MessageToDict(encode_spans(spans))
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = _b64_to_hex(span[key])
    return json.dumps(document).encode()


def _b64_to_hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()


def openinference_agent(
    tracer, *, city: str = "Paris", session: str = "chat-7", llm_seconds: float = 0.0
) -> None:
    """An agent instrumented by hand with OpenInference attributes: an LLM call with
    token usage, a tool that works, a tool that fails with a recorded exception (which
    the agent catches), then the answer."""
    with tracer.start_as_current_span("weather-agent") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        root.set_attribute("input.value", json.dumps({"city": city}))
        root.set_attribute("input.mime_type", "application/json")
        root.set_attribute("session.id", session)
        root.set_attribute("user.id", "user-42")
        root.set_attribute("deployment.region", "eu-west-1")
        with tracer.start_as_current_span("ChatOpenAI") as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.model_name", "gpt-4o-mini")
            llm.set_attribute("llm.provider", "openai")
            llm.set_attribute("llm.input_messages.0.message.role", "system")
            llm.set_attribute("llm.input_messages.0.message.content", "You are a weather bot.")
            llm.set_attribute("llm.input_messages.1.message.role", "user")
            llm.set_attribute("llm.input_messages.1.message.content", f"Weather in {city}?")
            llm.set_attribute("llm.output_messages.0.message.role", "assistant")
            llm.set_attribute("llm.output_messages.0.message.content", ANSWER)
            llm.set_attribute("llm.token_count.prompt", 1200)
            llm.set_attribute("llm.token_count.completion", 300)
            llm.set_attribute("llm.token_count.prompt_details.cache_read", 200)
            llm.set_attribute("llm.token_count.total", 1500)
            llm.set_attribute("llm.invocation_parameters", '{"temperature": 0.2}')
            time.sleep(llm_seconds)  # the model thinking
        with tracer.start_as_current_span("get_weather") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "get_weather")
            tool.set_attribute("input.value", city)
            tool.set_attribute("output.value", "18°C and sunny")
            tool.set_attribute("tool.description", "The weather in a city.")
        try:
            with tracer.start_as_current_span("get_forecast") as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.set_attribute("tool.name", "get_forecast")
                tool.set_attribute("input.value", city)
                raise TimeoutError(f"forecast service timed out for {city}")
        except TimeoutError:
            pass  # the SDK recorded the exception and set the status to ERROR
        root.set_attribute("output.value", ANSWER)


def genai_agent(tracer, *, fail: bool = False) -> None:
    """An agent under the GenAI semantic conventions: invoke_agent → chat → execute_tool.
    With `fail`, the agent's run raises and its root span ends in ERROR."""
    with tracer.start_as_current_span("invoke_agent support-bot") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "support-bot")
        root.set_attribute("gen_ai.conversation.id", "conv-1")
        with tracer.start_as_current_span("chat claude-sonnet-4") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.system", "anthropic")
            chat.set_attribute("gen_ai.request.model", "claude-sonnet-4")
            chat.set_attribute("gen_ai.response.model", "claude-sonnet-4-20250514")
            chat.set_attribute("gen_ai.usage.input_tokens", 900)
            chat.set_attribute("gen_ai.usage.output_tokens", 100)
            chat.set_attribute("gen_ai.usage.cache_read.input_tokens", 400)
            chat.set_attribute("gen_ai.request.temperature", 0.0)
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Refund?"}]}]),
            )
            chat.set_attribute(
                "gen_ai.output.messages",
                json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Refunded."}]}]
                ),
            )
        with tracer.start_as_current_span("execute_tool refund") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "refund")
            tool.set_attribute("gen_ai.tool.call.id", "call-9")
            tool.set_attribute("gen_ai.tool.call.arguments", '{"order": "A-1"}')
            tool.set_attribute("gen_ai.tool.call.result", '{"ok": true}')
        if fail:
            error = KeyError("customer_id")
            root.record_exception(error)
            root.set_status(Status(StatusCode.ERROR, "KeyError: 'customer_id'"))


def langchain_agent(tracer_provider, *, city: str = "Paris") -> None:
    """A LangChain agent on langchain-core's fake chat model, with a tool call loop and
    a tool that raises, instrumented by openinference-instrumentation-langchain."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import tool
    from openinference.instrumentation.langchain import LangChainInstrumentor

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"18°C and sunny in {city}"

    @tool
    def get_pollen(city: str) -> str:
        """The pollen count in a city."""
        raise ConnectionError(f"pollen service unreachable for {city}")

    def agent(inputs, config):
        model = GenericFakeChatModel(
            messages=iter(
                [
                    AIMessage(
                        content="",
                        tool_calls=[{"name": "get_weather", "args": {"city": city}, "id": "c1"}],
                        usage_metadata={"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
                    ),
                    AIMessage(
                        content=ANSWER,
                        usage_metadata={"input_tokens": 40, "output_tokens": 9, "total_tokens": 49},
                    ),
                ]
            )
        )
        first = model.invoke([HumanMessage(inputs["city"])], config=config)
        seen = get_weather.invoke(first.tool_calls[0]["args"], config=config)
        with contextlib.suppress(ConnectionError):
            get_pollen.invoke({"city": city}, config=config)
        messages = [HumanMessage(inputs["city"]), first, ToolMessage(seen, tool_call_id="c1")]
        return {"output": model.invoke(messages, config=config).content}

    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        RunnableLambda(agent).with_config(run_name="weather-agent").invoke({"city": city})
    finally:
        instrumentor.uninstrument()
