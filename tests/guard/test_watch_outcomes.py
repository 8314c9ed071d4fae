"""What the guard does with each way a watch ends: a dry run, inconclusive and nodata verdicts,
no verdict in time, a failed deploy command, and a regression rolled back by a workflow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import pytest

from tests.guard.world import REPO, World

pytestmark = pytest.mark.anyio

MakeWorld = Callable[..., AbstractAsyncContextManager[World]]


def full(world: World, version: str, **extra: str | None) -> list[str]:
    return world.flags(
        version=version,
        **{
            "deploy-command": "./deploy.sh",
            "rollback-command": "./rollback.sh",
            "stabilization": "0",
            "monitoring": "1m",
            **extra,
        },
    )


async def deployed_good(world: World, version: str) -> None:
    started = await world.run("start", *world.flags(version=version))
    finished = await world.run("finish", *world.flags(outcome="success"), env=started.env)
    assert finished.status == 0, finished.log


def breaks_after_the_baseline(world: World) -> Callable[[Sequence[str]], None]:
    def deploy(_argv: Sequence[str]) -> None:
        world.settle_now()  # the hub's baseline burst has run
        world.service.broken = True

    return deploy


async def test_a_dry_run_reports_a_failed_verdict_without_rolling_back(world: World) -> None:
    await deployed_good(world, "v1")

    def regress() -> None:
        world.service.broken = True

    world.before_sleep = regress

    run = await world.run("full", *full(world, "v2"), env={"BOUNCEBACK_DRY_RUN": "true"})

    assert run.status == 0, run.log
    assert (run.outputs["verdict"], run.outputs["rolled-back"]) == ("fail", "false")
    assert world.commands.calls == []
    assert run.annotations("error") == []
    assert "Dry run" in run.titles("warning")
    assert any(t.startswith("Deployment verdict: errors") for t in run.titles("warning"))
    assert "_Dry run: judged and reported; nothing was rolled back._" in run.summary
    deployment = await world.deployment(run.outputs["deployment-id"])
    assert (deployment["state"], deployment["dry_run"]) == ("failed", True)
    assert deployment["rollback_requested"] is False
    states = world.github_states()
    assert "deploy:rollback v1" not in states
    assert states["deploy v1"][-1] == "success"


async def test_an_inconclusive_verdict_passes_with_a_warning(make_world: MakeWorld) -> None:
    # One error after the deploy against none before: above the limit, far from significant.
    async with make_world(judge={"min_events": 1}) as world:

        def deploy(_argv: Sequence[str]) -> None:
            world.settle_now()  # the hub's baseline burst has run
            world.service.fail_next = 1

        world.commands.effect = deploy
        run = await world.run("full", *full(world, "v1", monitoring="30s"))

    assert run.status == 0, run.log
    assert run.outputs["verdict"] == "inconclusive"
    assert run.outputs["rolled-back"] == "false"
    assert run.annotations("error") == []
    [warning] = run.annotations("warning")
    assert warning.properties["title"] == "Deployment verdict inconclusive"
    assert "never roll back by themselves" in warning.message
    [deployment] = world.github.deployments()
    last = world.github.status_records(deployment["id"])[-1]
    assert last["state"] == "success"
    assert last["description"].startswith("inconclusive: ")
    assert [argv for argv, _ in world.commands.calls] == [("./deploy.sh",)]


async def test_a_nodata_verdict_passes_with_a_warning_naming_it(make_world: MakeWorld) -> None:
    # No probe round after the baseline burst: nothing to compare it with.
    async with make_world(probe_interval_seconds=100_000) as world:
        run = await world.run("full", *full(world, "v1", monitoring="30s"))

    assert run.status == 0, run.log
    assert run.outputs["verdict"] == "nodata"
    [warning] = run.annotations("warning")
    assert warning.properties["title"] == "Deployment verdict nodata"
    assert "check the health URLs" in warning.message
    [deployment] = world.github.deployments()
    last = world.github.status_records(deployment["id"])[-1]
    assert (last["state"], last["description"][:7]) == ("success", "nodata:")


async def test_no_verdict_within_the_watch_timeout_exits_3(world: World) -> None:
    run = await world.run(
        "full",
        *full(
            world,
            "v1",
            stabilization="1h",
            **{"watch-timeout": "5m", "poll-interval": "1m"},
        ),
    )

    assert run.status == 3, run.log
    assert run.outputs["verdict"] == "unknown"
    [error] = run.annotations("error")
    assert "no verdict on deployment" in error.message and "--watch-timeout" in error.message
    assert error.properties["title"] == "No verdict in time"
    assert world.slept == [60.0] * 5
    assert (await world.deployment(run.outputs["deployment-id"]))["state"] == "stabilizing"
    [deployment] = world.github.deployments()
    assert world.github.statuses_of(deployment["id"])[-1] == "error"


async def test_a_watch_timeout_is_not_failed_open_because_the_hub_answered(world: World) -> None:
    run = await world.run(
        "full",
        *full(
            world,
            "v1",
            stabilization="1h",
            **{"watch-timeout": "5m", "poll-interval": "1m"},
        ),
        env={"BOUNCEBACK_FAIL_OPEN_ON_HUB_ERROR": "true"},
    )

    assert run.status == 3, run.log
    [deployment] = world.github.deployments()
    assert world.github.status_records(deployment["id"])[-1]["description"] == (
        "not verified: no verdict in time"
    )


async def test_a_passing_dry_run_is_neither_githubs_nor_the_hubs_last_good_deployment(
    world: World,
) -> None:
    await deployed_good(world, "v1")

    run = await world.run("full", *full(world, "v2"), env={"BOUNCEBACK_DRY_RUN": "true"})

    assert (run.status, run.outputs["verdict"]) == (0, "pass"), run.log
    states = world.github_states()
    assert states["deploy v2"][-1] == "inactive"
    assert states["deploy v1"][-1] == "success"  # the live deployment stays active
    deployment = await world.deployment(run.outputs["deployment-id"])
    assert deployment["state"] == "succeeded"
    # watch told the hub which GitHub deployment records this one
    assert deployment["github_deployment_id"] == int(run.outputs["github-deployment-id"])
    nxt = await world.run("start", *world.flags(version="v3"))
    assert (await world.deployment(nxt.outputs["deployment-id"]))["last_good_version"] == "v1"


async def test_a_failed_deploy_command_fails_the_deployment_without_rolling_back(
    world: World,
) -> None:
    await deployed_good(world, "v1")
    world.commands.status = 4

    run = await world.run("full", *full(world, "v2"))

    assert run.status == 1, run.log
    assert (run.outputs["verdict"], run.outputs["rolled-back"]) == ("failed", "false")
    assert [argv for argv, _ in world.commands.calls] == [("./deploy.sh",)]
    assert run.titles("error") == ["Deploy failed"]
    assert (await world.deployment(run.outputs["deployment-id"]))["state"] == "failed"
    states = world.github_states()
    assert states["deploy v2"] == ["queued", "in_progress", "failure"]
    assert states["deploy v1"][-1] == "success"
    assert "deploy:rollback v1" not in states


async def test_a_regression_dispatches_the_rollback_workflow_from_the_watch(world: World) -> None:
    await deployed_good(world, "v1")
    world.commands.effect = breaks_after_the_baseline(world)

    run = await world.run(
        "full",
        *full(world, "v2", **{"rollback-command": None, "rollback-workflow": "rollback.yml"}),
        env={"GITHUB_REF_NAME": "main"},
    )

    assert run.status == 1, run.log
    assert (run.outputs["verdict"], run.outputs["rolled-back"]) == ("fail", "true")
    [dispatch] = world.github.dispatches
    assert (dispatch.repo, dispatch.workflow, dispatch.ref) == (REPO, "rollback.yml", "main")
    assert dispatch.inputs == {
        "ref": "v1",
        "deployment-id": run.outputs["rollback-deployment-id"],
        "github-deployment-id": run.outputs["rollback-github-deployment-id"],
    }
    states = world.github_states()
    assert states["deploy v2"][-1] == "failure"
    assert states["deploy:rollback v1"] == ["queued"]
    assert "**Rolled back** to `v1` by workflow rollback.yml." in run.summary
