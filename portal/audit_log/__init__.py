"""The audit-log page (Settings → Audit log)."""
