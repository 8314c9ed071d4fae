"""``finish``: the outcome the workflow saw closes the deployment at the hub and on GitHub."""

from __future__ import annotations

import pytest

from tests.guard.world import World

pytestmark = pytest.mark.anyio


async def start(world: World, version: str) -> dict[str, str]:
    """``start``, and the job environment it leaves for the later steps."""
    run = await world.run("start", *world.flags(version=version))
    assert run.status == 0, run.log
    assert run.env["BOUNCEBACK_GUARD_DEPLOYMENT_ID"] == run.outputs["deployment-id"]
    return run.env


@pytest.mark.parametrize(
    ("outcome", "hub_state", "github_state", "status"),
    [
        ("succeeded", "succeeded", "success", 0),
        ("success", "succeeded", "success", 0),
        ("failed", "failed", "failure", 1),
        ("failure", "failed", "failure", 1),
        ("cancelled", "cancelled", "inactive", 0),
    ],
)
async def test_finish_closes_the_deployment_at_the_hub_and_on_github(
    world: World, outcome: str, hub_state: str, github_state: str, status: int
) -> None:
    job = await start(world, "v1")

    run = await world.run("finish", *world.flags(outcome=outcome), env=job)

    assert run.status == status, run.log
    deployment = await world.deployment(job["BOUNCEBACK_GUARD_DEPLOYMENT_ID"])
    assert deployment["state"] == hub_state
    assert world.github_states() == {"deploy v1": ["queued", "in_progress", github_state]}
    assert run.outputs["deployment-id"] == job["BOUNCEBACK_GUARD_DEPLOYMENT_ID"]
    assert (
        f"{hub_state} at the hub"
        in world.github.status_records(int(job["BOUNCEBACK_GUARD_GITHUB_DEPLOYMENT_ID"]))[-1][
            "description"
        ]
    )


async def test_a_successful_finish_marks_the_superseded_production_deployment_inactive(
    world: World,
) -> None:
    first = await start(world, "v1")
    assert (await world.run("finish", *world.flags(outcome="success"), env=first)).status == 0
    second = await start(world, "v2")

    run = await world.run("finish", *world.flags(outcome="success"), env=second)

    assert run.status == 0, run.log
    assert world.github_states() == {
        "deploy v1": ["queued", "in_progress", "success", "inactive"],
        "deploy v2": ["queued", "in_progress", "success"],
    }


async def test_a_failed_finish_leaves_the_last_good_deployment_active(world: World) -> None:
    first = await start(world, "v1")
    assert (await world.run("finish", *world.flags(outcome="success"), env=first)).status == 0
    second = await start(world, "v2")

    run = await world.run("finish", *world.flags(outcome="failure"), env=second)

    assert run.status == 1, run.log
    assert world.github_states()["deploy v1"][-1] == "success"
    assert (await world.deployment(second["BOUNCEBACK_GUARD_DEPLOYMENT_ID"]))["state"] == "failed"


async def test_finish_without_an_outcome_names_the_flag(world: World) -> None:
    job = await start(world, "v1")

    run = await world.run("finish", *world.flags(), env=job)

    assert run.status == 2
    assert "--outcome" in run.log and "BOUNCEBACK_OUTCOME" in run.log
