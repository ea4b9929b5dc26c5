import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from payment_processor import process_payment  # noqa: E402


class ProcessPaymentTest(unittest.TestCase):
    def test_charges_user_with_email(self):
        result = process_payment("user-1", 1250)
        self.assertEqual(result.amount_cents, 1250)

    def test_rejects_non_positive_amount(self):
        with self.assertRaises(ValueError):
            process_payment("user-1", 0)


if __name__ == "__main__":
    unittest.main()
