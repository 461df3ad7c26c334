"""Checks invoices against the payment terms of the services agreement (Section 4)."""

from datetime import date, timedelta

PAYMENT_DAYS = 30          # Section 4.1: payment within thirty days of invoice
MONTHLY_INTEREST = 0.01    # Section 4.2: one percent per month on late payments


class Invoice:
    def __init__(self, number: str, issued: date, amount: float):
        self.number = number
        self.issued = issued
        self.amount = amount

    def due_date(self) -> date:
        return self.issued + timedelta(days=PAYMENT_DAYS)


def late_interest(invoice: Invoice, paid: date) -> float:
    """Interest owed when `invoice` is paid on `paid` (whole months late)."""
    days_late = (paid - invoice.due_date()).days
    if days_late <= 0:
        return 0.0
    months = (days_late + 29) // 30
    return invoice.amount * MONTHLY_INTEREST * months
