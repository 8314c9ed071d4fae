"""The PyGithub adapter against a loopback fake of GitHub's REST API."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import pytest

from bounceback.guard.github import PyGithubDeployments
from bounceback.guard.github_types import DeploymentsApi, DeploymentState, GitHubError
from bounceback.guard.testing import FakeGitHub

REPO = "octo/app"
TOKEN = "ghs_guard_test_token_0123456789"


def deploy(api: DeploymentsApi, ref: str, *, environment: str = "production") -> int:
    return api.create_deployment(
        REPO,
        ref=ref,
        environment=environment,
        payload={"bounceback_deployment_id": f"dep-{ref}"},
        production=environment == "production",
        transient=False,
        description=f"deploy {ref}",
    ).id


def finish(api: DeploymentsApi, deployment_id: int, state: DeploymentState) -> None:
    for step in (DeploymentState.QUEUED, DeploymentState.IN_PROGRESS, state):
        api.set_status(REPO, deployment_id, step)


@pytest.fixture
def other_client(github: FakeGitHub, sleeps: list[float]) -> Iterator[PyGithubDeployments]:
    adapter = PyGithubDeployments.connect(
        "ghs_wrong_token_abcdef", github.base_url, sleep=sleeps.append, pace_writes=False
    )
    yield adapter
    adapter.close()


def test_create_deployment_sends_explicit_flags_and_hub_payload(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    created = api.create_deployment(
        REPO,
        ref="v1.2.0",
        environment="staging",
        payload={"bounceback_deployment_id": "dep-42"},
        production=False,
        transient=True,
        description="guarded deploy",
    )

    [stored] = github.deployments()
    assert stored["id"] == created.id
    assert stored["_auto_merge"] is False
    assert stored["_required_contexts"] == []
    assert stored["task"] == "deploy"
    assert (created.ref, created.environment) == ("v1.2.0", "staging")
    assert (created.production, created.transient) == (False, True)
    assert created.payload == {"bounceback_deployment_id": "dep-42"}
    assert created.url == f"{github.base_url}/repos/{REPO}/deployments/{created.id}"
    assert len(created.sha) == 40


def test_rollback_is_recorded_as_its_own_deployment_task(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    api.create_deployment(
        REPO,
        ref="v1.1.0",
        environment="production",
        payload={},
        production=True,
        transient=False,
        task="deploy:rollback",
    )

    assert [d["task"] for d in github.deployments("production")] == ["deploy:rollback"]


def test_statuses_run_queued_in_progress_success_with_links(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    deployment_id = deploy(api, "v1")
    api.set_status(REPO, deployment_id, DeploymentState.QUEUED, description="waiting for gate")
    api.set_status(REPO, deployment_id, DeploymentState.IN_PROGRESS, log_url="https://hub/r/1")
    api.set_status(
        REPO,
        deployment_id,
        DeploymentState.SUCCESS,
        environment_url="https://app.example.com",
        log_url="https://hub/reports/1",
        description="stable after 10 min: " + "x" * 200,
    )

    assert github.statuses_of(deployment_id) == ["queued", "in_progress", "success"]
    last = github.status_records(deployment_id)[-1]
    assert last["environment_url"] == "https://app.example.com"
    assert last["log_url"] == last["target_url"] == "https://hub/reports/1"
    assert len(last["description"]) == 140


def test_failure_status_omits_empty_environment_url(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    deployment_id = deploy(api, "v1")
    api.set_status(REPO, deployment_id, DeploymentState.FAILURE, environment_url="")

    failing = [r for r in github.requests if r.method == "POST" and r.path.endswith("/statuses")]
    assert "environment_url" not in failing[-1].body
    assert github.statuses_of(deployment_id) == ["failure"]


def test_superseded_production_deployments_are_marked_inactive(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    old = deploy(api, "v1")
    finish(api, old, DeploymentState.SUCCESS)
    broken = deploy(api, "v2")
    finish(api, broken, DeploymentState.FAILURE)
    new = deploy(api, "v3")
    finish(api, new, DeploymentState.SUCCESS)
    # GitHub's auto_inactive leaves production environments alone.
    assert github.statuses_of(old)[-1] == "success"

    assert api.mark_superseded_inactive(REPO, "production", keep_id=new) == [old]

    assert github.statuses_of(old)[-1] == "inactive"
    assert github.statuses_of(broken)[-1] == "failure"
    assert github.statuses_of(new)[-1] == "success"


def test_marking_superseded_ignores_other_environments(api: PyGithubDeployments) -> None:
    staging = deploy(api, "v1", environment="staging-eu")
    finish(api, staging, DeploymentState.SUCCESS)
    new = deploy(api, "v2")
    finish(api, new, DeploymentState.SUCCESS)

    assert api.mark_superseded_inactive(REPO, "production", keep_id=new) == []


def test_last_successful_ref_skips_failed_and_inactive_deployments(
    api: PyGithubDeployments,
) -> None:
    assert api.last_successful_ref(REPO, "production") is None
    good = deploy(api, "v1")
    finish(api, good, DeploymentState.SUCCESS)
    bad = deploy(api, "v2")
    finish(api, bad, DeploymentState.FAILURE)
    deploy(api, "v3")  # registered, no status yet

    assert api.last_successful_ref(REPO, "production") == "v1"

    newer = deploy(api, "v4")
    finish(api, newer, DeploymentState.SUCCESS)
    api.mark_superseded_inactive(REPO, "production", keep_id=newer)
    assert api.last_successful_ref(REPO, "production") == "v4"
    assert api.last_successful_ref(REPO, "staging") is None


def test_last_successful_ref_follows_pagination(api: PyGithubDeployments) -> None:
    good = deploy(api, "v0")
    finish(api, good, DeploymentState.SUCCESS)
    for n in range(1, 33):
        api.set_status(REPO, deploy(api, f"v{n}"), DeploymentState.FAILURE)

    assert api.last_successful_ref(REPO, "production") == "v0"


def test_workflow_dispatch_is_recorded(api: PyGithubDeployments, github: FakeGitHub) -> None:
    api.dispatch_workflow(REPO, "deploy.yml", "main", {"ref": "v1", "reason": "rollback"})

    [dispatch] = github.dispatches
    assert (dispatch.repo, dispatch.workflow, dispatch.ref) == (REPO, "deploy.yml", "main")
    assert dispatch.inputs == {"ref": "v1", "reason": "rollback"}


def test_bad_gateway_is_retried_with_backoff(
    api: PyGithubDeployments, github: FakeGitHub, sleeps: list[float]
) -> None:
    github.fail_next(2, status=502)

    deployment_id = deploy(api, "v1")

    assert sleeps == [1.0, 2.0]
    assert [d["id"] for d in github.deployments()] == [deployment_id]


def test_retries_are_bounded(
    api: PyGithubDeployments, github: FakeGitHub, sleeps: list[float]
) -> None:
    github.fail_next(10, status=503)

    with pytest.raises(GitHubError) as caught:
        deploy(api, "v1")

    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(github.requests) == 4


@pytest.mark.parametrize("status", [403, 404, 422])
def test_permanent_errors_are_not_retried(
    api: PyGithubDeployments, github: FakeGitHub, sleeps: list[float], status: int
) -> None:
    github.fail_next(1, status=status)

    with pytest.raises(GitHubError) as caught:
        api.dispatch_workflow(REPO, "deploy.yml", "main")

    assert (caught.value.status, caught.value.retryable) == (status, False)
    assert sleeps == []
    assert github.dispatches == []


def test_unknown_deployment_is_a_permanent_not_found(
    api: PyGithubDeployments, sleeps: list[float]
) -> None:
    with pytest.raises(GitHubError) as caught:
        api.set_status(REPO, 999_999, DeploymentState.SUCCESS)

    assert (caught.value.status, caught.value.retryable) == (404, False)
    assert "Not Found" in str(caught.value)
    assert sleeps == []


def test_fake_rejects_states_github_does_not_know(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    deployment_id = deploy(api, "v1")
    path = f"/repos/{REPO}/deployments/{deployment_id}/statuses"

    status, body, _ = github.handle("POST", path, {}, {"state": "done"}, f"token {TOKEN}")

    assert status == 422
    assert "state" in body["message"]


def test_wrong_token_is_a_permanent_auth_error_without_the_token(
    other_client: PyGithubDeployments, github: FakeGitHub, sleeps: list[float]
) -> None:
    with pytest.raises(GitHubError) as caught:
        other_client.last_successful_ref(REPO, "production")

    error = caught.value
    assert (error.status, error.retryable) == (401, False)
    assert "Bad credentials" in error.message
    rendered = "".join(traceback.format_exception(error))
    assert "ghs_wrong_token_abcdef" not in rendered
    assert TOKEN not in rendered
    assert sleeps == []
    assert github.requests[0].authorization == "token ghs_wrong_token_abcdef"


def test_unreachable_github_is_retryable_network_error(sleeps: list[float]) -> None:
    with FakeGitHub(token=TOKEN) as gone:
        base_url = gone.base_url
    api = PyGithubDeployments.connect(
        TOKEN, base_url, sleep=sleeps.append, attempts=2, pace_writes=False
    )
    try:
        with pytest.raises(GitHubError) as caught:
            api.dispatch_workflow(REPO, "deploy.yml", "main")
    finally:
        api.close()

    assert (caught.value.status, caught.value.retryable) == (None, True)
    assert "network error" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert sleeps == [1.0]


def test_adapter_satisfies_the_protocol(api: PyGithubDeployments) -> None:
    used: DeploymentsApi = api
    assert used.last_successful_ref(REPO, "production") is None


def test_enterprise_server_base_url_with_api_prefix(sleeps: list[float]) -> None:
    with FakeGitHub(token=TOKEN, prefix="/api/v3") as ghes:
        api = PyGithubDeployments.connect(
            TOKEN, ghes.base_url + "/", sleep=sleeps.append, pace_writes=False
        )
        try:
            finish(api, deploy(api, "v1"), DeploymentState.SUCCESS)
            assert api.last_successful_ref(REPO, "production") == "v1"
        finally:
            api.close()

    assert all(r.path.startswith("/api/v3/repos/") for r in ghes.requests)


def test_fake_auto_inactivates_only_non_production_environments(
    api: PyGithubDeployments, github: FakeGitHub
) -> None:
    old_staging = deploy(api, "v1", environment="staging")
    finish(api, old_staging, DeploymentState.SUCCESS)
    old_production = deploy(api, "v1")
    finish(api, old_production, DeploymentState.SUCCESS)

    finish(api, deploy(api, "v2", environment="staging"), DeploymentState.SUCCESS)
    finish(api, deploy(api, "v2"), DeploymentState.SUCCESS)

    assert github.statuses_of(old_staging)[-1] == "inactive"
    assert github.statuses_of(old_production)[-1] == "success"
