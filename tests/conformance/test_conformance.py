"""Every scenario, run against moto and against our server (each metadata backend); the normalised
records must be equal, except where a scenario is marked as one where AWS's documented behaviour
differs from moto's: then our records must equal AWS's (moto's, corrected as the marker says)."""
from __future__ import annotations

import warnings

import pytest

from tests.conftest import ADMIN_AK, ADMIN_SK
from tests.conformance import scenarios  # noqa: F401  (registers every scenario)
from tests.conformance.conftest import MOTO_AK, MOTO_SK
from tests.conformance.harness import SCENARIOS, add_checksum_type, add_transition_default, diff_records, run_scenario


@pytest.mark.parametrize("scenario", SCENARIOS.scenarios, ids=lambda s: s.name)
def test_conformance(scenario, system, moto_server, moto_records):
    if scenario.name not in moto_records:
        moto_records[scenario.name] = run_scenario(scenario, moto_server.client(), moto_server.endpoint,
                                                   MOTO_AK, MOTO_SK)
    # every scenario: AWS reports x-amz-checksum-type / ChecksumType where moto does not (CHECKSUM_TYPE_QUOTE)
    # and x-amz-transition-default-minimum-object-size with a lifecycle configuration (TRANSITION_DEFAULT_QUOTE)
    reference = add_transition_default(add_checksum_type(moto_records[scenario.name]))
    ours = run_scenario(scenario, system.client(), system.endpoint, ADMIN_AK, ADMIN_SK)
    if scenario.aws is None:
        assert ours == reference, "differs from moto:\n" + diff_records(ours, reference)
        return
    expected = scenario.aws.expect(reference)
    if expected == reference:
        warnings.warn(f"{scenario.name}: moto now agrees with AWS ({scenario.aws.quote!r}); drop the marker")
    assert ours == expected, (f"differs from AWS (moto differs too; AWS: {scenario.aws.quote!r}):\n"
                              + diff_records(ours, expected))


def test_enough_scenarios():
    assert len(SCENARIOS.scenarios) >= 150
