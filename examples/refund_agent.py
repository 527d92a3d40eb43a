"""A custom agent that really refunds: Pinecrest's refund desk as a small LangGraph graph.

The demo catalog links the ``refund_request`` intent to it (``agent: {graph: "refund_agent:graph"}``,
found beside the catalog). The case agent calls it with ``{"caseId": ...}``; it reads the case with
``get_case``, looks the order up in its own SQLite ``orders`` table, and:

* writes a row into ``refunds`` and answers ``Resolved`` when the order is the customer's, delivered,
  within the 30-day return window and not refunded yet (a second call for the same case answers
  the same, without a second refund);
* answers ``Question`` when it cannot tell what to refund: no order number yet, or an order of several
  items and the customer's latest email names none of them;
* answers ``UnableToResolve`` when the order is unknown, someone else's, not delivered, past the
  window or already refunded for another case.

Its messages repeat only what the case holds (the order number, the item the customer named), so
the case agent's grounding guard lets them through; amounts stay in its own table.

The orders live in ``REFUND_AGENT_DB`` (default ``refund_agent.db``), created and filled with the
demo's orders on first use. From the command line::

    .venv/bin/python examples/refund_agent.py reset      # a fresh orders table, no refunds
    .venv/bin/python examples/refund_agent.py refunds    # the refunds written so far
"""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from agent_graph.custom_agent import CaseView, get_case

RETURN_WINDOW = timedelta(days=30)

ORDERS = [  # order, customer, delivered on (None: not delivered), [(item, amount)]
    ("ORD-774031", "amira.haddad@example.net", "2026-02-20", [("coffee machine", "129.00")]),
    ("ORD-559720", "lucas.meyer@example.net", "2026-02-10", [("dishwasher", "649.00")]),
    ("ORD-318804", "noor@example.net", "2026-02-25", [("kettle", "39.90"), ("toaster", "54.90")]),
    ("ORD-120456", "noor@example.net", "2025-11-02", [("blender", "89.00")]),
    ("ORD-640385", "kenji.watanabe@example.net", None, [("fridge", "899.00")]),
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (number TEXT PRIMARY KEY, customer_email TEXT NOT NULL, delivered_on TEXT);
CREATE TABLE IF NOT EXISTS order_lines (number TEXT NOT NULL REFERENCES orders(number), item TEXT NOT NULL,
                                        amount TEXT NOT NULL, PRIMARY KEY (number, item));
CREATE TABLE IF NOT EXISTS refunds (id INTEGER PRIMARY KEY, number TEXT NOT NULL, item TEXT NOT NULL,
                                    amount TEXT NOT NULL, method TEXT NOT NULL, case_number TEXT NOT NULL,
                                    refunded_at TEXT NOT NULL, UNIQUE (number, item));
"""


def db_path() -> Path:
    return Path(os.environ.get("REFUND_AGENT_DB") or "refund_agent.db")


def connect() -> sqlite3.Connection:
    connection = sqlite3.connect(db_path())
    connection.row_factory = sqlite3.Row
    connection.executescript(SCHEMA)
    with connection:
        for number, customer, delivered, lines in ORDERS:
            connection.execute("INSERT OR IGNORE INTO orders VALUES (?, ?, ?)", (number, customer, delivered))
            connection.executemany("INSERT OR IGNORE INTO order_lines VALUES (?, ?, ?)",
                                   [(number, item, amount) for item, amount in lines])
    return connection


class RefundState(TypedDict, total=False):
    caseId: str
    case: dict[str, Any]
    responseType: str
    message: str
    handlingOptions: dict[str, bool]


def read_case(state: RefundState) -> dict[str, Any]:
    return {"case": get_case(state["caseId"]).as_json()}


def decide_and_refund(state: RefundState) -> dict[str, Any]:
    """Check the order, refund it when it may be, and say what happened."""
    case = CaseView.model_validate(state["case"])
    number = case.fields.get("order_number")
    if number is None:
        return question("Could you send us the order number? It is printed on your order confirmation.")
    with closing(connect()) as db, db:
        order = db.execute("SELECT * FROM orders WHERE number = ?", (number,)).fetchone()
        if order is None:
            return unable(f"Order {number} is not in the order system.")
        if order["customer_email"].lower() != case.customer.email.lower():
            return unable(f"Order {number} belongs to another customer than {case.customer.email}.")
        if order["delivered_on"] is None:
            return unable(f"Order {number} has not been delivered yet: it can be cancelled, not refunded.")
        today = case.new_texts[-1].at.date() if case.new_texts else datetime.now(UTC).date()
        if today - date.fromisoformat(order["delivered_on"]) > RETURN_WINDOW:
            return unable(f"Order {number} was delivered on {order['delivered_on']}, past the 30-day return window.")
        lines = db.execute("SELECT item, amount FROM order_lines WHERE number = ?", (number,)).fetchall()
        latest = case.new_texts[-1].text.lower() if case.new_texts else ""
        named = [line for line in lines if line["item"] in latest]
        chosen = lines if len(lines) == 1 else named[:1]
        if not chosen:
            items = " or the ".join(line["item"] for line in lines)
            return question(f"Order {number} has several items. Which one would you like refunded: the {items}?")
        item, amount = chosen[0]["item"], chosen[0]["amount"]
        earlier = db.execute("SELECT case_number FROM refunds WHERE number = ? AND item = ?", (number, item)).fetchone()
        if earlier is not None and earlier["case_number"] != case.number:
            return unable(f"The {item} of order {number} was already refunded (case {earlier['case_number']}).")
        method = case.fields.get("refund_method", "original_payment")
        if earlier is None:
            db.execute("INSERT INTO refunds (number, item, amount, method, case_number, refunded_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (number, item, amount, method, case.number, datetime.now(UTC).isoformat(timespec="seconds")))
    paid_back = "as store credit on your Pinecrest account" if method == "store_credit" else \
        "to your original payment method"
    return {"responseType": "Resolved", "handlingOptions": {"needsReview": False},
            "message": f"We have refunded the {item} from order {number} {paid_back}."}


def question(message: str) -> dict[str, Any]:
    return {"responseType": "Question", "message": message, "handlingOptions": {"needsReview": False}}


def unable(message: str) -> dict[str, Any]:
    return {"responseType": "UnableToResolve", "message": message}


builder = StateGraph(RefundState)
builder.add_node("read_case", read_case)
builder.add_node("decide_and_refund", decide_and_refund)
builder.add_edge(START, "read_case")
builder.add_edge("read_case", "decide_and_refund")
builder.add_edge("decide_and_refund", END)
graph = builder.compile(name="refund_agent")


def refunds() -> list[dict[str, Any]]:
    with closing(connect()) as db:
        return [dict(row) for row in db.execute("SELECT * FROM refunds ORDER BY id")]


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "refunds"
    if command == "reset":
        db_path().unlink(missing_ok=True)
        connect().close()
        print(f"{db_path()}: {len(ORDERS)} orders, no refunds")
    elif command == "refunds":
        rows = refunds()
        print(f"Refunds written by the refund agent ({db_path()}): {len(rows)}")
        for row in rows:
            print(f"  #{row['id']} {row['number']} {row['item']} {row['amount']} {row['method']} "
                  f"for {row['case_number']} at {row['refunded_at']}")
    else:
        print("usage: refund_agent.py reset | refunds", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
