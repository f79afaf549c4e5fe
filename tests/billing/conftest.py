"""A hand-computed book of billing events, shared by the revenue, CSV and view tests.

T0 is Fri 2026-11-20 09:00 UTC. All amounts are decimal strings, as the protocol wants.

USD                                              agent           customer  day
  ch_1    charge        0.10                     invoice-bot     cus_b     Nov 20
  ch_2    charge        0.20                     invoice-bot     cus_b     Nov 20
  ch_3    charge       19.99                     invoice-bot     cus_a     Nov 20
  re_1    refund        5.00  (refund of ch_3)   invoice-bot     cus_a     Nov 20
  —       credit        1.00                     invoice-bot     cus_b     Nov 20
  po_1    payout       10.00  (not in net)       invoice-bot     —         Nov 20
  sub_1   subscription 49.00                     support-triage  cus_c     Nov 5
  ch_oct  charge      100.00                     support-triage  cus_c     Oct 30
  ch_late charge        2.50  (sent late)        invoice-bot     cus_a     Nov 19
  re-sent: ch_1 with a new event_id, and ch_2's very event again: both ignored
EUR
  ch_e1   charge       12.50                     invoice-bot     cus_a     Nov 20
  re_e1   refund        2.50  (refund of ch_e1)  invoice-bot     cus_a     Nov 21 (late)

USD sums
  charges       0.10 + 0.20 + 19.99 + 100.00 + 2.50 = 122.79
  subscriptions 49.00                  gross = 122.79 + 49.00 = 171.79
  refunds 5.00, credits 1.00           net   = 171.79 − 5.00 − 1.00 = 165.79
  payouts 10.00, shown apart           events = 9
  by day:   Oct 30 100.00 · Nov 5 49.00 · Nov 19 2.50 · Nov 20 20.29 − 5.00 − 1.00 = 14.29
  by week:  Oct 26 100.00 · Nov 2 49.00 · Nov 16 2.50 + 14.29 = 16.79
  by month: Oct 100.00 · Nov 49.00 + 2.50 + 14.29 = 65.79
  by agent: invoice-bot 0.10 + 0.20 + 19.99 + 2.50 − 5.00 − 1.00 = 16.79; support-triage 149.00
  by customer: cus_c 149.00 · cus_a 19.99 + 2.50 − 5.00 = 17.49 · (none) 0.00 ·
               cus_b 0.10 + 0.20 − 1.00 = −0.70 (its charges: 0.10 + 0.20 = 0.30 exactly)
  model cost: invoice-bot's gpt-4o call, 1000 in + 200 out = 0.0025 + 0.002 = 0.0045
  margin: invoice-bot 16.79 − 0.0045 = 16.7855; support-triage 149.00 − 0 = 149.00;
          all 165.79 − 0.0045 = 165.7855
EUR sums: gross 12.50, refunds 2.50, net 10.00; no margin (cost is in USD)
"""

import pytest

from tests.conftest import apply_now, ev

DAY = 86_400


def money(run_id: str, at: float, kind: str, amount: str, currency: str = "USD", *,
          agent: str = "invoice-bot", event_id: str | None = None, **data) -> dict:  # fmt: skip
    return ev("revenue", run_id, at=at, agent=agent, event_id=event_id, kind=kind,
              amount=amount, currency=currency, **data)  # fmt: skip


@pytest.fixture
def revenue_book(project):
    apply_now(
        project,
        [
            ev("run_start", "rv1", at=0, seq=0, environment="cloud"),
            ev(
                "usage",
                "rv1",
                at=5,
                seq=1,
                model="gpt-4o",
                input_tokens=1000,
                output_tokens=200,
                call_id="c1",
            ),
            money("rv1", 10, "charge", "0.10", customer="cus_b", external_id="ch_1"),
            money(
                "rv1",
                20,
                "charge",
                "0.20",
                customer="cus_b",
                external_id="ch_2",
                event_id="ev_ch_2",
            ),
            money("rv1", 30, "charge", "19.99", customer="cus_a", external_id="ch_3"),
            money(
                "rv1", 40, "refund", "5.00", customer="cus_a", external_id="re_1", refund_of="ch_3"
            ),
            money("rv1", 50, "credit", "1.00", customer="cus_b"),
            money("rv1", 60, "payout", "10.00", external_id="po_1"),
            money("rv1", 65, "charge", "12.50", "EUR", customer="cus_a", external_id="ch_e1"),
            ev("run_end", "rv1", at=70, seq=2, outputs={}),
        ],
    )
    apply_now(
        project,
        [
            ev("run_start", "rv2", at=-15 * DAY, seq=0, agent="support-triage"),
            money(
                "rv2",
                -15 * DAY + 1,
                "subscription",
                "49.00",
                agent="support-triage",
                customer="cus_c",
                external_id="sub_1",
            ),
            ev("run_start", "rv3", at=-21 * DAY, seq=0, agent="support-triage"),
            money(
                "rv3",
                -21 * DAY + 1,
                "charge",
                "100.00",
                agent="support-triage",
                customer="cus_c",
                external_id="ch_oct",
            ),
        ],
    )
    # Late, after rv1 finished: a charge dated the day before, a refund the day after,
    # and two re-sent events that must not count again.
    apply_now(project, [
        money("rv1", -DAY, "charge", "2.50", customer="cus_a", external_id="ch_late"),
        money("rv1", DAY, "refund", "2.50", "EUR", customer="cus_a", external_id="re_e1",
              refund_of="ch_e1"),
        money("rv1", 11, "charge", "0.10", customer="cus_b", external_id="ch_1"),
        money("rv1", 20, "charge", "0.20", customer="cus_b", external_id="ch_2",
              event_id="ev_ch_2"),
    ])  # fmt: skip
