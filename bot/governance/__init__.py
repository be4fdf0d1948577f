"""Who may do what: policy, environment locks and the audit trail."""
