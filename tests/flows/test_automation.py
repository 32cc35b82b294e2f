"""The shipped automation (notify on a failed daily run) is one Prefect accepts and that fires when it should."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "flows" / "automations" / "daily-failed.yaml"
PLACEHOLDER = "NOTIFICATION_BLOCK_ID"


def _spec(block_id: uuid.UUID) -> dict[str, Any]:
    text = SPEC.read_text()
    assert text.count(PLACEHOLDER) == 2  # the comment that says to replace it, and the field
    return yaml.safe_load(text.replace(PLACEHOLDER, str(block_id)))


def _event(state_type: str, flow: str) -> Any:
    from prefect.server.events.schemas.events import ReceivedEvent

    return ReceivedEvent(
        occurred=dt.datetime.now(dt.UTC),
        event=f"prefect.flow-run.{state_type.title()}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}",
            "prefect.resource.name": f"{flow}-2026-12-01",
            "prefect.state-type": state_type,
            "prefect.state-name": state_type.title(),
        },
        related=[
            {
                "prefect.resource.id": f"prefect.flow.{uuid.uuid4()}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow,
            },
        ],
        id=uuid.uuid4(),
    )


def test_the_automation_validates_as_the_cli_and_the_server_read_it():
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore as ClientAutomation
    from prefect.server.events.schemas.automations import AutomationCore as ServerAutomation

    block = uuid.uuid4()
    client = ClientAutomation.model_validate(_spec(block))  # what `prefect automation create` sends
    assert client.enabled
    (action,) = client.actions
    assert isinstance(action, SendNotification)
    assert action.block_document_id == block
    ServerAutomation.model_validate(_spec(block))  # the server also checks the Jinja templates
    with pytest.raises(ValueError, match="block_document_id"):
        ClientAutomation.model_validate(yaml.safe_load(SPEC.read_text()))  # the placeholder itself is no id


@pytest.mark.parametrize(
    ("state_type", "flow", "fires"),
    [("FAILED", "daily", True), ("CRASHED", "daily", True), ("COMPLETED", "daily", False),
     ("FAILED", "backtest", False), ("FAILED", "train", False)],
)  # fmt: skip
def test_the_trigger_fires_on_failed_or_crashed_daily_runs_only(state_type: str, flow: str, fires: bool):
    from prefect.server.events.schemas.automations import AutomationCore

    trigger = AutomationCore.model_validate(_spec(uuid.uuid4())).trigger
    assert trigger.covers(_event(state_type, flow)) is fires
