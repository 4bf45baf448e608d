"""Live sync from CRM APIs (HubSpot, Salesforce) into the canonical tables; see docs/sync.md."""
