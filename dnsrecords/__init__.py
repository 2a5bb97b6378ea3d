"""The tenant's DNS records as plain typed Python: the record model, the mail record set, pluggable providers
(RFC 2136, Cloudflare, manual) and verification against the authoritative servers.

Nothing here knows about Pulumi or invoke (components/dns_records.py and tasks_lib/dns.py wrap it).
Named ``dnsrecords`` on purpose: a package called ``dns`` would shadow dnspython.
"""
