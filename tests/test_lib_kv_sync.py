"""lib/stores/kv_sync.txn_batches: transactions of at most TXN_OPS operations whose body, as Consul
receives it, is at most TXN_MAX_BYTES; an operation too large alone goes by the plain API."""

import base64

from hypothesis import given, strategies as st

from lib.stores.kv_sync import TXN_MAX_BYTES, TXN_OPS, txn_batches, txn_body_bytes


def _op(size, index=0):
    return {"Verb": "cas", "Key": "apps/key-%04d" % index,
            "Value": base64.b64encode(b"v" * size).decode(), "Index": 7, "Flags": 2 ** 63}


def test_64_values_of_8_kib_take_two_transactions_under_the_budget():
    operations = [_op(8 * 1024, i) for i in range(64)]
    assert txn_body_bytes(operations) > 512 * 1024  # what Consul refused with HTTP 413
    batches = txn_batches(operations)
    assert [kind for kind, _ in batches] == ["txn", "txn"]
    assert all(txn_body_bytes([operations[i] for i in b]) <= TXN_MAX_BYTES for _, b in batches)


def test_a_value_too_large_for_a_transaction_goes_alone_by_the_plain_api():
    operations = [_op(10, 0), _op(400 * 1024, 1), _op(10, 2)]
    assert txn_batches(operations) == [("txn", [0]), ("plain", [1]), ("txn", [2])]
    assert txn_batches([_op(10, i) for i in range(130)]) == [
        ("txn", list(range(64))), ("txn", list(range(64, 128))), ("txn", [128, 129])]
    assert TXN_MAX_BYTES < 512 * 1024 and TXN_OPS == 64


@given(sizes=st.lists(st.integers(0, 3000), max_size=40), max_ops=st.integers(1, 8),
       max_bytes=st.integers(100, 5000))
def test_batches_keep_the_order_and_the_limits(sizes, max_ops, max_bytes):
    operations = [_op(size, i) for i, size in enumerate(sizes)]
    batches = txn_batches(operations, max_ops=max_ops, max_bytes=max_bytes)
    assert [i for _, b in batches for i in b] == list(range(len(operations)))
    for kind, indexes in batches:
        body = txn_body_bytes([operations[i] for i in indexes])
        if kind == "plain":
            assert len(indexes) == 1 and body > max_bytes
        else:
            assert len(indexes) <= max_ops and body <= max_bytes
