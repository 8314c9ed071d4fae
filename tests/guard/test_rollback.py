"""Rolling back by hand and by workflow: the hub records it (kind=rollback), GitHub shows it as its
own deployment, and the command or the dispatched workflow performs it."""

from __future__ import annotations

import anyio.to_thread
import pytest

from bounceback.guard.github import PyGithubDeployments
from bounceback.guard.github_types import DeploymentState
from tests.guard.world import GITHUB_TOKEN, REPO, World

pytestmark = pytest.mark.anyio


async def deploy(world: World, version: str, outcome: str, **flags: str | None) -> dict[str, str]:
    """``start`` then ``finish`` with ``outcome``: a deployment the hub and GitHub remember."""
    started = await world.run("start", *world.flags(version=version, **flags))
    assert started.status == 0, started.log
    finishing = world.flags(outcome=outcome, **flags)
    finished = await world.run("finish", *finishing, env=started.env)
    assert finished.status == (0 if outcome == "success" else 1), finished.log
    return started.env


async def test_manual_rollback_restores_the_hubs_last_good_version(world: World) -> None:
    await deploy(world, "v1", "success")
    bad = await deploy(world, "v2", "failure")

    run = await world.run("rollback", *world.flags(**{"rollback-command": "./restore.sh"}))

    assert run.status == 0, run.log
    assert (run.outputs["rollback-ref"], run.outputs["rolled-back"]) == ("v1", "true")
    [(argv, env)] = world.commands.calls
    assert argv == ("./restore.sh",)
    assert env["BOUNCEBACK_ROLLBACK_REF"] == "v1"
    record = await world.deployment(run.outputs["rollback-deployment-id"])
    assert (record["kind"], record["version"], record["state"]) == ("rollback", "v1", "succeeded")
    assert record["rolls_back"] == int(bad["BOUNCEBACK_GUARD_DEPLOYMENT_ID"])
    assert (await world.deployment(record["rolls_back"]))["state"] == "rolled_back"
    states = world.github_states()
    assert states["deploy:rollback v1"] == ["queued", "in_progress", "success"]
    assert states["deploy v1"][-1] == "inactive"
    [rollback] = [d for d in world.github.deployments() if d["task"] == "deploy:rollback"]
    assert rollback["payload"]["bounceback_deployment_id"] == record["id"]
    assert str(rollback["id"]) == run.outputs["rollback-github-deployment-id"]


async def test_manual_rollback_restores_the_version_it_is_given(world: World) -> None:
    await deploy(world, "v1", "success")
    await deploy(world, "v2", "success")

    run = await world.run(
        "rollback",
        *world.flags(**{"rollback-command": "./restore.sh", "rollback-ref": "v0", "reason": "bad"}),
    )

    assert run.status == 0, run.log
    assert run.outputs["rollback-ref"] == "v0"
    assert world.commands.calls[0][1]["BOUNCEBACK_ROLLBACK_REF"] == "v0"
    record = await world.deployment(run.outputs["rollback-deployment-id"])
    assert (record["kind"], record["version"]) == ("rollback", "v0")
    assert world.github_states()["deploy:rollback v0"] == ["queued", "in_progress", "success"]


async def test_manual_rollback_falls_back_to_githubs_last_successful_deployment(
    world: World,
) -> None:
    def succeeded_outside_the_guard() -> None:
        api = PyGithubDeployments.connect(GITHUB_TOKEN, world.github.base_url, pace_writes=False)
        created = api.create_deployment(
            REPO, ref="v0", environment="production", payload={}, production=True, transient=False
        )
        api.set_status(REPO, created.id, DeploymentState.SUCCESS)
        api.close()

    await anyio.to_thread.run_sync(succeeded_outside_the_guard)
    # Tracked without GitHub: the hub knows neither a good version nor a previous one.
    bad = await deploy(world, "v2", "failure", **{"github-token": None, "repository": None})
    assert (await world.deployment(bad["BOUNCEBACK_GUARD_DEPLOYMENT_ID"]))[
        "previous_version"
    ] is None

    run = await world.run("rollback", *world.flags(**{"rollback-command": "./restore.sh"}))

    assert run.status == 0, run.log
    assert run.outputs["rollback-ref"] == "v0"
    assert "GitHub's last successful one is v0" in run.log


async def test_manual_rollback_with_no_good_version_anywhere_asks_for_the_ref(
    world: World,
) -> None:
    await deploy(world, "v2", "failure")

    run = await world.run("rollback", *world.flags(**{"rollback-command": "./restore.sh"}))

    assert run.status == 2
    assert "--rollback-ref" in run.log and "BOUNCEBACK_ROLLBACK_REF" in run.log
    assert world.commands.calls == []


async def test_rollback_workflow_is_dispatched_with_the_ids_then_closes_the_record(
    world: World,
) -> None:
    await deploy(world, "v1", "success")
    bad = await deploy(world, "v2", "failure")

    run = await world.run(
        "rollback",
        *world.flags(**{"rollback-workflow": "rollback.yml", "rollback-workflow-ref": "release"}),
        env=bad,
    )

    assert run.status == 0, run.log
    assert run.outputs["rolled-back"] == "true"
    [dispatch] = world.github.dispatches
    rollback_id = run.outputs["rollback-deployment-id"]
    github_id = run.outputs["rollback-github-deployment-id"]
    assert (dispatch.repo, dispatch.workflow, dispatch.ref) == (REPO, "rollback.yml", "release")
    assert dispatch.inputs == {
        "ref": "v1",
        "deployment-id": rollback_id,
        "github-deployment-id": github_id,
    }
    assert world.commands.calls == []
    assert world.github_states()["deploy:rollback v1"] == ["queued"]
    assert (await world.deployment(rollback_id))["state"] == "registered"

    # The dispatched workflow: `command: rollback` with the inputs it was given.
    performed = await world.run(
        "rollback",
        *world.flags(
            **{
                "rollback-command": "./restore.sh",
                "rollback-ref": dispatch.inputs["ref"],
                "deployment-id": dispatch.inputs["deployment-id"],
                "github-deployment-id": dispatch.inputs["github-deployment-id"],
            }
        ),
    )

    assert performed.status == 0, performed.log
    assert world.commands.calls[0][1]["BOUNCEBACK_ROLLBACK_REF"] == "v1"
    assert (await world.deployment(rollback_id))["state"] == "succeeded"
    assert (await world.deployment(bad["BOUNCEBACK_GUARD_DEPLOYMENT_ID"]))["state"] == "rolled_back"
    assert world.github_states()["deploy:rollback v1"] == ["queued", "in_progress", "success"]


async def test_manual_rollback_without_an_id_can_dispatch_the_workflow(world: World) -> None:
    await deploy(world, "v1", "success")
    await deploy(world, "v2", "failure")

    run = await world.run("rollback", *world.flags(**{"rollback-workflow": "rollback.yml"}))

    assert run.status == 0, run.log
    [dispatch] = world.github.dispatches
    assert dispatch.inputs["ref"] == "v1"
    assert dispatch.inputs["deployment-id"] == run.outputs["rollback-deployment-id"]
    assert world.commands.calls == []
