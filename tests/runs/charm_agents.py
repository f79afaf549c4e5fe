"""Small Charm agent projects, and what the real `charm run` prints for them.

Each agent is written to a directory as `charm.yaml` + `agent.py` and run by the
installed CLI (charmos), cwd the project, with a home whose daily update check is done.
The captured stdout is fed to Studio as it is: no Charm line in these tests is made up.
"""

import json
import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import run

CHARM = Path(sys.executable).with_name("charm")
INPUT = {"input": "Paris"}


@dataclass(frozen=True)
class Agent:
    name: str  # the persona name, which `charm run` announces as "✔ Loaded Agent: NAME"
    adapter: str  # "langchain" or "custom"
    code: str


WEATHER_ANSWER = "It is 18°C and sunny in Paris."

STREAMED_AFTER_TOOL = Agent(
    "weather-bot",
    "langchain",
    f'''
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"18°C and sunny in {{city}}"


def answer(inputs, config):
    seen = get_weather.invoke({{"city": inputs["input"]}}, config=config)
    model = GenericFakeChatModel(messages=iter([AIMessage(content="{WEATHER_ANSWER}")]))
    return {{"output": "".join(c.content for c in model.stream(seen, config=config))}}


runnable = RunnableLambda(answer)
''',
)

LONG_ANSWER = (
    "Invoice INV-7 of Acme GmbH is paid in full; the receipt went to billing and the "
    "ledger is closed for November."
)

LONG_STREAMED = Agent(
    "ledger-bot",
    "langchain",
    STREAMED_AFTER_TOOL.code.replace(WEATHER_ANSWER, LONG_ANSWER),
)

_CHARGE_CARD = '''
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool


@tool
def charge_card(amount: str) -> str:
    """Charge the customer's card."""
    raise ValueError(f"card declined for {amount}")


def answer(inputs, config):
'''

CAUGHT_TOOL_ERROR = Agent(
    "billing-bot",
    "langchain",
    _CHARGE_CARD
    + """\
    try:
        return {"output": charge_card.invoke({"amount": "12.50"}, config=config)}
    except ValueError:
        return {"output": "The card was declined; I sent a payment link."}


runnable = RunnableLambda(answer)
""",
)

ESCAPING_TOOL_ERROR = Agent(
    "billing-bot",
    "langchain",
    _CHARGE_CARD
    + """\
    return {"output": charge_card.invoke({"amount": "12.50"}, config=config)}


runnable = RunnableLambda(answer)
""",
)

CRASH = Agent(
    "ledger-bot",
    "custom",
    """
def run(inputs):
    print("checking the ledger")
    return 1 / 0
""",
)

NOT_STREAMED = Agent(
    "invoice-bot",
    "custom",
    """
def run(inputs):
    return "Invoice **INV-7** is paid."
""",
)

PRINTS_ARTIFACT_STATE = Agent(
    "report-bot",
    "custom",
    """
from charm.core.io import CharmEmitter


def run(inputs):
    print("reading 3 invoices")
    print("writing the report")
    CharmEmitter.emit_artifact("report.pdf", "https://files.example.com/r.pdf", "application/pdf")
    print("report sent")
    return {"status": "success", "output": "The report is ready.",
            "charm_state": {"invoices_seen": 3, "cursor": "INV-9"}}
""",
)

SUSPENDED = Agent(
    "refund-bot",
    "custom",
    """
def run(inputs):
    return {"status": "suspended", "thread_id": "t-1", "next_step": "approve refund",
            "output": "waiting"}
""",
)


def write_agent(directory: Path, agent: Agent) -> Path:
    directory.mkdir(parents=True)
    entry_point = "agent:run" if agent.adapter == "custom" else "agent:runnable"
    (directory / "agent.py").write_text(agent.code)
    (directory / "charm.yaml").write_text(
        textwrap.dedent(f"""\
            version: "0.4"
            persona:
              name: {agent.name}
              description: A test agent of Charm Studio
            interface:
              input: {{type: object}}
              output: {{type: object}}
            runtime:
              adapter:
                type: {agent.adapter}
                entry_point: "{entry_point}"
            """)
    )
    return directory


def quiet_home(directory: Path) -> Path:
    """A home where the CLI's daily PyPI update check has just been done."""
    (directory / ".charm").mkdir(parents=True, exist_ok=True)
    (directory / ".charm" / ".update_check.json").write_text(
        json.dumps({"last_check": time.time()})
    )
    return directory


def charm_run(project: Path, home: Path, inputs: dict = INPUT) -> bytes:
    """The stdout bytes of `charm run <project> --json <inputs>`, cwd the project."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARM_STUDIO_")}
    env["HOME"] = str(home)
    result = run(
        [str(CHARM), "run", str(project), "--json", json.dumps(inputs)],
        cwd=project,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()  # Charm exits 0 even on a crash
    return result.stdout
