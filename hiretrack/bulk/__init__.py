"""Bulk actions: one form on the lists, one review page, all or nothing."""
