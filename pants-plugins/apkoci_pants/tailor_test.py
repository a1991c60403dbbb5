from __future__ import annotations

from apkoci_pants import register
from apkoci_pants.tailor import PutativeApkoImageTargetsRequest
from apkoci_pants.target_types import ApkoImageTarget
from pants.core.goals.tailor import AllOwnedSources, PutativeTarget, PutativeTargets
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner


def rule_runner() -> RuleRunner:
    return RuleRunner(
        target_types=register.target_types(),
        rules=[
            *register.rules(),
            QueryRule(PutativeTargets, [PutativeApkoImageTargetsRequest, AllOwnedSources]),
        ],
    )


def find(runner: RuleRunner, owned: list) -> PutativeTargets:
    return runner.request(
        PutativeTargets,
        [PutativeApkoImageTargetsRequest(("base", "web", "done")), AllOwnedSources(owned)],
    )


def test_tailor_finds_unowned_configurations() -> None:
    runner = rule_runner()
    runner.write_files(
        {
            "base/apko.yaml": "contents: {}",
            "web/apko.yaml": "contents: {}",
            "web/debug.apko.yaml": "contents: {}",
            "web/other.yaml": "not apko",
            "done/apko.yaml": "contents: {}",
        }
    )
    found = find(runner, ["done/apko.yaml"])
    assert found == PutativeTargets(
        [
            PutativeTarget.for_target_type(
                ApkoImageTarget, path="base", name=None, triggering_sources=["apko.yaml"]
            ),
            PutativeTarget.for_target_type(
                ApkoImageTarget, path="web", name=None, triggering_sources=["apko.yaml"]
            ),
            PutativeTarget(
                "web",
                "debug",
                "apko_image",
                triggering_sources=["debug.apko.yaml"],
                owned_sources=["debug.apko.yaml"],
                kwargs={"config": "debug.apko.yaml"},
            ),
        ]
    )
    assert {(t.path, t.name) for t in found} == {("base", "base"), ("web", "web"), ("web", "debug")}


def test_tailor_can_be_turned_off() -> None:
    runner = rule_runner()
    runner.set_options(["--no-apkoci-tailor"])
    runner.write_files({"base/apko.yaml": "contents: {}"})
    assert find(runner, []) == PutativeTargets()
