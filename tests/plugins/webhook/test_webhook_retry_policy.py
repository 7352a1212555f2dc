"""Retry policies and ``Retry-After`` as data (``webhook-contract.md`` §5-6): unit tests of
:class:`RetryPolicy`, :func:`parse_retry_after` and :func:`judge`."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.webhook.config import RetryConfig, WebhookConfig
from plugins.webhook.http import AttemptAnswer
from plugins.webhook.outcome import judge
from plugins.webhook.retry import RetryPolicy, parse_retry_after


def delays(policy: RetryPolicy) -> list[float | None]:
    return [policy.delay(n) for n in range(1, policy.max_attempts + 1)]


def test_constant_is_the_seed_rule_by_default():
    policy = RetryPolicy(RetryConfig())
    assert policy.max_attempts == 16  # WAHA: 15 retries after the first try
    assert delays(policy) == [2.0] * 15 + [None]
    assert policy.delay(0) is None


def test_linear_grows_by_the_delay():
    policy = RetryPolicy(RetryConfig(policy="linear", delay_seconds=1.5, attempts=4))
    assert delays(policy) == [1.5, 3.0, 4.5, 6.0, None]


def test_exponential_doubles_with_jitter_at_its_bounds():
    config = RetryConfig(policy="exponential", delay_seconds=2, attempts=4)
    assert delays(RetryPolicy(config, rand=lambda: 0.5)) == [2.0, 4.0, 8.0, 16.0, None]
    assert delays(RetryPolicy(config, rand=lambda: 0.0)) == pytest.approx([1.6, 3.2, 6.4, 12.8, None])
    high = delays(RetryPolicy(config, rand=lambda: 0.999999))
    assert high[:4] == pytest.approx([2.4, 4.8, 9.6, 19.2], rel=1e-5)


@given(st.floats(min_value=0, max_value=1, exclude_max=True), st.integers(min_value=1, max_value=10))
def test_exponential_jitter_stays_within_twenty_percent(rand, retry):
    policy = RetryPolicy(RetryConfig(policy="exponential", delay_seconds=1, attempts=10,
                                     max_delay_seconds=1e9), rand=lambda: rand)
    base = 2 ** (retry - 1)
    assert 0.8 * base <= policy.delay(retry) <= 1.2 * base


def test_exponential_with_the_real_random_source_spreads():
    policy = RetryPolicy(RetryConfig(policy="exponential", delay_seconds=10, attempts=1))
    samples = [policy.delay(1) for _ in range(200)]
    assert all(8.0 <= s <= 12.0 for s in samples)
    assert len(set(samples)) > 100


def test_an_explicit_schedule_overrides_policy_and_attempts():
    policy = RetryPolicy(RetryConfig(policy="linear", attempts=99, schedule=[5, 300, 1800]))
    assert policy.max_attempts == 4
    assert delays(policy) == [5, 300, 1800, None]


def test_every_policy_is_capped_by_the_max_delay():
    cap = 10.0
    assert delays(RetryPolicy(RetryConfig(policy="exponential", delay_seconds=4, attempts=4, jitter=0,
                                          max_delay_seconds=cap))) == [4, 8, 10, 10, None]
    assert delays(RetryPolicy(RetryConfig(policy="linear", delay_seconds=6, attempts=3,
                                          max_delay_seconds=cap))) == [6, 10, 10, None]
    assert delays(RetryPolicy(RetryConfig(schedule=[1, 60], max_delay_seconds=cap))) == [1, 10, None]
    assert delays(RetryPolicy(RetryConfig(delay_seconds=60, attempts=1, max_delay_seconds=cap))) == [10, None]


def test_retry_after_only_lengthens_and_never_past_the_max_delay():
    policy = RetryPolicy(RetryConfig(max_delay_seconds=30))
    assert policy.with_retry_after(2, None) == 2
    assert policy.with_retry_after(2, 10) == 10
    assert policy.with_retry_after(20, 5) == 20  # shorter: ignored
    assert policy.with_retry_after(2, 3600) == 30  # capped


def test_parse_retry_after_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "-5", "1.5e3"):
        assert parse_retry_after(bad) is None


HOOK = WebhookConfig(url="http://127.0.0.1:1/hook", events=["*"], non_retryable_statuses=[400, 422],
                     retries=RetryConfig(schedule=[1, 2], max_delay_seconds=100))


@pytest.mark.parametrize(("answer", "tries", "expected"), [
    (AttemptAnswer(status_code=200), 1, ("delivered", None, False, False)),
    (AttemptAnswer(status_code=204), 3, ("delivered", None, False, False)),
    (AttemptAnswer(status_code=500), 1, ("pending", 1, False, True)),
    (AttemptAnswer(status_code=500), 2, ("pending", 2, False, True)),
    (AttemptAnswer(status_code=500), 3, ("dead", None, False, True)),  # the last attempt
    (AttemptAnswer(status_code=301), 1, ("pending", 1, False, True)),  # 3xx is a failure
    (AttemptAnswer(status_code=404), 1, ("pending", 1, False, True)),  # 4xx retried unless listed
    (AttemptAnswer(status_code=400), 1, ("dead", None, False, True)),  # listed: dead at once
    (AttemptAnswer(status_code=422), 1, ("dead", None, False, True)),
    (AttemptAnswer(status_code=410), 1, ("disabled", None, True, True)),
    (AttemptAnswer(error="timeout after 15 s"), 1, ("pending", 1, False, True)),
    (AttemptAnswer(status_code=429, retry_after=30), 1, ("pending", 30, False, True)),
    (AttemptAnswer(status_code=503, retry_after=1000), 2, ("pending", 100, False, True)),
])
def test_judge_maps_answers_to_outcomes(answer, tries, expected):
    verdict = judge(answer, HOOK, RetryPolicy(HOOK.retries), tries)
    assert (verdict.status, verdict.delay, verdict.disable_endpoint, verdict.failure) == expected
