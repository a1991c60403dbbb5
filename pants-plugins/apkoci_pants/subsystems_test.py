from __future__ import annotations

import pytest
from apkoci_pants import register
from apkoci_pants.rules.package import SourceDateEpoch
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(
        target_types=register.target_types(),
        rules=[*register.rules(), QueryRule(SourceDateEpoch, [])],
    )


@pytest.mark.parametrize(
    "option, env, seconds",
    [
        ([], {}, None),  # `packages`: the engine takes the newest package build time.
        (["--apkoci-source-date-epoch=0"], {}, 0),
        (["--apkoci-source-date-epoch=1700000000"], {"SOURCE_DATE_EPOCH": "5"}, 1700000000),
        (["--apkoci-source-date-epoch=environment"], {"SOURCE_DATE_EPOCH": "1234"}, 1234),
    ],
)
def test_source_date_epoch(rule_runner: RuleRunner, option: list, env: dict, seconds) -> None:
    rule_runner.set_options(option, env=env)
    assert rule_runner.request(SourceDateEpoch, []) == SourceDateEpoch(seconds)


@pytest.mark.parametrize(
    "option, env, message",
    [
        ("environment", {}, "SOURCE_DATE_EPOCH is unset"),
        ("environment", {"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH is 'yesterday'"),
        ("-1", {}, r"\[apkoci\].source_date_epoch is '-1'"),
    ],
)
def test_source_date_epoch_errors(
    rule_runner: RuleRunner, option: str, env: dict, message: str
) -> None:
    rule_runner.set_options([f"--apkoci-source-date-epoch={option}"], env=env)
    with pytest.raises(ExecutionError, match=message):
        rule_runner.request(SourceDateEpoch, [])
