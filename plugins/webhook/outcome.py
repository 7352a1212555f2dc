"""What an attempt's answer means for its delivery (``webhook-contract.md`` §5-6)."""

from __future__ import annotations

import msgspec

from plugins.webhook.config import WebhookConfig
from plugins.webhook.http import AttemptAnswer
from plugins.webhook.retry import RetryPolicy
from plugins.webhook.store import Status


class Verdict(msgspec.Struct, kw_only=True):
    status: Status
    #: Seconds until the next attempt (``pending`` only).
    delay: float | None = None
    #: The endpoint answered 410 Gone: disable it.
    disable_endpoint: bool = False
    #: Counts as a failure for the circuit breaker.
    failure: bool = False


def judge(answer: AttemptAnswer, hook: WebhookConfig, policy: RetryPolicy, tries_after: int) -> Verdict:
    """``tries_after``: attempts spent of the budget, this one included."""
    code = answer.status_code
    if code is not None and 200 <= code < 300:
        return Verdict(status="delivered")
    if answer.refused:
        # The SSRF guard refused the target (an untrusted webhook resolving to a private
        # address). Retrying would ask the same question of the same policy, so the delivery
        # is dead at once: fix DNS or `allow_networks`, then re-send it.
        return Verdict(status="dead", failure=True)
    if code == 410:
        return Verdict(status="disabled", disable_endpoint=True, failure=True)
    if code is not None and code in hook.non_retryable_statuses:
        return Verdict(status="dead", failure=True)
    delay = policy.delay(tries_after)
    if delay is None:
        return Verdict(status="dead", failure=True)
    return Verdict(status="pending", delay=policy.with_retry_after(delay, answer.retry_after), failure=True)
