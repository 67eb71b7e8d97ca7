"""Rich renderables for the front ends: a webhook, its body, its deliveries and attempts, the
list table (``webhooks``). Webhook content is never markup."""
