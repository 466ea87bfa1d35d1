"""The results of a vantage in another region (SQS), applied through the engine as its checks."""

from proxy_failover.remote import apply_results

handler = apply_results
