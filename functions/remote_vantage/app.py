"""A vantage in another region: probe each batch its home forwarded (SQS), send the results home.

No database and no VPC needed: the home region applies the results (functions/vantage_results)."""

from proxy_failover.remote import probe_batches

handler = probe_batches
