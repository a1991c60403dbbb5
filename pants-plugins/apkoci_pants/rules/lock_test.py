from __future__ import annotations

import base64
import hashlib
import json

import pytest
from apkoci_pants import register
from apkoci_pants.rules.config import StagedConfig, StagedConfigRequest
from apkoci_pants.rules.lock import (
    CheckedLock,
    CheckedLockRequest,
    GenerateApkoImageLockfile,
    KnownApkoImageResolveNamesRequest,
    RequestedApkoImageResolveNames,
    RequestedUserResolveNames,
)
from apkoci_pants.target_types import ApkoImageConfigField
from pants.core.goals.generate_lockfiles import KnownUserResolveNames, UserGenerateLockfiles
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

CONFIG = b"contents:\n  packages: [busybox]\n"


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        target_types=register.target_types(),
        rules=[
            *register.rules(),
            QueryRule(KnownUserResolveNames, [KnownApkoImageResolveNamesRequest]),
            QueryRule(UserGenerateLockfiles, [RequestedApkoImageResolveNames]),
            QueryRule(StagedConfig, [StagedConfigRequest]),
            QueryRule(CheckedLock, [CheckedLockRequest]),
        ],
    )
    runner.write_files(
        {
            "img/BUILD": (
                "apko_image()\n"
                "apko_image(name='web', config='web.apko.yaml', lockfile='web.json')"
            ),
            "img/apko.yaml": CONFIG,
            "img/web.apko.yaml": CONFIG,
        }
    )
    return runner


def test_every_image_is_a_resolve(rule_runner: RuleRunner) -> None:
    known = rule_runner.request(KnownUserResolveNames, [KnownApkoImageResolveNamesRequest()])
    assert sorted(known.names) == ["img:img", "img:web"]
    assert known.requested_resolve_names_cls is RequestedApkoImageResolveNames
    assert issubclass(known.requested_resolve_names_cls, RequestedUserResolveNames)

    requested = rule_runner.request(
        UserGenerateLockfiles, [RequestedApkoImageResolveNames(["img:web"])]
    )
    assert list(requested) == [
        GenerateApkoImageLockfile(
            resolve_name="img:web",
            lockfile_dest="img/web.json",
            diff=False,
            address=Address("img", target_name="web"),
        )
    ]


def checked(rule_runner: RuleRunner, lock: bytes | None) -> CheckedLock:
    if lock is not None:
        rule_runner.write_files({"img/apko.lock.json": lock})
    target = rule_runner.get_target(Address("img"))
    staged = rule_runner.request(
        StagedConfig, [StagedConfigRequest(target.address, target[ApkoImageConfigField])]
    )
    return rule_runner.request(CheckedLock, [CheckedLockRequest(staged, "img/apko.lock.json")])


def lock_with_checksum(checksum: str) -> bytes:
    return json.dumps(
        {
            "version": "v1",
            "config": {"name": "apko.yaml", "checksum": checksum},
            "contents": {"repositories": [{"name": "r", "url": "u", "architecture": "x86_64"}]},
        }
    ).encode()


def test_a_fresh_lock_is_accepted(rule_runner: RuleRunner) -> None:
    checksum = "sha256-" + base64.b64encode(hashlib.sha256(CONFIG).digest()).decode()
    lock = checked(rule_runner, lock_with_checksum(checksum))
    assert lock.lock.archs == ("x86_64",)
    assert lock.content == lock_with_checksum(checksum)


def test_a_missing_lock_says_how_to_write_it_when_one_is_required(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.set_options(["--apkoci-require-lockfile"])
    with pytest.raises(ExecutionError, match="has no lock file yet") as error:
        checked(rule_runner, None)
    assert "generate-lockfiles --resolve=img:img" in str(error.value)


def test_a_stale_lock_says_how_to_refresh_it(rule_runner: RuleRunner) -> None:
    with pytest.raises(ExecutionError, match="img/apko.lock.json of img:img is stale") as error:
        checked(rule_runner, lock_with_checksum("sha256-old="))
    assert "generate-lockfiles --resolve=img:img" in str(error.value)
