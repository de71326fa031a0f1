"""The GitHub workflows, read as a user of them would rely on them.

GitHub is out of reach here, so no workflow runs in this suite; actionlint (in
`make lint`) checks their syntax, action inputs and shell, and these tests check what
they promise: the test workflow runs `make test` with the services it needs, the image
workflow builds every Dockerfile, and the deploy workflow signs in with OpenID Connect
and stores no secret. Each check also runs on a tampered copy to show it can fail.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

from typing import Any

import yaml
from ship_support import (
    REPO_ROOT,
    dockerfiles,
    load_module,
    load_workflow,
    run_lines,
    steps,
    uses,
)


# -- the test workflow --------------------------------------------------------------


def ci_workflow_problems(workflow: dict[str, Any]) -> list[str]:
    problems = []
    triggers = workflow.get("on") or {}
    for event in ("push", "pull_request"):
        if event not in triggers:
            problems.append(f"does not run on {event}")
    jobs = list(workflow.get("jobs", {}).values())
    if not jobs:
        return problems + ["has no job"]
    job = jobs[0]
    if not str(job.get("runs-on", "")).startswith("ubuntu"):
        problems.append(f"runs on {job.get('runs-on')!r}, not Ubuntu")
    if "make test" not in run_lines(job):
        problems.append("no step runs `make test`")
    rabbit = (job.get("services") or {}).get("rabbitmq") or {}
    if not str(rabbit.get("image", "")).startswith("rabbitmq:"):
        problems.append("no rabbitmq service container")
    elif "5672:5672" not in [str(p) for p in rabbit.get("ports", [])]:
        problems.append("the rabbitmq service does not publish 5672")
    node = uses(job, "actions/setup-node")
    if not node or node[0].get("with", {}).get("node-version-file") != "package.json":
        problems.append("Node is not set up from package.json")
    elif node[0]["with"].get("cache") != "npm":
        problems.append("npm is not cached")
    python = uses(job, "actions/setup-python")
    if not python or python[0].get("with", {}).get("cache") != "pip":
        problems.append("pip is not cached")
    problems += browser_problems(job)
    return problems


# The variables scripts/ensure_chromium.sh and the browser tests read. Ubuntu runners
# have no Debian chromium (Ubuntu's packages are snap wrappers) but Google Chrome and
# its ChromeDriver; without these, make test fails there on the browser tests.
BROWSER_VARIABLES = ("LVMBEAT_TEST_BROWSER", "LVMBEAT_TEST_CHROMEDRIVER")


def browser_problems(job: dict[str, Any]) -> list[str]:
    before_make_test: list[str] = []
    for step in steps(job):
        if step.get("run") == "make test":
            break
        before_make_test.append(str(step.get("run", "")))
    text = "\n".join(before_make_test)
    return [
        f"{name} is not set for the browser tests before make test"
        for name in BROWSER_VARIABLES
        if not re.search(rf'echo "{name}=[^"]+" >> "\$GITHUB_ENV"', text)
    ]


def test_the_browser_variables_are_the_ones_make_test_reads():
    script = (REPO_ROOT / "scripts" / "ensure_chromium.sh").read_text()
    browser_tests = (REPO_ROOT / "tests" / "monitor" / "browser_support.py").read_text()
    for name in BROWSER_VARIABLES:
        assert f"${{{name}:-" in script
        assert f'"{name}"' in browser_tests


def test_the_test_workflow_runs_make_test_with_rabbitmq_and_node():
    assert ci_workflow_problems(load_workflow("test.yml")) == []


def test_a_test_workflow_that_skips_make_test_or_its_services_is_caught():
    workflow = load_workflow("test.yml")
    job = next(iter(workflow["jobs"].values()))
    for step in job["steps"]:
        if step.get("run") == "make test":
            step["run"] = "pytest"
    del job["services"]
    del workflow["on"]["pull_request"]
    job["steps"] = [
        step
        for step in job["steps"]
        if "LVMBEAT_TEST_BROWSER" not in step.get("run", "")
    ]
    problems = ci_workflow_problems(workflow)
    assert "no step runs `make test`" in problems
    assert "no rabbitmq service container" in problems
    assert "does not run on pull_request" in problems
    assert "LVMBEAT_TEST_BROWSER is not set for the browser tests before make test" in (
        problems
    )


def test_the_ci_service_answers_where_make_test_looks_for_rabbitmq():
    # scripts/ensure_rabbitmq.sh starts nothing when 127.0.0.1:<port> answers.
    script = (REPO_ROOT / "scripts" / "ensure_rabbitmq.sh").read_text()
    port = re.search(r"LVMBEAT_RABBITMQ_PORT:-(\d+)", script)
    assert port is not None
    assert port[1] == "5672"


def test_node_in_ci_is_the_node_the_pinned_azurite_declares():
    package = json.loads((REPO_ROOT / "package.json").read_text())
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    azurite = lock["packages"]["node_modules/azurite"]
    assert package["devDependencies"]["azurite"] == azurite["version"]
    assert package["engines"]["node"] == azurite["engines"]["node"]


# -- the image workflow -------------------------------------------------------------


def image_builds(workflow: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """image -> (Dockerfile, context), from the docker workflow's matrix."""
    job = next(iter(workflow["jobs"].values()))
    return {
        entry["image"]: (entry["dockerfile"], entry["context"])
        for entry in job["strategy"]["matrix"]["include"]
    }


def test_the_actor_image_is_ghcr_sdss_lvmbeat_from_actor_dockerfile():
    builds = image_builds(load_workflow("docker.yml"))
    assert builds["ghcr.io/sdss/lvmbeat"] == ("actor/Dockerfile", ".")
    # The Dockerfile's header says it builds from the repository root.
    header = (REPO_ROOT / "actor" / "Dockerfile").read_text().splitlines()[:3]
    assert any("-f actor/Dockerfile" in line and line.endswith(" .") for line in header)


def test_every_dockerfile_in_the_repository_is_built_by_the_image_workflow():
    built = {
        (REPO_ROOT / dockerfile).resolve()
        for dockerfile, _ in image_builds(load_workflow("docker.yml")).values()
    }
    assert built == {path.resolve() for path in dockerfiles()}


def test_images_are_tagged_by_branch_semver_and_sha_and_pushed_unless_a_pr():
    workflow = load_workflow("docker.yml")
    job = next(iter(workflow["jobs"].values()))
    (meta,) = uses(job, "docker/metadata-action")
    tags = meta["with"]["tags"]
    rules = ("type=ref,event=branch", "type=semver,pattern={{version}}", "type=sha")
    for rule in rules:
        assert rule in tags
    assert meta["with"]["images"] == "${{ matrix.image }}"
    assert uses(job, "docker/setup-buildx-action")
    (login,) = uses(job, "docker/login-action")
    assert login["with"]["registry"] == "ghcr.io"
    assert login["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    (build,) = uses(job, "docker/build-push-action")
    assert build["with"]["push"] == "${{ github.event_name != 'pull_request' }}"
    assert build["with"]["tags"] == "${{ steps.meta.outputs.tags }}"
    assert job["permissions"]["packages"] == "write"
    # A release tag is checked against VERSION before any image is pushed.
    check = [s for s in steps(job) if "check_release_version.py" in str(s.get("run"))]
    assert check and steps(job).index(check[0]) < steps(job).index(build)


# -- the deploy workflow ------------------------------------------------------------


def deploy_problems(text: str) -> list[str]:
    """What keeps deploy-monitor.yml from being an OIDC, secret-free, checked deploy."""
    workflow = yaml.safe_load(text)
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    problems = []
    if re.search(r"\bsecrets\.", text):
        problems.append("reads a stored secret")
    if "workflow_dispatch" not in workflow["on"]:
        problems.append("cannot be run by hand")
    if workflow["on"].get("push", {}).get("tags") != ["v*"]:
        problems.append("does not run on release tags v*")
    job = next(iter(workflow["jobs"].values()))
    if (job.get("permissions") or {}).get("id-token") != "write":
        problems.append("the job cannot request an OIDC token (id-token: write)")
    logins = uses(job, "azure/login")
    if not logins:
        problems.append("does not sign in with azure/login")
    else:
        inputs = logins[0].get("with", {})
        if "creds" in inputs:
            problems.append("azure/login uses stored credentials")
        for name in ("client-id", "tenant-id", "subscription-id"):
            if not str(inputs.get(name, "")).startswith("${{ vars."):
                problems.append(f"azure/login {name} is not a repository variable")
    if "make package" not in run_lines(job):
        problems.append("does not build with `make package`")
    deploys = uses(job, "Azure/functions-action")
    if not deploys:
        problems.append("does not deploy with Azure/functions-action")
    else:
        inputs = deploys[0].get("with", {})
        if inputs.get("package") != "dist/function_app.zip":
            problems.append(f"deploys {inputs.get('package')!r}, not the package zip")
        if inputs.get("remote-build") is not True:
            problems.append("no remote build: requirements.txt would not be installed")
        if "publish-profile" in inputs:
            problems.append("deploys with a publish profile")
    checks = [line for line in run_lines(job) if "verify_deployment.py" in line]
    if not checks:
        problems.append("does not check /version and /status after deploying")
    return problems


def deploy_text() -> str:
    return (REPO_ROOT / ".github" / "workflows" / "deploy-monitor.yml").read_text()


def test_the_deploy_workflow_signs_in_with_oidc_and_stores_no_secret():
    assert deploy_problems(deploy_text()) == []


def test_a_deploy_with_a_stored_secret_or_no_oidc_token_is_caught():
    text = deploy_text().replace("id-token: write", "id-token: none")
    text = text.replace(
        "client-id: ${{ vars.AZURE_CLIENT_ID }}",
        "creds: ${{ secrets.AZURE_CREDENTIALS }}",
    )
    problems = deploy_problems(text)
    assert "reads a stored secret" in problems
    assert "azure/login uses stored credentials" in problems
    assert "the job cannot request an OIDC token (id-token: write)" in problems


def test_a_deploy_without_remote_build_or_the_post_deploy_check_is_caught():
    text = deploy_text().replace("remote-build: true", "remote-build: false")
    text = text.replace("verify_deployment.py", "true.py")
    problems = deploy_problems(text)
    assert "no remote build: requirements.txt would not be installed" in problems
    assert "does not check /version and /status after deploying" in problems


def test_the_deployed_zip_is_the_one_make_package_writes():
    package_script = load_module(REPO_ROOT / "scripts" / "package_function_app.py")
    assert package_script.TARGET.relative_to(REPO_ROOT) == Path("dist/function_app.zip")


def test_the_federated_credential_in_the_docs_names_the_workflows_environment():
    # Entra matches the token's subject exactly: repo:<owner>/<repo>:environment:<name>.
    workflow = load_workflow("deploy-monitor.yml")
    job = next(iter(workflow["jobs"].values()))
    environment = job["environment"]["name"]
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    assert f'"subject": "repo:$REPO:environment:{environment}"' in docs
    assert '"issuer": "https://token.actions.githubusercontent.com"' in docs
    assert '"audiences": ["api://AzureADTokenExchange"]' in docs
    # Every variable the workflow reads is one the docs tell the operator to set.
    text = deploy_text()
    for name in sorted(set(re.findall(r"vars\.([A-Z_]+)", text))):
        assert f"`{name}`" in docs, name


def test_every_script_a_workflow_runs_exists():
    for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")):
        for script in re.findall(r"\.github/scripts/[\w.]+", path.read_text()):
            assert (REPO_ROOT / script).is_file(), f"{path.name} runs missing {script}"


def test_no_workflow_step_interpolates_an_expression_into_its_shell():
    # actionlint flags untrusted inputs; this keeps every `run:` free of ${{ }} so a
    # value always reaches the shell through the environment.
    for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            for step in steps(copy.deepcopy(job)):
                assert "${{" not in str(step.get("run", "")), (path.name, step)


# -- the linter ---------------------------------------------------------------------


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "actionlint"),
            f"-shellcheck={REPO_ROOT / '.venv' / 'bin' / 'shellcheck'}",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


def test_actionlint_passes_the_workflows():
    result = actionlint(*sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_misspelt_input_and_an_unquoted_shell_variable(tmp_path):
    broken = tmp_path / "broken.yml"
    text = deploy_text().replace("remote-build: true", "remote-biuld: true")
    text = text.replace('"$BASE_URL" "$VERSION"', "$BASE_URL $VERSION")
    broken.write_text(text)
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'input "remote-biuld" is not defined' in result.stdout
    assert "SC2086" in result.stdout  # shellcheck runs over `run:` steps
