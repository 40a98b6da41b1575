"""500 dead letters whose payloads a parse-and-dump would change (huge exponents, duplicate
keys, long decimals, lone surrogate escapes, odd whitespace, extra job fields): after
"requeue all" every job in the main queue is the stored job text with only the three reset
fields replaced, byte for byte."""

from __future__ import annotations

from faultkit import figure

from ferrite_tui.backend.bulk import BulkRunner, HeadPlan
from ferrite_tui.backend.dlq import DeadLetters
from ferrite_tui.backend.lists import ListItems

DLQ, MAIN = "queue:main:dlq", "queue:main"
NOW_S, NOW_MS = 1_700_000_000.5, 1_700_000_000_500
N = 500


def payload(i: int) -> bytes:
    forms = [
        b"1e%d" % (400 + i),
        b'{"a":%d,"a":%d}' % (i, i + 1),
        b"%de9" % i,
        b"0.%d000000000000000055511151231257827" % i,
        b'"\\ud800 %d"' % i,
        b'{ "n" :\t[ %d , { "deep" : [ 1.50 , -0.0 ] } ]\n}' % i,
        b'"caf\xc3\xa9 \\u00e9 %d"' % i,
        b"%d.000000000000000000001" % i,
    ]
    return forms[i % len(forms)]


def dead_letter(i: int) -> tuple[bytes, bytes]:
    """The stored entry, and the job it must become."""
    if i % 3:
        job = b'{"id":"j%d","payload":%s,"retry_count":4,"last_error":"boom","first_attempt":1}'
        after = (b'{"id":"j%d","payload":%s,"retry_count":0,"last_error":null,'
                 b'"first_attempt":%d}')
        return (b'{"job":' + job % (i, payload(i)) + b',"dead_at":2,"reason":"boom"}',
                after % (i, payload(i), NOW_MS))
    # Another producer: other key order, an extra field, spaces, no last_error at all.
    job = b'{ "payload" : %s , "id" : %d , "tenant" : "t1" , "retry_count" : 9 }'
    after = (b'{ "payload" : %s , "id" : %d , "tenant" : "t1" , "retry_count" : 0,'
             b'"last_error":null,"first_attempt":%d }')
    return (b'{ "reason" : "x" , "job" : ' + job % (payload(i), i) + b' , "dead_at" : 3 }',
            after % (payload(i), i, NOW_MS))


async def test_requeue_all_keeps_500_hostile_payloads_byte_for_byte(client, sync):
    pairs = [dead_letter(i) for i in range(N)]
    sync.rpush(DLQ, *[stored for stored, _ in pairs])
    dl = DeadLetters(client, clock=lambda: NOW_S)
    count, tail = await ListItems(client).count_and_tail(DLQ)
    report = await BulkRunner(HeadPlan(count, 100),
                              lambda n: dl.requeue_head(DLQ, MAIN, n, stop_at=tail)).run()
    main = sync.lrange(MAIN, 0, -1)
    identical = sum(1 for got, (_, want) in zip(main, pairs) if got == want)
    figure(f"payload fidelity: {identical} of {N} requeued jobs byte-identical "
           f"({len(main)} in the queue, {sync.llen(DLQ)} left in the DLQ); "
           f"{report.summary('requeued')}")
    assert (report.done, report.failed, report.not_attempted) == (N, 0, 0)
    assert main == [want for _, want in pairs]
    assert sync.llen(DLQ) == 0
